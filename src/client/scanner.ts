/**
 * Scanners walk partitions with stateless continuation tokens: a batch answer carries a token to
 * resume strictly after its last key, so a scan survives a primary change (the next batch simply
 * goes to the new primary with the same token) and leaves no state on servers.
 */
import { partitionIndex } from "../codec/key-schema.ts";
import { TalariaError } from "../common/errors.ts";
import type { KeyFilter, KeyValue, ScanBatch, ScanOptions } from "../storage/types.ts";
import { type Bytes, toBuffer } from "./bytes.ts";
import type { Table } from "./table.ts";

export interface ScanRange {
  readonly startKey?: { readonly hashKey: Bytes; readonly sortKey: Bytes };
  readonly stopKey?: { readonly hashKey: Bytes; readonly sortKey: Bytes };
  readonly startInclusive?: boolean;
  readonly stopInclusive?: boolean;
  readonly hashKeyFilter?: KeyFilter;
  readonly sortKeyFilter?: KeyFilter;
  /** Records per round trip (default 100). */
  readonly batchSize?: number;
  readonly noValue?: boolean;
  readonly timeoutMs?: number;
}

function toScanOptions(range: ScanRange): ScanOptions {
  const { timeoutMs: _timeout, startKey, stopKey, ...rest } = range;
  return {
    ...rest,
    ...(startKey === undefined
      ? {}
      : { startKey: { hashKey: toBuffer(startKey.hashKey), sortKey: toBuffer(startKey.sortKey) } }),
    ...(stopKey === undefined
      ? {}
      : { stopKey: { hashKey: toBuffer(stopKey.hashKey), sortKey: toBuffer(stopKey.sortKey) } }),
  };
}

/**
 * The smallest hash key of the same length sorting after every key of `hashKey`, or undefined
 * when `hashKey` is all 0xff (then every longer hash key sorts after it, and the scan is bounded by
 * the length prefix: the next length's empty-sort-key stored key).
 */
function hashKeySuccessor(hashKey: Buffer): Buffer {
  const next = Buffer.from(hashKey);
  for (let i = next.length - 1; i >= 0; i--) {
    if ((next[i] as number) < 0xff) {
      next[i] = (next[i] as number) + 1;
      return next;
    }
    next[i] = 0;
  }
  return Buffer.alloc(hashKey.length + 1);
}

export class Scanner implements AsyncIterable<KeyValue> {
  private readonly table: Table;
  private readonly options: ScanOptions;
  private readonly partitions: readonly number[] | undefined;
  private readonly timeoutMs: number | undefined;

  constructor(table: Table, range: ScanRange, partitions: readonly number[] | undefined) {
    this.table = table;
    this.options = toScanOptions(range);
    this.partitions = partitions;
    this.timeoutMs = range.timeoutMs;
  }

  static forHashKey(
    table: Table,
    hashKey: Buffer,
    range: Omit<ScanRange, "hashKeyFilter"> & {
      readonly startSortKey?: Bytes;
      readonly stopSortKey?: Bytes;
    },
  ): AsyncIterable<KeyValue> {
    if (hashKey.length === 0)
      throw new TalariaError("ERR_INVALID_HASH_KEY", "scanHashKey needs a non-empty hash key");
    const { startSortKey, stopSortKey, ...rest } = range;
    const stopKey =
      stopSortKey === undefined
        ? { hashKey: hashKeySuccessor(hashKey), sortKey: Buffer.alloc(0) }
        : { hashKey, sortKey: toBuffer(stopSortKey) };
    const scoped: ScanRange = {
      ...rest,
      startKey: { hashKey, sortKey: toBuffer(startSortKey ?? "") },
      stopKey,
      stopInclusive: stopSortKey === undefined ? false : (range.stopInclusive ?? false),
    };
    return {
      [Symbol.asyncIterator]: async function* () {
        const count = await table.partitionCount();
        yield* new Scanner(table, scoped, [partitionIndex(hashKey, Buffer.alloc(0), count)]);
      },
    };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<KeyValue> {
    const requestOptions = this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs };
    const partitions =
      this.partitions ??
      Array.from({ length: await this.table.partitionCount(requestOptions) }, (_, i) => i);
    for (const partition of partitions) {
      let batch = (await this.table.readPartition(
        partition,
        { op: "scan", options: this.options },
        requestOptions,
      )) as ScanBatch;
      for (;;) {
        yield* batch.kvs;
        if (batch.continuationToken === undefined) break;
        batch = (await this.table.readPartition(
          partition,
          { op: "scanNext", continuationToken: batch.continuationToken },
          requestOptions,
        )) as ScanBatch;
      }
    }
  }
}
