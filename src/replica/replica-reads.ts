/**
 * The read face of a replica: every Pegasus read, bound to this replica's store, the current time
 * and its limits. Reads see exactly the applied state (read-your-writes once a write is answered).
 */
import type { ReadLimits, WriteLimits } from "../common/limits.ts";
import { read, type StorageEngine } from "../storage/index.ts";
import type {
  KeyValue,
  MultiGetRangeOptions,
  MultiGetResult,
  ScanBatch,
  ScanOptions,
} from "../storage/types.ts";
import type { RecordReader } from "./atomic-ops.ts";

export class ReplicaReads {
  private readonly storage: StorageEngine;
  private readonly readLimits: ReadLimits;
  private readonly writeLimits: WriteLimits;

  constructor(storage: StorageEngine, readLimits: ReadLimits, writeLimits: WriteLimits) {
    this.storage = storage;
    this.readLimits = readLimits;
    this.writeLimits = writeLimits;
  }

  get(hashKey: Buffer, sortKey: Buffer): read.GetResult | undefined {
    return read.get(this.storage.data, hashKey, sortKey, this.storage.epochNow());
  }

  exist(hashKey: Buffer, sortKey: Buffer): boolean {
    return read.exist(this.storage.data, hashKey, sortKey, this.storage.epochNow());
  }

  /** Remaining seconds; -1 when the record never expires; undefined when it does not exist. */
  ttl(hashKey: Buffer, sortKey: Buffer): number | undefined {
    return read.ttl(this.storage.data, hashKey, sortKey, this.storage.epochNow());
  }

  multiGet(
    hashKey: Buffer,
    sortKeys: readonly Buffer[],
    options: read.MultiGetKeysOptions = {},
  ): MultiGetResult {
    return read.multiGet(
      this.storage.data,
      hashKey,
      sortKeys,
      options,
      this.storage.epochNow(),
      this.readLimits,
    );
  }

  multiGetRange(hashKey: Buffer, options: MultiGetRangeOptions = {}): MultiGetResult {
    return read.multiGetRange(
      this.storage.data,
      hashKey,
      options,
      this.storage.epochNow(),
      this.readLimits,
    );
  }

  batchGet(keys: readonly read.FullKey[]): (KeyValue | undefined)[] {
    return read.batchGet(this.storage.data, keys, this.storage.epochNow(), {
      multiOpCountMax: this.writeLimits.multiOpCountMax,
      readBytesMax: this.readLimits.readBytesMax,
    });
  }

  sortKeyCount(hashKey: Buffer): number {
    return read.sortKeyCount(this.storage.data, hashKey, this.storage.epochNow());
  }

  scan(options: ScanOptions = {}): ScanBatch {
    return read.scanFirst(this.storage.data, options, this.storage.epochNow(), this.readLimits);
  }

  scanNext(continuationToken: string): ScanBatch {
    return read.scanNext(
      this.storage.data,
      continuationToken,
      this.storage.epochNow(),
      this.readLimits,
    );
  }

  /** What atomic operations evaluate against: the visible record, or undefined. */
  visibleRecordReader(): RecordReader {
    return (hashKey, sortKey) => this.get(hashKey, sortKey);
  }
}
