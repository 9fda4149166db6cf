/**
 * The shell's port to a cluster: the meta server's administrative calls and one table's data
 * operations. The client implements it (`clientBackend`); tests implement it in memory, so every
 * verb runs without a cluster. `Table` of the client satisfies `ShellTable` as it is.
 */
import type {
  CheckOptions,
  CheckResult,
  MultiGetOptions,
  RangeOptions,
  RequestOptions,
  ScanRange,
  TalariaClient,
  WriteOptions,
} from "../client/index.ts";
import {
  type AppEnvsResponse,
  type ClusterInfoResponse,
  type CreateAppRequest,
  type CreateAppResponse,
  type DelAppEnvsRequest,
  type DropAppRequest,
  type DropAppResponse,
  type ListAppsRequest,
  type ListAppsResponse,
  type ListNodesRequest,
  type ListNodesResponse,
  MetaMethod,
  type QueryConfigurationResponse,
  type RecallAppRequest,
  type RecallAppResponse,
  type SetAppEnvsRequest,
} from "../protocol/index.ts";
import type { CheckType } from "../replica/index.ts";
import type { KeyValue, MultiGetResult } from "../storage/index.ts";

/** Deadline of one administrative call to the meta servers. */
export const SHELL_ADMIN_TIMEOUT_MS_DEFAULT = 10_000;

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
  table(name: string): ShellTable;
  close(): Promise<void>;
}

export interface ClientBackendOptions {
  readonly adminTimeoutMs?: number;
}

/** The backend over a real client: admin calls through its meta session, data through its tables. */
export function clientBackend(
  client: TalariaClient,
  options: ClientBackendOptions = {},
): ShellBackend {
  const timeoutMs = options.adminTimeoutMs ?? SHELL_ADMIN_TIMEOUT_MS_DEFAULT;
  // The meta server validates requests and answers with these message types (meta-messages.ts).
  const call = async <T>(method: string, payload: unknown): Promise<T> =>
    (await client.metaSession.call(method, payload, timeoutMs)) as T;
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
    table: (name) => client.table(name),
    close: () => client.close(),
  };
}
