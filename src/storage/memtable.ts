/**
 * Applied writes not yet written to lmdb, and the views that put them in front of lmdb.
 *
 * A replica's private log is its write-ahead log: a committed mutation is in the log before it
 * is applied, and the log is kept from lastDurableDecree on. So storage need not make each apply
 * durable on its own; the engine collects applied writes here and writes them to lmdb in one
 * transaction (one disk flush) every flush interval, as Pegasus applies to RocksDB's memtable with
 * RocksDB's own write-ahead log turned off.
 *
 * Invariants:
 *   - An entry holds the newest applied value of its stored key: a record, or `null` for a key
 *     removed outright. Reads and applies consult it before lmdb, so they see every applied write.
 *   - An apply (and a TTL sweep step) stages its writes in a StagedWrites first and merges them
 *     only once the whole mutation (or step) succeeded: a failed one leaves the memtable as it was.
 *   - Entry keys and values are never mutated after they are stored (reads return them as is).
 */
import { Buffer } from "node:buffer";
import type { RecordStore } from "./apply.ts";
import type {
  PointReadOptions,
  ReadableStore,
  ReadTransaction,
  StoreRangeOptions,
} from "./read/read-store.ts";
import type { SweepRecord, SweepStore } from "./sweep.ts";

export interface MemtableEntry {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** Rough bytes an entry holds beyond its key and value (map slot, object, buffer headers). */
const ENTRY_OVERHEAD_BYTES = 96;

function mapKey(key: Buffer): string {
  return key.toString("latin1");
}

export class Memtable {
  private readonly entries = new Map<string, MemtableEntry>();
  private bytesHeld = 0;

  get size(): number {
    return this.entries.size;
  }

  /** Approximate memory held, keys and values included. */
  get bytes(): number {
    return this.bytesHeld;
  }

  /** The entry for `key`: a record, `null` if removed here, undefined if lmdb decides. */
  lookup(key: Buffer): Buffer | null | undefined {
    return this.entries.get(mapKey(key))?.value;
  }

  set(key: Buffer, value: Buffer | null): void {
    const k = mapKey(key);
    const previous = this.entries.get(k);
    if (previous !== undefined) this.bytesHeld -= entryBytes(previous);
    const entry = { key, value };
    this.entries.set(k, entry);
    this.bytesHeld += entryBytes(entry);
  }

  /** Every entry, in no particular order. */
  values(): IterableIterator<MemtableEntry> {
    return this.entries.values();
  }

  /**
   * Removes `entry` if it is still the entry for its key: an entry a flush wrote to lmdb leaves,
   * one that replaced it since stays for the next flush.
   */
  deleteIfCurrent(entry: MemtableEntry): void {
    const k = mapKey(entry.key);
    if (this.entries.get(k) !== entry) return;
    this.entries.delete(k);
    this.bytesHeld -= entryBytes(entry);
  }

  clear(): void {
    this.entries.clear();
    this.bytesHeld = 0;
  }

  /** The entries `options` selects, in the order lmdb's getRange would yield them. */
  range(options: StoreRangeOptions): MemtableEntry[] {
    const out: MemtableEntry[] = [];
    for (const entry of this.entries.values()) {
      if (inRange(entry.key, options)) out.push(entry);
    }
    out.sort(
      options.reverse === true ? (a, b) => b.key.compare(a.key) : (a, b) => a.key.compare(b.key),
    );
    return out;
  }
}

function entryBytes(entry: MemtableEntry): number {
  return entry.key.length + (entry.value?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}

/**
 * lmdb-js range semantics: `start` inclusive unless exclusiveStart, `end` exclusive unless
 * inclusiveEnd; they swap roles when reversed.
 */
function inRange(key: Buffer, options: StoreRangeOptions): boolean {
  const { start, end } = options;
  const sign = options.reverse === true ? -1 : 1;
  if (start !== undefined) {
    const c = key.compare(start) * sign;
    if (c < 0 || (c === 0 && options.exclusiveStart === true)) return false;
  }
  if (end !== undefined) {
    const c = key.compare(end) * sign;
    if (c > 0 || (c === 0 && options.inclusiveEnd !== true)) return false;
  }
  return true;
}

/**
 * One apply's writes, staged over the memtable and lmdb: reads see the mutation's own earlier
 * updates, then the memtable, then lmdb. `mergeInto` publishes them.
 */
export class StagedWrites implements RecordStore {
  private readonly staged = new Map<string, MemtableEntry>();

  constructor(
    private readonly memtable: Memtable,
    private readonly base: { get(key: Buffer): Buffer | undefined },
  ) {}

  get(key: Buffer): Buffer | undefined {
    const staged = this.staged.get(mapKey(key));
    if (staged !== undefined) return staged.value ?? undefined;
    const held = this.memtable.lookup(key);
    if (held !== undefined) return held ?? undefined;
    return this.base.get(key);
  }

  put(key: Buffer, value: Buffer): void {
    this.staged.set(mapKey(key), { key, value });
  }

  remove(key: Buffer): void {
    this.staged.set(mapKey(key), { key, value: null });
  }

  mergeInto(memtable: Memtable): void {
    for (const entry of this.staged.values()) memtable.set(entry.key, entry.value);
  }
}

/**
 * The store reads see: the memtable in front of lmdb's "data" database. Point reads check the
 * memtable first; ranges merge both in key order, the memtable's entry winning on a tie and a
 * `null` entry hiding the key. Reads run synchronously, so the memtable cannot change under one.
 */
export class LayeredReadStore implements ReadableStore {
  constructor(
    private readonly memtable: Memtable,
    private readonly base: ReadableStore,
  ) {}

  get(key: Buffer, options?: PointReadOptions): Buffer | undefined {
    const held = this.memtable.lookup(key);
    if (held !== undefined) return held ?? undefined;
    return this.base.get(key, options);
  }

  getRange(
    options: StoreRangeOptions = {},
  ): Iterable<{ readonly key: Buffer; readonly value: Buffer }> {
    if (this.memtable.size === 0) return this.base.getRange(options);
    return mergeRanges(this.memtable.range(options), this.base.getRange(options), options);
  }

  useReadTransaction(): ReadTransaction {
    if (this.base.useReadTransaction === undefined) return { done: () => {} };
    return this.base.useReadTransaction();
  }
}

function* mergeRanges(
  held: readonly MemtableEntry[],
  stored: Iterable<{ readonly key: Buffer; readonly value: Buffer }>,
  options: StoreRangeOptions,
): Generator<{ readonly key: Buffer; readonly value: Buffer }> {
  const sign = options.reverse === true ? -1 : 1;
  let i = 0;
  for (const record of stored) {
    let superseded = false;
    // Memtable entries up to this record's key; an equal key replaces the stored record.
    while (i < held.length) {
      const entry = held[i] as MemtableEntry;
      const c = entry.key.compare(record.key) * sign;
      if (c > 0) break;
      i++;
      if (entry.value !== null) yield { key: entry.key, value: entry.value };
      if (c === 0) {
        superseded = true;
        break;
      }
    }
    if (!superseded) yield record;
  }
  for (; i < held.length; i++) {
    const entry = held[i] as MemtableEntry;
    if (entry.value !== null) yield { key: entry.key, value: entry.value };
  }
}

/**
 * What a sweep step works on: it examines records as reads see them (the memtable in front of
 * lmdb) and stages its tombstones and removals in `writes`, which the engine merges into the
 * memtable once the whole step succeeded, as it does an apply's.
 */
export function layeredSweepStore(reads: LayeredReadStore, writes: StagedWrites): SweepStore {
  return {
    range: (afterKey, limit) => {
      const out: SweepRecord[] = [];
      const options = afterKey === undefined ? {} : { start: afterKey, exclusiveStart: true };
      for (const { key, value } of reads.getRange(options)) {
        // Copies: the records outlive lmdb-js's cursor, which may reuse its buffers.
        out.push({ key: Buffer.from(key), value: Buffer.from(value) });
        if (out.length >= limit) break;
      }
      return out;
    },
    put: (key, value) => writes.put(key, value),
    remove: (key) => writes.remove(key),
  };
}
