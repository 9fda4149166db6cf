/**
 * A table as the client sees it: every data operation, routed by CRC64 of the key to the
 * partition's primary, retried within the request's deadline (see retry.ts for what is retried).
 */
import type { DuplicateEntry } from "../codec/mutation.ts";
import { epochNowSeconds } from "../codec/value-schema.ts";
import type { Clock } from "../common/clock.ts";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import type {
  ClientReadRequest,
  ClientWriteRequest,
  ReadRequest,
} from "../protocol/client-messages.ts";
import { ReplicaClientMethod } from "../protocol/client-messages.ts";
import type { CheckType, CheckValue, WriteRequest, WriteResult } from "../replica/index.ts";
import type { Transport } from "../rpc/index.ts";
import type { KeyFilter, KeyValue, MultiGetResult, ScanBatch } from "../storage/types.ts";
import { type Bytes, toBuffer } from "./bytes.ts";
import { backoffMs, isStaleRoute, shouldRetry, sleep } from "./retry.ts";
import type { Route, RouteTable } from "./route-table.ts";
import { Scanner, type ScanRange } from "./scanner.ts";

export interface RequestOptions {
  /** Deadline for the whole operation including retries; the client's timeoutMs by default. */
  readonly timeoutMs?: number;
}

export interface WriteOptions extends RequestOptions {
  /** Time to live in seconds; absent or 0 = no TTL. */
  readonly ttlSeconds?: number;
}

export interface MultiGetOptions extends RequestOptions {
  readonly maxKvCount?: number;
  readonly maxKvSize?: number;
  readonly noValue?: boolean;
}

export interface RangeOptions extends MultiGetOptions {
  readonly startSortKey?: Bytes;
  readonly stopSortKey?: Bytes;
  readonly startInclusive?: boolean;
  readonly stopInclusive?: boolean;
  readonly sortKeyFilter?: KeyFilter;
  readonly reverse?: boolean;
}

export interface DuplicateOptions extends RequestOptions {
  /**
   * The partition count the entries were routed by. When the table has another count the request
   * is not sent: ERR_INCONSISTENT_STATE with `details.partitionCount` (the table's) and
   * `details.expectedPartitionCount`, so the sender routes again.
   */
  readonly partitionCount?: number;
  /** The entries are a full re-sync's: the receiver holds the table's tombstones meanwhile. */
  readonly resync?: boolean;
}

export interface CheckOptions extends WriteOptions {
  readonly returnCheckValue?: boolean;
}

export type Mutation =
  | {
      readonly op: "put";
      readonly sortKey: Bytes;
      readonly value: Bytes;
      readonly ttlSeconds?: number;
    }
  | { readonly op: "delete"; readonly sortKey: Bytes };

export interface CheckResult {
  /** Whether the check passed and the write was applied. */
  readonly succeeded: boolean;
  readonly checkValue?: CheckValue;
}

export interface TableDeps {
  readonly routes: RouteTable;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly timeoutMs: number;
}

export class Table {
  readonly name: string;
  private readonly deps: TableDeps;

  constructor(name: string, deps: TableDeps) {
    this.name = name;
    this.deps = deps;
  }

  private expireTs(ttlSeconds: number | undefined): number {
    if (ttlSeconds === undefined || ttlSeconds === 0) return 0;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `ttlSeconds must be a positive integer, got ${ttlSeconds}`,
      );
    }
    return epochNowSeconds(this.deps.clock.nowMs()) + ttlSeconds;
  }

  /** Sends `payload` to the primary `route()` names, retrying per retry.ts until the deadline. */
  private async send(
    method: string,
    route: (timeoutMs: number) => Promise<Route>,
    body: (route: Route) => ClientWriteRequest | ClientReadRequest,
    idempotent: boolean,
    options: RequestOptions = {},
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.deps.timeoutMs;
    const deadline = this.deps.clock.nowMs() + timeoutMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - this.deps.clock.nowMs();
      if (remaining <= 0) {
        // Out of time: the last real failure says more than a bare timeout.
        throw (
          lastError ??
          new TalariaError("ERR_TIMEOUT", `${this.name}: no answer within ${timeoutMs} ms`)
        );
      }
      try {
        const target = await route(remaining);
        return await this.deps.transport.call(target.primary, method, body(target), {
          timeoutMs: remaining,
        });
      } catch (error) {
        lastError = error;
        const left = deadline - this.deps.clock.nowMs();
        if (!shouldRetry(error, idempotent) || left <= 0) throw error;
        if (isStaleRoute(error)) await this.deps.routes.refresh(left).catch(() => undefined);
        await sleep(Math.min(backoffMs(attempt), Math.max(0, deadline - this.deps.clock.nowMs())));
      }
    }
  }

  private async write(
    hashKey: Buffer,
    sortKey: Buffer,
    request: WriteRequest,
    options?: RequestOptions,
  ): Promise<WriteResult> {
    const idempotent =
      request.op !== "incr" && request.op !== "checkAndSet" && request.op !== "checkAndMutate";
    return (await this.send(
      ReplicaClientMethod.WRITE,
      (t) => this.deps.routes.routeKey(hashKey, sortKey, t),
      (route) => ({ gpid: route.gpid, partitionCount: route.partitionCount, request }),
      idempotent,
      options,
    )) as WriteResult;
  }

  private async read(
    hashKey: Buffer,
    sortKey: Buffer,
    read: ReadRequest,
    options?: RequestOptions,
  ): Promise<unknown> {
    return this.send(
      ReplicaClientMethod.READ,
      (t) => this.deps.routes.routeKey(hashKey, sortKey, t),
      (route) => ({ gpid: route.gpid, partitionCount: route.partitionCount, read }),
      true,
      options,
    );
  }

  /** Reads on one partition by index (scanners). */
  readPartition(index: number, read: ReadRequest, options?: RequestOptions): Promise<unknown> {
    return this.send(
      ReplicaClientMethod.READ,
      (t) => this.deps.routes.routeIndex(index, t),
      (route) => ({ gpid: route.gpid, partitionCount: route.partitionCount, read }),
      true,
      options,
    );
  }

  /**
   * Sends a DUPLICATE request (writes from another cluster, applied last-write-wins by their
   * source timetags) to partition `partitionIndex`, routed by index: every entry's key must belong
   * to it. Idempotent, so it is retried like a put until the deadline. Used by duplication
   * (src/duplication), not by applications.
   */
  async duplicate(
    partitionIndex: number,
    entries: readonly DuplicateEntry[],
    options: DuplicateOptions = {},
  ): Promise<WriteResult> {
    if (!Number.isSafeInteger(partitionIndex) || partitionIndex < 0) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", `partition index ${partitionIndex}`);
    }
    const expected = options.partitionCount;
    const routes = this.deps.routes;
    const route = async (timeoutMs: number): Promise<Route> => {
      let config = await routes.configuration(timeoutMs);
      if (expected !== undefined && config.app.partitionCount !== expected) {
        // Our configuration may be the stale one: look again before refusing.
        config = await routes.refresh(timeoutMs);
      }
      const count = config.app.partitionCount;
      if (expected !== undefined && count !== expected) {
        throw new TalariaError(
          "ERR_INCONSISTENT_STATE",
          `${this.name} has ${count} partitions, the entries were routed by ${expected}`,
          { details: { partitionCount: count, expectedPartitionCount: expected } },
        );
      }
      if (partitionIndex >= count) {
        throw new TalariaError(
          "ERR_INVALID_PARAMETERS",
          `${this.name} has no partition ${partitionIndex} (${count} partitions)`,
        );
      }
      return routes.routeIndex(partitionIndex, timeoutMs);
    };
    return (await this.send(
      ReplicaClientMethod.WRITE,
      route,
      (target) => ({
        gpid: target.gpid,
        partitionCount: target.partitionCount,
        request: { op: "duplicate", entries, ...(options.resync === true ? { resync: true } : {}) },
      }),
      true,
      options,
    )) as WriteResult;
  }

  async partitionCount(options: RequestOptions = {}): Promise<number> {
    return (await this.deps.routes.configuration(options.timeoutMs ?? this.deps.timeoutMs)).app
      .partitionCount;
  }

  async set(
    hashKey: Bytes,
    sortKey: Bytes,
    value: Bytes,
    options: WriteOptions = {},
  ): Promise<void> {
    const hk = toBuffer(hashKey);
    const sk = toBuffer(sortKey);
    await this.write(
      hk,
      sk,
      {
        op: "set",
        hashKey: hk,
        sortKey: sk,
        value: toBuffer(value),
        expireTs: this.expireTs(options.ttlSeconds),
      },
      options,
    );
  }

  async multiSet(
    hashKey: Bytes,
    kvs: Iterable<readonly [Bytes, Bytes]> | Readonly<Record<string, Bytes>>,
    options: WriteOptions = {},
  ): Promise<void> {
    const hk = toBuffer(hashKey);
    const pairs =
      Symbol.iterator in kvs
        ? [...(kvs as Iterable<readonly [Bytes, Bytes]>)]
        : Object.entries(kvs);
    const list = pairs.map(([sortKey, value]) => ({
      sortKey: toBuffer(sortKey),
      value: toBuffer(value),
    }));
    await this.write(
      hk,
      Buffer.alloc(0),
      { op: "multiSet", hashKey: hk, kvs: list, expireTs: this.expireTs(options.ttlSeconds) },
      options,
    );
  }

  async del(hashKey: Bytes, sortKey: Bytes, options: RequestOptions = {}): Promise<void> {
    const hk = toBuffer(hashKey);
    const sk = toBuffer(sortKey);
    await this.write(hk, sk, { op: "del", hashKey: hk, sortKey: sk }, options);
  }

  async multiDel(
    hashKey: Bytes,
    sortKeys: readonly Bytes[],
    options: RequestOptions = {},
  ): Promise<void> {
    const hk = toBuffer(hashKey);
    await this.write(
      hk,
      Buffer.alloc(0),
      { op: "multiDel", hashKey: hk, sortKeys: sortKeys.map(toBuffer) },
      options,
    );
  }

  /**
   * Adds `increment` to the signed 64-bit integer stored at the key (missing = 0) and returns the
   * new value. `ttlSeconds`: absent or 0 keeps the record's TTL, > 0 sets it, -1 clears it.
   */
  async incr(
    hashKey: Bytes,
    sortKey: Bytes,
    increment: bigint | number,
    options: WriteOptions = {},
  ): Promise<bigint> {
    const hk = toBuffer(hashKey);
    const sk = toBuffer(sortKey);
    const ttl = options.ttlSeconds ?? 0;
    const expireTs = ttl < 0 ? -1 : this.expireTs(ttl);
    const result = await this.write(
      hk,
      sk,
      { op: "incr", hashKey: hk, sortKey: sk, increment: BigInt(increment), expireTs },
      options,
    );
    if (result.newValue === undefined)
      throw new TalariaError("ERR_INVALID_DATA", "incr answer carries no new value");
    return BigInt(result.newValue);
  }

  /** Sets `setSortKey` (the check key when absent) to `setValue` if the check on `checkSortKey` passes. */
  async checkAndSet(
    hashKey: Bytes,
    checkSortKey: Bytes,
    checkType: CheckType,
    checkOperand: Bytes,
    set: { readonly sortKey?: Bytes; readonly value: Bytes },
    options: CheckOptions = {},
  ): Promise<CheckResult> {
    const hk = toBuffer(hashKey);
    return this.checked(hk, options, {
      op: "checkAndSet",
      hashKey: hk,
      checkSortKey: toBuffer(checkSortKey),
      checkType,
      checkOperand: toBuffer(checkOperand),
      setDiffSortKey: set.sortKey !== undefined,
      setSortKey: toBuffer(set.sortKey ?? ""),
      setValue: toBuffer(set.value),
      setExpireTs: this.expireTs(options.ttlSeconds),
      returnCheckValue: options.returnCheckValue ?? false,
    });
  }

  /** Applies `mutations` atomically if the check on `checkSortKey` passes. */
  async checkAndMutate(
    hashKey: Bytes,
    checkSortKey: Bytes,
    checkType: CheckType,
    checkOperand: Bytes,
    mutations: readonly Mutation[],
    options: CheckOptions = {},
  ): Promise<CheckResult> {
    const hk = toBuffer(hashKey);
    return this.checked(hk, options, {
      op: "checkAndMutate",
      hashKey: hk,
      checkSortKey: toBuffer(checkSortKey),
      checkType,
      checkOperand: toBuffer(checkOperand),
      mutates: mutations.map((m) =>
        m.op === "put"
          ? {
              operation: "put",
              sortKey: toBuffer(m.sortKey),
              value: toBuffer(m.value),
              expireTs: this.expireTs(m.ttlSeconds),
            }
          : {
              operation: "delete",
              sortKey: toBuffer(m.sortKey),
              value: Buffer.alloc(0),
              expireTs: 0,
            },
      ),
      returnCheckValue: options.returnCheckValue ?? false,
    });
  }

  private async checked(
    hashKey: Buffer,
    options: RequestOptions,
    request: WriteRequest,
  ): Promise<CheckResult> {
    try {
      const result = await this.write(hashKey, Buffer.alloc(0), request, options);
      return result.checkValue === undefined
        ? { succeeded: true }
        : { succeeded: true, checkValue: result.checkValue };
    } catch (error) {
      if (!isTalariaError(error, "ERR_TRY_AGAIN")) throw error;
      const checkValue = error.details.checkValue as CheckValue | undefined;
      return checkValue === undefined ? { succeeded: false } : { succeeded: false, checkValue };
    }
  }

  async get(
    hashKey: Bytes,
    sortKey: Bytes,
    options: RequestOptions = {},
  ): Promise<Buffer | undefined> {
    const hk = toBuffer(hashKey);
    const sk = toBuffer(sortKey);
    const found = (await this.read(hk, sk, { op: "get", hashKey: hk, sortKey: sk }, options)) as {
      value?: Buffer;
    };
    return found.value;
  }

  async exist(hashKey: Bytes, sortKey: Bytes, options: RequestOptions = {}): Promise<boolean> {
    const hk = toBuffer(hashKey);
    const sk = toBuffer(sortKey);
    return (
      (await this.read(hk, sk, { op: "exist", hashKey: hk, sortKey: sk }, options)) as {
        exists: boolean;
      }
    ).exists;
  }

  /** Remaining seconds; -1 when the record has no TTL; undefined when it does not exist. */
  async ttl(
    hashKey: Bytes,
    sortKey: Bytes,
    options: RequestOptions = {},
  ): Promise<number | undefined> {
    const hk = toBuffer(hashKey);
    const sk = toBuffer(sortKey);
    return (
      (await this.read(hk, sk, { op: "ttl", hashKey: hk, sortKey: sk }, options)) as {
        ttlSeconds?: number;
      }
    ).ttlSeconds;
  }

  /** The given sort keys of a hash key (all of them when the list is empty), in sort-key order. */
  async multiGet(
    hashKey: Bytes,
    sortKeys: readonly Bytes[] = [],
    options: MultiGetOptions = {},
  ): Promise<MultiGetResult> {
    const hk = toBuffer(hashKey);
    const read: ReadRequest = {
      op: "multiGet",
      hashKey: hk,
      sortKeys: sortKeys.map(toBuffer),
      ...(options.maxKvCount === undefined ? {} : { maxKvCount: options.maxKvCount }),
      ...(options.maxKvSize === undefined ? {} : { maxKvSize: options.maxKvSize }),
      ...(options.noValue === undefined ? {} : { noValue: options.noValue }),
    };
    return (await this.read(hk, Buffer.alloc(0), read, options)) as MultiGetResult;
  }

  /** A sort-key range of one hash key with filters and limits; `incomplete` when a limit cut it. */
  async multiGetRange(hashKey: Bytes, options: RangeOptions = {}): Promise<MultiGetResult> {
    const hk = toBuffer(hashKey);
    const { timeoutMs: _timeout, startSortKey, stopSortKey, ...rest } = options;
    const rangeOptions = {
      ...rest,
      ...(startSortKey === undefined ? {} : { startSortKey: toBuffer(startSortKey) }),
      ...(stopSortKey === undefined ? {} : { stopSortKey: toBuffer(stopSortKey) }),
    };
    return (await this.read(
      hk,
      Buffer.alloc(0),
      { op: "multiGetRange", hashKey: hk, options: rangeOptions },
      options,
    )) as MultiGetResult;
  }

  /** Records of several hash keys, in input order (undefined where missing). */
  async batchGet(
    keys: readonly { readonly hashKey: Bytes; readonly sortKey: Bytes }[],
    options: RequestOptions = {},
  ): Promise<(Buffer | undefined)[]> {
    return Promise.all(keys.map((key) => this.get(key.hashKey, key.sortKey, options)));
  }

  async sortKeyCount(hashKey: Bytes, options: RequestOptions = {}): Promise<number> {
    const hk = toBuffer(hashKey);
    return (
      (await this.read(hk, Buffer.alloc(0), { op: "sortKeyCount", hashKey: hk }, options)) as {
        count: number;
      }
    ).count;
  }

  /** Every record of the table: partitions one after another, each in key order. */
  scan(range: ScanRange = {}): AsyncIterable<KeyValue> {
    return new Scanner(this, range, undefined);
  }

  /**
   * Splits the table's partitions into at most `count` scanners that can run in parallel; records
   * come in key order within a partition and in no particular order across partitions.
   */
  async unorderedScanners(count: number, range: ScanRange = {}): Promise<Scanner[]> {
    const partitions = await this.partitionCount();
    const scanners = Math.max(1, Math.min(count, partitions));
    return Array.from({ length: scanners }, (_, i) => {
      const mine: number[] = [];
      for (let p = i; p < partitions; p += scanners) mine.push(p);
      return new Scanner(this, range, mine);
    });
  }

  /** The records of one hash key, in sort-key order (a scan of one partition). */
  scanHashKey(
    hashKey: Bytes,
    range: Omit<ScanRange, "hashKeyFilter"> & {
      readonly startSortKey?: Bytes;
      readonly stopSortKey?: Bytes;
    } = {},
  ): AsyncIterable<KeyValue> {
    return Scanner.forHashKey(this, toBuffer(hashKey), range);
  }
}

export type { ScanBatch };
