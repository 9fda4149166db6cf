/**
 * The stores bench:storage drives, behind one small face each: a Talaria replica (plog + lmdb
 * store), raw lmdb-js as the anchor, and the private log alone. They all draw keys and values
 * from one KeyPool, so every engine writes the same bytes in the same order.
 */
import { randomBytes } from "node:crypto";
import { open, type RootDatabase } from "lmdb";
import { encodeMutation, UpdateKind } from "../src/codec/index.ts";
import { PrivateLog, type PrivateLogStats } from "../src/plog/index.ts";
import { Replica } from "../src/replica/index.ts";
import { runClosedLoop } from "./harness.ts";

export const HASH_KEY_BYTES = 8;
export const SORT_KEY_BYTES = 8;
export const KEY_BYTES = HASH_KEY_BYTES + SORT_KEY_BYTES;
export const VALUE_BYTES = 100;
/** Random bytes values are sliced from; incompressible, and far larger than one value. */
const VALUE_POOL_BYTES = 1024 * 1024;
/** Writes kept outstanding while loading a data set outside any measurement. */
const FILL_IN_FLIGHT = 256;
/** Puts per lmdb transaction while loading the raw-lmdb read set. */
const LMDB_FILL_BATCH_KEYS = 10_000;

/** Key i is 16 random bytes: hash key = bytes 0..7, sort key = bytes 8..15 (raw lmdb: all 16). */
export class KeyPool {
  readonly size: number;
  private readonly keys: Buffer;
  private readonly values: Buffer;

  constructor(size: number) {
    this.size = size;
    this.keys = randomBytes(size * KEY_BYTES);
    this.values = randomBytes(VALUE_POOL_BYTES);
  }

  key(i: number): Buffer {
    this.check(i);
    return this.keys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
  }

  hashKey(i: number): Buffer {
    this.check(i);
    return this.keys.subarray(i * KEY_BYTES, i * KEY_BYTES + HASH_KEY_BYTES);
  }

  sortKey(i: number): Buffer {
    this.check(i);
    return this.keys.subarray(i * KEY_BYTES + HASH_KEY_BYTES, (i + 1) * KEY_BYTES);
  }

  value(i: number): Buffer {
    const offset = (i * 61) % (VALUE_POOL_BYTES - VALUE_BYTES);
    return this.values.subarray(offset, offset + VALUE_BYTES);
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new RangeError(`key ${i} is outside the pool of ${this.size}`);
    }
  }
}

/** One Talaria replica with durable plog group commit (the default) and no sweeper. */
export class TalariaTarget {
  /** Keys [0, written) are in the store. */
  written = 0;
  private constructor(
    private readonly replica: Replica,
    private readonly pool: KeyPool,
  ) {}

  static async open(dir: string, pool: KeyPool): Promise<TalariaTarget> {
    return new TalariaTarget(await Replica.open({ dir, clusterId: 1, sweepIntervalMs: 0 }), pool);
  }

  /** Writes the next pool key; resolves once durable in the plog and applied to storage. */
  write(): Promise<unknown> {
    const i = this.written++;
    return this.replica.write({
      op: "set",
      hashKey: this.pool.hashKey(i),
      sortKey: this.pool.sortKey(i),
      value: this.pool.value(i),
      expireTs: 0,
    });
  }

  async fillTo(keys: number): Promise<void> {
    const missing = keys - this.written;
    if (missing <= 0) return;
    await runClosedLoop(() => this.write(), {
      inFlight: FILL_IN_FLIGHT,
      windowMs: Number.POSITIVE_INFINITY,
      opsMax: missing,
    });
  }

  /** Point read of written key i; false when it is missing (a broken bench, not a figure). */
  get(i: number): boolean {
    return this.replica.reads.get(this.pool.hashKey(i), this.pool.sortKey(i)) !== undefined;
  }

  /** Full ordered scan through scan/scanNext; returns the rows seen. */
  scan(batchSize: number): number {
    let batch = this.replica.reads.scan({ batchSize });
    let rows = batch.kvs.length;
    while (batch.continuationToken !== undefined) {
      batch = this.replica.reads.scanNext(batch.continuationToken);
      rows += batch.kvs.length;
    }
    return rows;
  }

  close(): Promise<void> {
    return this.replica.close();
  }
}

/** Raw lmdb-js: binary keys and values, default (durable, overlappingSync) commits. */
export class LmdbTarget {
  written = 0;
  private constructor(
    private readonly db: RootDatabase<Buffer, Buffer>,
    private readonly pool: KeyPool,
  ) {}

  static open(path: string, pool: KeyPool): LmdbTarget {
    const db = open<Buffer, Buffer>({ path, keyEncoding: "binary", encoding: "binary" });
    return new LmdbTarget(db, pool);
  }

  /** `await db.put`: resolves when the batch transaction commits; its fsync may still run. */
  put(): Promise<unknown> {
    const i = this.written++;
    return this.db.put(this.pool.key(i), this.pool.value(i));
  }

  /** `await db.put` then `await db.flushed`: resolves once the write is durable. */
  async putFlushed(): Promise<void> {
    await this.put();
    await this.db.flushed;
  }

  async fillTo(keys: number): Promise<void> {
    while (this.written < keys) {
      const end = Math.min(keys, this.written + LMDB_FILL_BATCH_KEYS);
      let last: Promise<unknown> = Promise.resolve();
      while (this.written < end) last = this.put();
      await last;
    }
    await this.db.flushed;
  }

  get(i: number): boolean {
    return this.db.getBinary(this.pool.key(i)) !== undefined;
  }

  scan(): number {
    let rows = 0;
    for (const entry of this.db.getRange()) {
      if (entry.value.length > 0) rows++;
    }
    return rows;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** The private log alone, appending the encoded mutation of one 100-byte set. */
export class PlogTarget {
  private decree = 0;
  private constructor(
    private readonly log: PrivateLog,
    private readonly payload: Buffer,
  ) {}

  static async open(dir: string, pool: KeyPool): Promise<PlogTarget> {
    const payload = encodeMutation({
      ballot: 1,
      decree: 1,
      timestampUs: Date.now() * 1000,
      updates: [
        {
          kind: UpdateKind.PUT,
          hashKey: pool.hashKey(0),
          sortKey: pool.sortKey(0),
          value: pool.value(0),
          expireTs: 0,
        },
      ],
    });
    return new PlogTarget(await PrivateLog.open({ dir }), payload);
  }

  get payloadBytes(): number {
    return this.payload.length;
  }

  append(): Promise<void> {
    return this.log.append(++this.decree, this.payload);
  }

  get stats(): Readonly<PrivateLogStats> {
    return this.log.stats;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
