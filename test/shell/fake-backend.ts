/**
 * An in-memory ShellBackend: tables with records, app envs, nodes and cluster info, enough for
 * every shell verb to run without a cluster. Calls are recorded so tests can check requests, and
 * `failNext` makes the next call fail with a TalariaError. Duplications live in `duplications`
 * (fake-duplications.ts); calls to replica servers go to `nodeHandler`.
 */

import type {
  CheckOptions,
  RangeOptions,
  ScanRange,
  WriteOptions,
} from "../../src/client/index.ts";
import { encodeKey, partitionIndex } from "../../src/codec/index.ts";
import { TalariaError } from "../../src/common/index.ts";
import {
  type AddDuplicationRequest,
  type AppEnvsResponse,
  type AppInfo,
  AppStatus,
  type ClusterInfoResponse,
  type CreateAppRequest,
  type DelAppEnvsRequest,
  type DropAppRequest,
  type ListAppsRequest,
  type ListDuplicationsRequest,
  type ListNodesRequest,
  type ModifyDuplicationRequest,
  type NodeInfo,
  NodeStatus,
  type PartitionConfiguration,
  type QueryConfigurationResponse,
  type RecallAppRequest,
  type ResyncDuplicationRequest,
  type SetAppEnvsRequest,
} from "../../src/protocol/index.ts";
import { type CheckType, evaluateCheck } from "../../src/replica/index.ts";
import type { ShellBackend, ShellTable } from "../../src/shell/index.ts";
import {
  FilterType,
  type KeyFilter,
  type KeyValue,
  type MultiGetResult,
} from "../../src/storage/index.ts";
import { FakeDuplications } from "./fake-duplications.ts";

export const CREATED_AT_MS = Date.UTC(2026, 0, 2, 3, 4, 5);

export interface Call {
  readonly method: string;
  readonly args: readonly unknown[];
}

interface StoredRecord {
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
  readonly value: Buffer;
  readonly ttlSeconds: number | undefined;
}

function matches(filter: KeyFilter | undefined, bytes: Buffer): boolean {
  if (filter === undefined) return true;
  switch (filter.type) {
    case FilterType.NO_FILTER:
      return true;
    case FilterType.MATCH_ANYWHERE:
      return bytes.includes(filter.pattern);
    case FilterType.MATCH_PREFIX:
      return bytes.subarray(0, filter.pattern.length).equals(filter.pattern);
    case FilterType.MATCH_POSTFIX:
      return (
        bytes.length >= filter.pattern.length &&
        bytes.subarray(bytes.length - filter.pattern.length).equals(filter.pattern)
      );
  }
}

export class FakeTable implements ShellTable {
  private readonly records = new Map<string, StoredRecord>();
  private readonly backend: FakeBackend;
  readonly name: string;
  readonly partitions: number;

  constructor(backend: FakeBackend, name: string, partitions: number) {
    this.backend = backend;
    this.name = name;
    this.partitions = partitions;
  }

  private id(hashKey: Buffer, sortKey: Buffer): string {
    return encodeKey(hashKey, sortKey).toString("hex");
  }

  /** Records in stored-key order. */
  sorted(): StoredRecord[] {
    return [...this.records.entries()]
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a, "hex"), Buffer.from(b, "hex")))
      .map(([, record]) => record);
  }

  private put(hashKey: Buffer, sortKey: Buffer, value: Buffer, ttlSeconds?: number): void {
    this.records.set(this.id(hashKey, sortKey), { hashKey, sortKey, value, ttlSeconds });
  }

  private find(hashKey: Buffer, sortKey: Buffer): StoredRecord | undefined {
    return this.records.get(this.id(hashKey, sortKey));
  }

  async set(hashKey: Buffer, sortKey: Buffer, value: Buffer, options: WriteOptions = {}) {
    this.backend.record("set", hashKey, sortKey, value, options);
    this.put(hashKey, sortKey, value, options.ttlSeconds);
  }

  async get(hashKey: Buffer, sortKey: Buffer) {
    this.backend.record("get", hashKey, sortKey);
    return this.find(hashKey, sortKey)?.value;
  }

  async del(hashKey: Buffer, sortKey: Buffer) {
    this.backend.record("del", hashKey, sortKey);
    this.records.delete(this.id(hashKey, sortKey));
  }

  async multiSet(
    hashKey: Buffer,
    kvs: Iterable<readonly [Buffer, Buffer]>,
    options: WriteOptions = {},
  ) {
    const list = [...kvs];
    this.backend.record("multiSet", hashKey, list, options);
    for (const [sortKey, value] of list) this.put(hashKey, sortKey, value, options.ttlSeconds);
  }

  private ofHashKey(hashKey: Buffer): StoredRecord[] {
    return this.sorted().filter((r) => r.hashKey.equals(hashKey));
  }

  async multiGet(
    hashKey: Buffer,
    sortKeys: readonly Buffer[],
    options: { noValue?: boolean } = {},
  ) {
    this.backend.record("multiGet", hashKey, sortKeys, options);
    const kvs = this.ofHashKey(hashKey)
      .filter((r) => sortKeys.length === 0 || sortKeys.some((s) => s.equals(r.sortKey)))
      .map((r) => ({
        sortKey: r.sortKey,
        value: options.noValue ? Buffer.alloc(0) : r.value,
        expireTs: 0,
      }));
    return { kvs, incomplete: false };
  }

  async multiGetRange(hashKey: Buffer, options: RangeOptions): Promise<MultiGetResult> {
    this.backend.record("multiGetRange", hashKey, options);
    const start = Buffer.from(options.startSortKey ?? "");
    const stop = Buffer.from(options.stopSortKey ?? "");
    let kvs = this.ofHashKey(hashKey).filter((r) => {
      const fromStart = Buffer.compare(r.sortKey, start);
      const toStop = Buffer.compare(r.sortKey, stop);
      return (
        (options.startInclusive === false ? fromStart > 0 : fromStart >= 0) &&
        (stop.length === 0 || (options.stopInclusive ? toStop <= 0 : toStop < 0)) &&
        matches(options.sortKeyFilter, r.sortKey)
      );
    });
    if (options.reverse) kvs = kvs.reverse();
    const max = options.maxKvCount ?? Number.POSITIVE_INFINITY;
    return {
      kvs: kvs.slice(0, max).map((r) => ({
        sortKey: r.sortKey,
        value: options.noValue ? Buffer.alloc(0) : r.value,
        expireTs: 0,
      })),
      incomplete: kvs.length > max,
    };
  }

  async multiDel(hashKey: Buffer, sortKeys: readonly Buffer[]) {
    this.backend.record("multiDel", hashKey, sortKeys);
    for (const sortKey of sortKeys) this.records.delete(this.id(hashKey, sortKey));
  }

  async incr(hashKey: Buffer, sortKey: Buffer, increment: bigint, options: WriteOptions = {}) {
    this.backend.record("incr", hashKey, sortKey, increment, options);
    const current = this.find(hashKey, sortKey)?.value.toString() ?? "0";
    if (!/^-?\d+$/.test(current || "0"))
      throw new TalariaError("ERR_INVALID_ARGUMENT", "the value is not an integer");
    const next = BigInt(current || "0") + increment;
    this.put(hashKey, sortKey, Buffer.from(next.toString()));
    return next;
  }

  async checkAndSet(
    hashKey: Buffer,
    checkSortKey: Buffer,
    checkType: CheckType,
    checkOperand: Buffer,
    set: { readonly sortKey?: Buffer; readonly value: Buffer },
    options: CheckOptions = {},
  ) {
    this.backend.record(
      "checkAndSet",
      hashKey,
      checkSortKey,
      checkType,
      checkOperand,
      set,
      options,
    );
    const current = this.find(hashKey, checkSortKey)?.value;
    const passed = evaluateCheck(checkType, current, checkOperand);
    if (passed) this.put(hashKey, set.sortKey ?? checkSortKey, set.value, options.ttlSeconds);
    const checkValue = options.returnCheckValue
      ? current === undefined
        ? { exists: false }
        : { exists: true, value: current }
      : undefined;
    return checkValue === undefined ? { succeeded: passed } : { succeeded: passed, checkValue };
  }

  async exist(hashKey: Buffer, sortKey: Buffer) {
    this.backend.record("exist", hashKey, sortKey);
    return this.find(hashKey, sortKey) !== undefined;
  }

  async ttl(hashKey: Buffer, sortKey: Buffer) {
    this.backend.record("ttl", hashKey, sortKey);
    const found = this.find(hashKey, sortKey);
    return found === undefined ? undefined : (found.ttlSeconds ?? -1);
  }

  async sortKeyCount(hashKey: Buffer) {
    this.backend.record("sortKeyCount", hashKey);
    return this.ofHashKey(hashKey).length;
  }

  async partitionCount() {
    return this.partitions;
  }

  private partitionOf(record: StoredRecord): number {
    return partitionIndex(record.hashKey, record.sortKey, this.partitions);
  }

  scan(range: ScanRange): AsyncIterable<KeyValue> {
    this.backend.record("scan", range);
    return this.scanPartitions(
      range,
      Array.from({ length: this.partitions }, (_, i) => i),
    );
  }

  private scanPartitions(range: ScanRange, partitions: readonly number[]): AsyncIterable<KeyValue> {
    const backend = this.backend;
    const records = this.sorted();
    const partitionOf = (r: StoredRecord) => this.partitionOf(r);
    return {
      async *[Symbol.asyncIterator]() {
        for (const partition of partitions) {
          for (const r of records) {
            if (partitionOf(r) !== partition) continue;
            if (
              !matches(range.hashKeyFilter, r.hashKey) ||
              !matches(range.sortKeyFilter, r.sortKey)
            )
              continue;
            if (backend.failScanAfter !== undefined && backend.scanned >= backend.failScanAfter)
              throw new TalariaError("ERR_TIMEOUT", "scan batch timed out");
            backend.scanned++;
            await Promise.resolve();
            yield {
              hashKey: r.hashKey,
              sortKey: r.sortKey,
              value: range.noValue ? Buffer.alloc(0) : r.value,
              expireTs: 0,
            };
          }
        }
      },
    };
  }

  scanHashKey(
    hashKey: Buffer,
    range: Omit<ScanRange, "hashKeyFilter"> & { startSortKey?: Buffer; stopSortKey?: Buffer },
  ): AsyncIterable<KeyValue> {
    this.backend.record("scanHashKey", hashKey, range);
    const start = range.startSortKey ?? Buffer.alloc(0);
    const stop = range.stopSortKey;
    const records = this.ofHashKey(hashKey).filter((r) => {
      const fromStart = Buffer.compare(r.sortKey, start);
      const toStop = stop === undefined ? -1 : Buffer.compare(r.sortKey, stop);
      return (
        (range.startInclusive === false ? fromStart > 0 : fromStart >= 0) &&
        (range.stopInclusive ? toStop <= 0 : toStop < 0) &&
        matches(range.sortKeyFilter, r.sortKey)
      );
    });
    return {
      async *[Symbol.asyncIterator]() {
        for (const r of records)
          yield {
            hashKey: r.hashKey,
            sortKey: r.sortKey,
            value: range.noValue ? Buffer.alloc(0) : r.value,
            expireTs: 0,
          };
      },
    };
  }

  async unorderedScanners(count: number, range: ScanRange) {
    this.backend.record("unorderedScanners", count, range);
    const scanners = Math.max(1, Math.min(count, this.partitions));
    return Array.from({ length: scanners }, (_, i) => {
      const mine: number[] = [];
      for (let p = i; p < this.partitions; p += scanners) mine.push(p);
      return this.scanPartitions(range, mine);
    });
  }
}

export class FakeBackend implements ShellBackend {
  readonly calls: Call[] = [];
  readonly apps = new Map<number, AppInfo>();
  private readonly tables = new Map<string, FakeTable>();
  nodes: NodeInfo[] = [
    {
      address: "10.0.0.1:34801",
      status: NodeStatus.ALIVE,
      primaryCount: 2,
      replicaCount: 6,
      lastBeaconMs: CREATED_AT_MS,
    },
    { address: "10.0.0.2:34801", status: NodeStatus.DEAD, primaryCount: 0, replicaCount: 0 },
  ];
  /** The next call fails with this error. */
  failNext: TalariaError | undefined;
  /** Scans fail once this many records were scanned in total. */
  failScanAfter: number | undefined;
  scanned = 0;
  closed = false;
  private nextAppId = 1;
  readonly duplications = new FakeDuplications(this);
  /** Answers `callNode`; by default every replica server is unreachable. */
  nodeHandler: (address: string, method: string, payload: unknown) => Promise<unknown> = async (
    address,
  ) => {
    throw new TalariaError("ERR_NETWORK_FAILURE", `cannot connect to ${address}`);
  };

  record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const failure = this.failNext;
    if (failure !== undefined) {
      this.failNext = undefined;
      throw failure;
    }
  }

  /** Creates a table directly (test setup, not recorded). */
  addTable(name: string, partitionCount = 4, envs: Record<string, string> = {}): FakeTable {
    const app: AppInfo = {
      appId: this.nextAppId++,
      appName: name,
      partitionCount,
      replicaCount: 3,
      status: AppStatus.AVAILABLE,
      envs,
      createdAtMs: CREATED_AT_MS,
    };
    this.apps.set(app.appId, app);
    const table = new FakeTable(this, name, partitionCount);
    this.tables.set(name, table);
    return table;
  }

  availableApps(): AppInfo[] {
    return [...this.apps.values()].filter((a) => a.status === AppStatus.AVAILABLE);
  }

  available(name: string): AppInfo {
    const app = [...this.apps.values()].find(
      (a) => a.appName === name && a.status === AppStatus.AVAILABLE,
    );
    if (app === undefined)
      throw new TalariaError("ERR_APP_NOT_EXIST", `table ${name} does not exist`);
    return app;
  }

  private partitionsOf(app: AppInfo): PartitionConfiguration[] {
    return Array.from({ length: app.partitionCount }, (_, partitionIndex) => ({
      gpid: { appId: app.appId, partitionIndex },
      ballot: 3,
      primary: "10.0.0.1:34801",
      secondaries: partitionIndex === 0 ? ["10.0.0.2:34801"] : ["10.0.0.2:34801", "10.0.0.3:34801"],
      maxReplicaCount: app.replicaCount,
      lastCommittedDecree: 10 + partitionIndex,
    }));
  }

  async clusterInfo(): Promise<ClusterInfoResponse> {
    this.record("clusterInfo");
    return {
      nodes: { alive: 1, dead: 1 },
      apps: { available: this.apps.size, dropped: 0 },
      partitions: { total: 8, healthy: 7, writableIll: 1, unwritable: 0 },
      persistsInFlight: 0,
      ddlQueued: 0,
    };
  }

  async listNodes(request: ListNodesRequest) {
    this.record("listNodes", request);
    return {
      nodes: this.nodes.filter((n) => request.status === undefined || n.status === request.status),
    };
  }

  async listApps(request: ListAppsRequest) {
    this.record("listApps", request);
    return {
      apps: [...this.apps.values()].filter(
        (a) => request.status === undefined || a.status === request.status,
      ),
    };
  }

  async queryConfiguration(appName: string): Promise<QueryConfigurationResponse> {
    this.record("queryConfiguration", appName);
    const app = this.available(appName);
    return { app, partitions: this.partitionsOf(app) };
  }

  async createApp(request: CreateAppRequest) {
    this.record("createApp", request);
    if ([...this.apps.values()].some((a) => a.appName === request.appName))
      throw new TalariaError("ERR_APP_EXIST", `table ${request.appName} exists`);
    this.addTable(request.appName, request.partitionCount, { ...request.envs });
    const app = this.available(request.appName);
    return { app, partitions: this.partitionsOf(app) };
  }

  async dropApp(request: DropAppRequest) {
    this.record("dropApp", request);
    const app: AppInfo = {
      ...this.available(request.appName),
      status: AppStatus.DROPPED,
      droppedAtMs: CREATED_AT_MS,
      dropExpireAtMs: CREATED_AT_MS + (request.reserveSeconds ?? 86_400) * 1000,
    };
    this.apps.set(app.appId, app);
    return { app };
  }

  async recallApp(request: RecallAppRequest) {
    this.record("recallApp", request);
    const dropped = this.apps.get(request.appId);
    if (dropped === undefined || dropped.status !== AppStatus.DROPPED)
      throw new TalariaError("ERR_APP_NOT_EXIST", `no dropped table ${request.appId}`);
    const { droppedAtMs: _d, dropExpireAtMs: _e, ...rest } = dropped;
    const app: AppInfo = {
      ...rest,
      status: AppStatus.AVAILABLE,
      appName: request.newAppName ?? dropped.appName,
    };
    this.apps.set(app.appId, app);
    return { app };
  }

  async setAppEnvs(request: SetAppEnvsRequest): Promise<AppEnvsResponse> {
    this.record("setAppEnvs", request);
    const current = this.available(request.appName);
    const app = { ...current, envs: { ...current.envs, ...request.envs } };
    this.apps.set(app.appId, app);
    return { app, keys: Object.keys(request.envs).sort() };
  }

  async delAppEnvs(request: DelAppEnvsRequest): Promise<AppEnvsResponse> {
    this.record("delAppEnvs", request);
    const current = this.available(request.appName);
    const keys = Object.keys(current.envs)
      .filter(
        (k) =>
          (request.keys ?? []).includes(k) ||
          (request.prefix !== undefined && k.startsWith(request.prefix)),
      )
      .sort();
    const app = {
      ...current,
      envs: Object.fromEntries(Object.entries(current.envs).filter(([k]) => !keys.includes(k))),
    };
    this.apps.set(app.appId, app);
    return { app, keys };
  }

  addDuplication(request: AddDuplicationRequest) {
    return this.duplications.add(request);
  }

  modifyDuplication(request: ModifyDuplicationRequest) {
    return this.duplications.modify(request);
  }

  queryDuplication(appName: string) {
    return this.duplications.query(appName);
  }

  listDuplications(request: ListDuplicationsRequest) {
    return this.duplications.list(request);
  }

  resyncDuplication(request: ResyncDuplicationRequest) {
    return this.duplications.resync(request);
  }

  async callNode(address: string, method: string, payload: unknown, timeoutMs: number) {
    this.record("callNode", address, method, payload, timeoutMs);
    return this.nodeHandler(address, method, payload);
  }

  table(name: string): FakeTable {
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new FakeTable(this, name, 4);
      this.tables.set(name, table);
    }
    return table;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
