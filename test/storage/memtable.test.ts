import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type LmdbEnv, openLmdbEnv } from "../../src/storage/lmdb-env.ts";
import { LayeredReadStore, Memtable, StagedWrites } from "../../src/storage/memtable.ts";
import type { StoreRangeOptions } from "../../src/storage/read/read-store.ts";
import { withTempDir } from "./engine-fixture.ts";

const key = (...bytes: number[]) => Buffer.from(bytes);
const SEED = Number(process.env.TALARIA_TEST_SEED ?? 20261122);

function fill(env: LmdbEnv, records: ReadonlyMap<string, Buffer>): void {
  env.root.transactionSync(() => {
    for (const [k, v] of records) env.data.putSync(Buffer.from(k, "hex"), v);
  });
}

function clear(env: LmdbEnv): void {
  env.root.transactionSync(() => {
    for (const k of [...env.data.getKeys({})]) env.data.removeSync(k);
  });
}

const entries = (it: Iterable<{ key: Buffer; value: Buffer }>) =>
  [...it].map(({ key: k, value }) => [k.toString("hex"), value.toString("hex")]);

describe("Memtable", () => {
  it("tracks entries and bytes, replacing an entry's bytes on overwrite", () => {
    const m = new Memtable();
    m.set(key(1), Buffer.alloc(10));
    const one = m.bytes;
    m.set(key(1), Buffer.alloc(20));
    assert.equal(m.size, 1);
    assert.equal(m.bytes, one + 10);
    m.set(key(2), null);
    assert.equal(m.lookup(key(2)), null);
    assert.equal(m.lookup(key(3)), undefined);
    m.clear();
    assert.equal(m.size, 0);
    assert.equal(m.bytes, 0);
  });

  it("StagedWrites sees its own writes, then the memtable, then the base, and publishes on merge", () => {
    const m = new Memtable();
    m.set(key(1), Buffer.from("m1"));
    m.set(key(2), null);
    const base = new Map([
      ["02", Buffer.from("b2")],
      ["03", Buffer.from("b3")],
    ]);
    const staged = new StagedWrites(m, { get: (k) => base.get(k.toString("hex")) });
    assert.deepEqual(staged.get(key(1)), Buffer.from("m1"));
    assert.equal(staged.get(key(2)), undefined);
    assert.deepEqual(staged.get(key(3)), Buffer.from("b3"));
    staged.put(key(3), Buffer.from("s3"));
    staged.remove(key(1));
    assert.deepEqual(staged.get(key(3)), Buffer.from("s3"));
    assert.equal(staged.get(key(1)), undefined);
    // Not published yet.
    assert.deepEqual(m.lookup(key(1)), Buffer.from("m1"));
    staged.mergeInto(m);
    assert.equal(m.lookup(key(1)), null);
    assert.deepEqual(m.lookup(key(3)), Buffer.from("s3"));
  });

  it("keeps keys of any bytes exactly and ranges them in byte order (property)", () => {
    const keyArb = fc.uint8Array({ minLength: 0, maxLength: 6 }).map(Buffer.from);
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { selector: (k) => k.toString("hex") }), (keys) => {
        const memtable = new Memtable();
        keys.forEach((k, i) => {
          memtable.set(k, Buffer.from([i & 0xff]));
        });
        const sorted = [...keys].sort(Buffer.compare);
        assert.deepEqual(
          memtable.range({}).map((e) => e.key),
          sorted,
        );
        assert.deepEqual(
          memtable.range({ reverse: true }).map((e) => e.key),
          [...sorted].reverse(),
        );
        keys.forEach((k, i) => {
          assert.deepEqual(memtable.lookup(Buffer.from(k)), Buffer.from([i & 0xff]));
        });
        assert.deepEqual([...memtable.values()].map((e) => e.key).sort(Buffer.compare), sorted);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("a flushed entry leaves only while it is still the key's entry", () => {
    const memtable = new Memtable();
    memtable.set(key(1), Buffer.from("a"));
    memtable.set(key(2), Buffer.from("b"));
    const snapshot = [...memtable.values()];
    memtable.set(key(2), Buffer.from("b2"));
    for (const entry of snapshot) memtable.deleteIfCurrent(entry);
    assert.equal(memtable.size, 1);
    assert.equal(memtable.lookup(key(1)), undefined);
    assert.deepEqual(memtable.lookup(key(2)), Buffer.from("b2"));
    memtable.deleteIfCurrent({ key: key(2), value: Buffer.from("b2") });
    assert.equal(memtable.size, 1, "an equal but different value is not the entry");
    for (const entry of [...memtable.values()]) memtable.deleteIfCurrent(entry);
    assert.equal(memtable.size, 0);
    assert.equal(memtable.bytes, 0);
  });

  it("a layered range equals lmdb's range over the merged contents (property, real lmdb on both sides)", async () => {
    await withTempDir(async (dir) => {
      const base = openLmdbEnv(join(dir, "base"), { readOnly: false });
      const oracle = openLmdbEnv(join(dir, "oracle"), { readOnly: false });
      try {
        // Stored keys start with a 2-byte hash-key length, so none is shorter than 2 bytes
        // (lmdb-js's reverse range without an end never yields the 1-byte key 0x00).
        const keyArb = fc.uint8Array({ minLength: 2, maxLength: 4, max: 3 }).map(Buffer.from);
        const boundArb = fc.uint8Array({ minLength: 1, maxLength: 4, max: 3 }).map(Buffer.from);
        const valueArb = fc.uint8Array({ minLength: 1, maxLength: 4 }).map(Buffer.from);
        const rangeArb: fc.Arbitrary<StoreRangeOptions> = fc.record(
          {
            start: boundArb,
            end: boundArb,
            exclusiveStart: fc.boolean(),
            inclusiveEnd: fc.boolean(),
            reverse: fc.boolean(),
          },
          { requiredKeys: ["exclusiveStart", "inclusiveEnd", "reverse"] },
        );
        fc.assert(
          fc.property(
            fc.array(fc.tuple(keyArb, valueArb), { maxLength: 20 }),
            fc.array(fc.tuple(keyArb, fc.option(valueArb, { nil: null })), { maxLength: 20 }),
            fc.array(rangeArb, { minLength: 1, maxLength: 6 }),
            (stored, held, ranges) => {
              const baseRecords = new Map(stored.map(([k, v]) => [k.toString("hex"), v]));
              const memtable = new Memtable();
              const merged = new Map(baseRecords);
              for (const [k, v] of held) {
                memtable.set(k, v);
                if (v === null) merged.delete(k.toString("hex"));
                else merged.set(k.toString("hex"), v);
              }
              clear(base);
              clear(oracle);
              fill(base, baseRecords);
              fill(oracle, merged);
              const layered = new LayeredReadStore(memtable, base.data);
              for (const options of ranges) {
                assert.deepEqual(
                  entries(layered.getRange(options)),
                  entries(oracle.data.getRange(options)),
                );
              }
              for (const k of [...merged.keys(), ...baseRecords.keys()]) {
                const bytes = Buffer.from(k, "hex");
                assert.deepEqual(layered.get(bytes), oracle.data.get(bytes));
              }
            },
          ),
          { seed: SEED, numRuns: 150 },
        );
      } finally {
        await base.root.close();
        await oracle.root.close();
      }
    });
  });
});
