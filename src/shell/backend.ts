/**
 * The shell's port to a cluster: the meta server's administrative calls, one table's data
 * operations and raw calls to one replica server (dead letters). The client implements it
 * (`clientBackend`); tests implement it in memory, so every verb runs without a cluster. `Table`
 * of the client satisfies `ShellTable` as it is.
 */
import {
  type CheckOptions,
  type CheckResult,
  createClient,
  type MultiGetOptions,
  type RangeOptions,
  type RequestOptions,
  type ScanRange,
  type TalariaClient,
  type WriteOptions,
} from "../client/index.ts";
import { TalariaError } from "../common/index.ts";
import {
  type AddDuplicationRequest,
  type AddDuplicationResponse,
  type AppEnvsResponse,
  type ClusterInfoResponse,
  type CreateAppRequest,
  type CreateAppResponse,
  type DelAppEnvsRequest,
  type DropAppRequest,
  type DropAppResponse,
  DuplicationMethod,
  type ListAppsRequest,
  type ListAppsResponse,
  type ListDuplicationsRequest,
  type ListDuplicationsResponse,
  type ListNodesRequest,
  type ListNodesResponse,
  MetaMethod,
  type ModifyDuplicationRequest,
  type ModifyDuplicationResponse,
  type NodeAddress,
  type QueryConfigurationResponse,
  type QueryDuplicationResponse,
  type RecallAppRequest,
  type RecallAppResponse,
  type ResyncDuplicationRequest,
  type ResyncDuplicationResponse,
  type SetAppEnvsRequest,
} from "../protocol/index.ts";
import type { CheckType } from "../replica/index.ts";
import { RpcClient, type Transport } from "../rpc/index.ts";
import type { KeyValue, MultiGetResult } from "../storage/index.ts";

/** Deadline of one administrative call to the meta servers. */
export const SHELL_ADMIN_TIMEOUT_MS_DEFAULT = 10_000;
/**
 * Deadline of `add_duplication`: the meta server answers once every primary reported its start
 * decree, waiting up to its `addWaitMs` (30 s by default), so the call must outlast that.
 */
export const SHELL_ADD_DUPLICATION_TIMEOUT_MS_DEFAULT = 40_000;

export interface ShellTable {
  set(hashKey: Buffer, sortKey: Buffer, value: Buffer, options?: WriteOptions): Promise<void>;
  get(hashKey: Buffer, sortKey: Buffer): Promise<Buffer | undefined>;
  del(hashKey: Buffer, sortKey: Buffer): Promise<void>;
  multiSet(
    hashKey: Buffer,
    kvs: Iterable<readonly [Buffer, Buffer]>,
    options?: WriteOptions,
  ): Promise<void>;
  multiGet(
    hashKey: Buffer,
    sortKeys: readonly Buffer[],
    options?: MultiGetOptions,
  ): Promise<MultiGetResult>;
  multiGetRange(hashKey: Buffer, options: RangeOptions): Promise<MultiGetResult>;
  multiDel(hashKey: Buffer, sortKeys: readonly Buffer[]): Promise<void>;
  incr(
    hashKey: Buffer,
    sortKey: Buffer,
    increment: bigint,
    options?: WriteOptions,
  ): Promise<bigint>;
  checkAndSet(
    hashKey: Buffer,
    checkSortKey: Buffer,
    checkType: CheckType,
    checkOperand: Buffer,
    set: { readonly sortKey?: Buffer; readonly value: Buffer },
    options?: CheckOptions,
  ): Promise<CheckResult>;
  exist(hashKey: Buffer, sortKey: Buffer): Promise<boolean>;
  ttl(hashKey: Buffer, sortKey: Buffer): Promise<number | undefined>;
  sortKeyCount(hashKey: Buffer): Promise<number>;
  partitionCount(options?: RequestOptions): Promise<number>;
  scan(range: ScanRange): AsyncIterable<KeyValue>;
  scanHashKey(
    hashKey: Buffer,
    range: Omit<ScanRange, "hashKeyFilter"> & {
      readonly startSortKey?: Buffer;
      readonly stopSortKey?: Buffer;
    },
  ): AsyncIterable<KeyValue>;
  /** At most `count` scanners over disjoint partitions; with count = partitions, scanner i scans partition i. */
  unorderedScanners(count: number, range: ScanRange): Promise<readonly AsyncIterable<KeyValue>[]>;
}

export interface ShellBackend {
  clusterInfo(): Promise<ClusterInfoResponse>;
  listNodes(request: ListNodesRequest): Promise<ListNodesResponse>;
  listApps(request: ListAppsRequest): Promise<ListAppsResponse>;
  queryConfiguration(appName: string): Promise<QueryConfigurationResponse>;
  createApp(request: CreateAppRequest): Promise<CreateAppResponse>;
  dropApp(request: DropAppRequest): Promise<DropAppResponse>;
  recallApp(request: RecallAppRequest): Promise<RecallAppResponse>;
  setAppEnvs(request: SetAppEnvsRequest): Promise<AppEnvsResponse>;
  delAppEnvs(request: DelAppEnvsRequest): Promise<AppEnvsResponse>;
  /** Answers once the start point is fixed, or with DS_INIT when the meta server's wait ran out. */
  addDuplication(request: AddDuplicationRequest): Promise<AddDuplicationResponse>;
  modifyDuplication(request: ModifyDuplicationRequest): Promise<ModifyDuplicationResponse>;
  queryDuplication(appName: string): Promise<QueryDuplicationResponse>;
  listDuplications(request: ListDuplicationsRequest): Promise<ListDuplicationsResponse>;
  /** Starts a full re-sync (answers once DS_PREPARE is persisted). */
  resyncDuplication(request: ResyncDuplicationRequest): Promise<ResyncDuplicationResponse>;
  /**
   * One call to the process at `address` (a replica server), not through the meta servers. The
   * answer is the peer's payload as is: the caller decodes it.
   */
  callNode(
    address: NodeAddress,
    method: string,
    payload: unknown,
    timeoutMs: number,
  ): Promise<unknown>;
  table(name: string): ShellTable;
  close(): Promise<void>;
}

export interface ClientBackendOptions {
  readonly adminTimeoutMs?: number;
  readonly addDuplicationTimeoutMs?: number;
  /** How `callNode` reaches replica servers; without it `callNode` fails ERR_INVALID_STATE. */
  readonly transport?: Transport;
  /** Closed with the backend (the transport `connectBackend` made for the client and the shell). */
  readonly ownedTransport?: { close(): Promise<void> };
}

/** The backend over a real client: admin calls through its meta session, data through its tables. */
export function clientBackend(
  client: TalariaClient,
  options: ClientBackendOptions = {},
): ShellBackend {
  const timeoutMs = options.adminTimeoutMs ?? SHELL_ADMIN_TIMEOUT_MS_DEFAULT;
  const addTimeoutMs = options.addDuplicationTimeoutMs ?? SHELL_ADD_DUPLICATION_TIMEOUT_MS_DEFAULT;
  // The meta server validates requests and answers with these message types (meta-messages.ts,
  // duplication-messages.ts).
  const call = async <T>(method: string, payload: unknown, deadlineMs = timeoutMs): Promise<T> =>
    (await client.metaSession.call(method, payload, deadlineMs)) as T;
  const { transport } = options;
  return {
    clusterInfo: () => call(MetaMethod.CLUSTER_INFO, {}),
    listNodes: (request) => call(MetaMethod.LIST_NODES, request),
    listApps: (request) => call(MetaMethod.LIST_APPS, request),
    queryConfiguration: (appName) => call(MetaMethod.QUERY_CONFIGURATION, { appName }),
    createApp: (request) => call(MetaMethod.CREATE_APP, request),
    dropApp: (request) => call(MetaMethod.DROP_APP, request),
    recallApp: (request) => call(MetaMethod.RECALL_APP, request),
    setAppEnvs: (request) => call(MetaMethod.SET_APP_ENVS, request),
    delAppEnvs: (request) => call(MetaMethod.DEL_APP_ENVS, request),
    addDuplication: (request) => call(DuplicationMethod.ADD, request, addTimeoutMs),
    modifyDuplication: (request) => call(DuplicationMethod.MODIFY, request),
    queryDuplication: (appName) => call(DuplicationMethod.QUERY, { appName }),
    listDuplications: (request) => call(DuplicationMethod.LIST, request),
    resyncDuplication: (request) => call(DuplicationMethod.RESYNC, request),
    callNode: async (address, method, payload, deadlineMs) => {
      if (transport === undefined)
        throw new TalariaError(
          "ERR_INVALID_STATE",
          "this shell backend cannot call replica servers",
        );
      return transport.call(address, method, payload, { timeoutMs: deadlineMs });
    },
    table: (name) => client.table(name),
    close: async () => {
      await client.close();
      await options.ownedTransport?.close();
    },
  };
}

/**
 * A backend over a new TCP client of the cluster: one RPC client serves the meta session, the
 * tables and the calls to replica servers, and is closed with the backend.
 */
export function connectBackend(
  metaServers: readonly string[],
  options: Omit<ClientBackendOptions, "transport" | "ownedTransport"> & {
    readonly name?: string;
  } = {},
): ShellBackend {
  const { name = "talaria-shell", ...rest } = options;
  const rpc = new RpcClient({ name });
  const client = createClient({ metaServers, transport: rpc, name });
  return clientBackend(client, { ...rest, transport: rpc, ownedTransport: rpc });
}
