/**
 * The read face of a replica: every Pegasus read, bound to this replica's store, the current time
 * and its limits. Reads see exactly the applied state (read-your-writes once a write is answered).
 *
 * The store is looked up on every read (a checkpoint install replaces it), and every read first
 * passes `guard`, which throws when this replica may not serve it (a primary without a lease,
 * a secondary): a client must never read a stale replica by accident.
 */
import { encodeKey } from "../codec/key-schema.ts";
import type { Timetag } from "../codec/timetag.ts";
import { decodeValue } from "../codec/value-schema.ts";
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
  private readonly source: () => StorageEngine;
  private readonly readLimits: ReadLimits;
  private readonly writeLimits: WriteLimits;
  private readonly guard: () => void;

  constructor(
    source: () => StorageEngine,
    readLimits: ReadLimits,
    writeLimits: WriteLimits,
    guard: () => void = () => {},
  ) {
    this.source = source;
    this.readLimits = readLimits;
    this.writeLimits = writeLimits;
    this.guard = guard;
  }

  private get storage(): StorageEngine {
    this.guard();
    return this.source();
  }

  get(hashKey: Buffer, sortKey: Buffer): read.GetResult | undefined {
    const storage = this.storage;
    return read.get(storage.data, hashKey, sortKey, storage.epochNow());
  }

  exist(hashKey: Buffer, sortKey: Buffer): boolean {
    const storage = this.storage;
    return read.exist(storage.data, hashKey, sortKey, storage.epochNow());
  }

  /** Remaining seconds; -1 when the record never expires; undefined when it does not exist. */
  ttl(hashKey: Buffer, sortKey: Buffer): number | undefined {
    const storage = this.storage;
    return read.ttl(storage.data, hashKey, sortKey, storage.epochNow());
  }

  multiGet(
    hashKey: Buffer,
    sortKeys: readonly Buffer[],
    options: read.MultiGetKeysOptions = {},
  ): MultiGetResult {
    const storage = this.storage;
    return read.multiGet(
      storage.data,
      hashKey,
      sortKeys,
      options,
      storage.epochNow(),
      this.readLimits,
    );
  }

  multiGetRange(hashKey: Buffer, options: MultiGetRangeOptions = {}): MultiGetResult {
    const storage = this.storage;
    return read.multiGetRange(storage.data, hashKey, options, storage.epochNow(), this.readLimits);
  }

  batchGet(keys: readonly read.FullKey[]): (KeyValue | undefined)[] {
    const storage = this.storage;
    return read.batchGet(storage.data, keys, storage.epochNow(), {
      multiOpCountMax: this.writeLimits.multiOpCountMax,
      readBytesMax: this.readLimits.readBytesMax,
    });
  }

  sortKeyCount(hashKey: Buffer): number {
    const storage = this.storage;
    return read.sortKeyCount(storage.data, hashKey, storage.epochNow());
  }

  scan(options: ScanOptions = {}): ScanBatch {
    const storage = this.storage;
    return read.scanFirst(storage.data, options, storage.epochNow(), this.readLimits);
  }

  scanNext(continuationToken: string): ScanBatch {
    const storage = this.storage;
    return read.scanNext(storage.data, continuationToken, storage.epochNow(), this.readLimits);
  }

  /**
   * The timetag of the record stored for a key — live, expired or tombstone — or undefined when
   * none is stored (a dead-letter replay asks whether an entry is still the latest version).
   */
  storedTimetag(hashKey: Buffer, sortKey: Buffer): Timetag | undefined {
    const stored = this.storage.data.get(encodeKey(hashKey, sortKey));
    return stored === undefined ? undefined : decodeValue(stored).timetag;
  }

  /** What atomic operations evaluate against: the visible record, or undefined. */
  visibleRecordReader(): RecordReader {
    return (hashKey, sortKey) => this.get(hashKey, sortKey);
  }
}
