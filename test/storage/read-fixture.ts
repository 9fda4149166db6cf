/**
 * Shared set-up for the read-side tests: a real lmdb "data" database in a temporary directory,
 * populated directly in the stored layout, plus an in-memory model of what reads must see.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { type Database, open, type RootDatabase } from "lmdb";
import { encodeKey, encodeValue, makeTimetag } from "../../src/codec/index.ts";
import type { ReadLimits } from "../../src/common/index.ts";
import { FilterType, type KeyFilter } from "../../src/storage/types.ts";

/** "Now" for every read test, in seconds since 2016-01-01. */
export const EPOCH_NOW = 10_000;

export interface TestRecord {
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
  readonly value: Buffer;
  readonly expireTs: number;
  readonly tombstone: boolean;
}

export interface TestStore {
  readonly db: Database<Buffer, Buffer>;
  close(): Promise<void>;
}

export function openTestStore(): TestStore {
  const dir = mkdtempSync(join(tmpdir(), "talaria-read-"));
  const env: RootDatabase = open(dir, {});
  const db = env.openDB<Buffer, Buffer>({
    name: "data",
    keyEncoding: "binary",
    encoding: "binary",
  });
  return {
    db,
    async close() {
      await env.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function b(text: string): Buffer {
  return Buffer.from(text, "latin1");
}

export function rec(
  hashKey: string | Buffer,
  sortKey: string | Buffer,
  value: string | Buffer,
  options: { expireTs?: number; tombstone?: boolean } = {},
): TestRecord {
  const tombstone = options.tombstone ?? false;
  return {
    hashKey: typeof hashKey === "string" ? b(hashKey) : hashKey,
    sortKey: typeof sortKey === "string" ? b(sortKey) : sortKey,
    // Tombstones carry an empty user value, as the write side stores them.
    value: tombstone ? Buffer.alloc(0) : typeof value === "string" ? b(value) : value,
    expireTs: options.expireTs ?? 0,
    tombstone,
  };
}

export function putRecords(db: Database<Buffer, Buffer>, records: readonly TestRecord[]): void {
  db.transactionSync(() => {
    records.forEach((r, i) => {
      const timetag = makeTimetag(1_000_000 + i, 1, r.tombstone);
      db.putSync(encodeKey(r.hashKey, r.sortKey), encodeValue(r.expireTs, timetag, r.value));
    });
  });
}

export function isVisible(r: TestRecord, epochNow = EPOCH_NOW): boolean {
  return !r.tombstone && !(r.expireTs > 0 && r.expireTs <= epochNow);
}

/** Records in stored-key order, the last write of a key winning, as lmdb holds them. */
export function storedOrder(records: readonly TestRecord[]): TestRecord[] {
  const byKey = new Map<string, TestRecord>();
  for (const r of records) byKey.set(encodeKey(r.hashKey, r.sortKey).toString("hex"), r);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

export function limitsWith(overrides: Partial<ReadLimits> = {}): ReadLimits {
  return {
    multiGetKvCountMax: 3000,
    readBytesMax: 10 * 1024 * 1024,
    scanBatchCountMax: 10_000,
    scanIterationCountMax: 100_000,
    ...overrides,
  };
}

export function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("latin1");
}

/** An independent model of Pegasus filter matching, on latin1 strings (one char per byte). */
export function modelFilterMatches(key: Uint8Array, filter: KeyFilter | undefined): boolean {
  if (filter === undefined || filter.pattern.length === 0) return true;
  const k = text(key);
  const p = text(filter.pattern);
  switch (filter.type) {
    case FilterType.NO_FILTER:
      return true;
    case FilterType.MATCH_ANYWHERE:
      return k.includes(p);
    case FilterType.MATCH_PREFIX:
      return k.startsWith(p);
    case FilterType.MATCH_POSTFIX:
      return k.endsWith(p);
    default:
      throw new Error(`filter type ${String(filter.type)}`);
  }
}

/** Small alphabet with the byte values that matter at range edges: 0x00, two letters, 0xff. */
export const arbKeyBytes = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc
    .array(fc.constantFrom(0x00, 0x61, 0x62, 0xff), { maxLength })
    .map((bytes) => Buffer.from(bytes));

export const arbFilter: fc.Arbitrary<KeyFilter | undefined> = fc.option(
  fc.record(
    { type: fc.constantFrom(...Object.values(FilterType)), pattern: arbKeyBytes(2) },
    { noNullPrototype: true },
  ),
  { nil: undefined },
);

export const arbExpiry: fc.Arbitrary<number> = fc.constantFrom(0, 0, 1, EPOCH_NOW, EPOCH_NOW + 5);
