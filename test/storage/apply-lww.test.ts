import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encodeKey } from "../../src/codec/key-schema.ts";
import { type DuplicableUpdate, UpdateKind } from "../../src/codec/mutation.ts";
import { makeTimetag, type Timetag } from "../../src/codec/timetag.ts";
import { encodeValue } from "../../src/codec/value-schema.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  b,
  dumpData,
  duplicate,
  entry,
  LOCAL,
  LOCAL_NO_TOMBSTONES,
  multiPut,
  multiRemove,
  mutation,
  openEngine,
  put,
  readRecord,
  remove,
  START_US,
  withEngine,
  withTempDir,
} from "./engine-fixture.ts";

const T = START_US;

describe("StorageEngine.apply: duplicated writes (last-write-wins)", () => {
  it("skips an older duplicated put after a newer one", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [duplicate(entry(T + 20, 2, put("h", "s", "new")))]), LOCAL);
      const result = await engine.apply(
        mutation(2, [duplicate(entry(T + 10, 3, put("h", "s", "old")))]),
        LOCAL,
      );
      assert.equal(result.staleEntriesSkipped, 1);
      const stored = readRecord(engine, "h", "s");
      assert.deepEqual(stored?.value, b("new"));
      assert.equal(stored?.timetag, makeTimetag(T + 20, 2, false));
      assert.equal(engine.lastAppliedDecree, 2);
    });
  });

  it("a duplicated delete always leaves a tombstone, and older puts lose to it", async () => {
    await withEngine(async (engine) => {
      await engine.apply(
        mutation(1, [duplicate(entry(T + 20, 2, remove("h", "s")))]),
        LOCAL_NO_TOMBSTONES,
      );
      const tombstone = readRecord(engine, "h", "s");
      assert.equal(tombstone?.timetag, makeTimetag(T + 20, 2, true));
      assert.equal(tombstone?.value.length, 0);
      const result = await engine.apply(
        mutation(2, [duplicate(entry(T + 19, 5, put("h", "s", "late")))]),
        LOCAL_NO_TOMBSTONES,
      );
      assert.equal(result.staleEntriesSkipped, 1);
      assert.equal(readRecord(engine, "h", "s")?.timetag, makeTimetag(T + 20, 2, true));
      // A newer put replaces the tombstone.
      await engine.apply(mutation(3, [duplicate(entry(T + 21, 1, put("h", "s", "v")))]), LOCAL);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
    });
  });

  it("on a timestamp tie the larger cluster id wins, in either order", async () => {
    for (const order of [
      [1, 9],
      [9, 1],
    ] as const) {
      await withEngine(async (engine) => {
        const [first, second] = order;
        await engine.apply(
          mutation(1, [duplicate(entry(T, first, put("h", "s", `c${first}`)))]),
          LOCAL,
        );
        await engine.apply(
          mutation(2, [duplicate(entry(T, second, put("h", "s", `c${second}`)))]),
          LOCAL,
        );
        assert.deepEqual(readRecord(engine, "h", "s")?.value, b("c9"));
      });
    }
  });

  it("re-applies a redelivered write idempotently (equal timestamp and cluster)", async () => {
    await withEngine(async (engine) => {
      const write = entry(T + 1, 2, put("h", "s", "v"));
      await engine.apply(mutation(1, [duplicate(write)]), LOCAL);
      const result = await engine.apply(mutation(2, [duplicate(write)]), LOCAL);
      assert.equal(result.staleEntriesSkipped, 0);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
      assert.equal(readRecord(engine, "h", "s")?.timetag, makeTimetag(T + 1, 2, false));
    });
  });

  it("applies same-key updates of one source mutation in order, as the source did", async () => {
    // One source mutation stamps all its updates with one timestamp: the target must end where
    // the source ended (last update wins), not keep the first or prefer the delete bit.
    const cases: [DuplicableUpdate[], string | undefined][] = [
      [[put("h", "s", "a"), put("h", "s", "b")], "b"],
      [[remove("h", "s"), put("h", "s", "after-delete")], "after-delete"],
      [[put("h", "s", "x"), remove("h", "s")], undefined],
      [[multiPut("h", [["s", "m1"]]), multiPut("h", [["s", "m2"]])], "m2"],
    ];
    for (const [updates, expected] of cases) {
      await withEngine(async (source) => {
        await withEngine(async (target) => {
          await source.apply(mutation(1, updates, T + 5), LOCAL);
          await target.apply(mutation(1, [duplicate(...updates.map((u) => entry(T + 5, 1, u)))]), {
            clusterId: 2,
            keepTombstones: true,
          });
          const onSource = readRecord(source, "h", "s");
          const onTarget = readRecord(target, "h", "s");
          assert.deepEqual(onTarget, onSource);
          if (expected === undefined) assert.equal(onTarget?.value.length, 0);
          else assert.deepEqual(onTarget?.value, b(expected));
        });
      });
    }
  });

  it("compares against expired records too", async () => {
    await withEngine(async (engine, clock) => {
      const expireTs = engine.epochNow() + 1;
      await engine.apply(
        mutation(1, [duplicate(entry(T + 20, 2, put("h", "s", "ttl", expireTs)))]),
        LOCAL,
      );
      clock.advanceMs(5_000);
      const result = await engine.apply(
        mutation(2, [duplicate(entry(T + 10, 2, put("h", "s", "old")))]),
        LOCAL,
      );
      assert.equal(result.staleEntriesSkipped, 1);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("ttl"));
    });
  });

  it("checks multi-put and multi-remove entries per sort key", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [duplicate(entry(T + 50, 2, put("h", "a", "newer")))]), LOCAL);
      const result = await engine.apply(
        mutation(2, [
          duplicate(
            entry(
              T + 10,
              2,
              multiPut(
                "h",
                [
                  ["a", "x"],
                  ["b", "y"],
                ],
                99,
              ),
            ),
            entry(T + 20, 3, multiRemove("h", ["a", "b", "c"])),
          ),
        ]),
        LOCAL,
      );
      assert.equal(result.staleEntriesSkipped, 2); // "a" twice
      assert.deepEqual(readRecord(engine, "h", "a")?.value, b("newer"));
      assert.equal(readRecord(engine, "h", "b")?.timetag, makeTimetag(T + 20, 3, true));
      assert.equal(readRecord(engine, "h", "c")?.timetag, makeTimetag(T + 20, 3, true));
      assert.equal(engine.maxTimestampUs, Math.max(T + 2, T + 50));
    });
  });

  it("applies all entries of a duplicate update or none", async () => {
    await withEngine(async (engine) => {
      const bad = { ...put("h", "z", "v"), hashKey: Buffer.alloc(70_000) };
      await assert.rejects(
        engine.apply(
          mutation(1, [duplicate(entry(T, 2, put("h", "s", "v")), entry(T, 2, bad))]),
          LOCAL,
        ),
        (error: unknown) => isTalariaError(error, "ERR_INVALID_HASH_KEY"),
      );
      assert.equal(readRecord(engine, "h", "s"), undefined);
      assert.equal(engine.lastAppliedDecree, 0);
      assert.equal(engine.maxTimestampUs, 0);
    });
  });

  it("records the largest duplicated timestamp in maxTimestampUs", async () => {
    await withEngine(async (engine) => {
      await engine.apply(
        mutation(1, [duplicate(entry(T + 1_000, 4, put("h", "s", "v")))], T),
        LOCAL,
      );
      assert.equal(engine.maxTimestampUs, T + 1_000);
      await engine.apply(
        mutation(2, [duplicate(entry(T + 5, 4, put("h", "t", "v")))], T + 1),
        LOCAL,
      );
      assert.equal(engine.maxTimestampUs, T + 1_000);
    });
  });
});

/** A duplicated write over a 2 × 3 key space; (timestampUs, clusterId) is unique per write. */
interface Write {
  readonly timestampUs: number;
  readonly clusterId: number;
  readonly update: DuplicableUpdate;
}

const arbHashKey = fc.constantFrom("a", "b");
const arbSortKey = fc.constantFrom("1", "2", "3");
const arbValue = fc.string({ maxLength: 3 });
const arbExpireTs = fc.constantFrom(0, 1, 4_000_000_000);
const arbUpdate: fc.Arbitrary<DuplicableUpdate> = fc.oneof(
  fc.tuple(arbHashKey, arbSortKey, arbValue, arbExpireTs).map(([h, s, v, e]) => put(h, s, v, e)),
  fc.tuple(arbHashKey, arbSortKey).map(([h, s]) => remove(h, s)),
  fc
    .tuple(arbHashKey, fc.array(fc.tuple(arbSortKey, arbValue), { maxLength: 3 }), arbExpireTs)
    .map(([h, kvs, e]) => multiPut(h, kvs, e)),
  fc
    .tuple(arbHashKey, fc.array(arbSortKey, { maxLength: 3 }))
    .map(([h, sks]) => multiRemove(h, sks)),
);
const arbWrites = fc.uniqueArray(
  fc.record({
    timestampUs: fc.integer({ min: T, max: T + 20 }),
    clusterId: fc.integer({ min: 1, max: 3 }),
    update: arbUpdate,
  }),
  { maxLength: 14, selector: (w) => `${w.timestampUs}/${w.clusterId}` },
);

/**
 * The expected store: per key, the record of the write with the largest (timestamp, clusterId);
 * within one write (a multi-op naming a sort key twice) the later update wins.
 */
function model(writes: readonly Write[]): [string, string][] {
  const best = new Map<string, { timetag: Timetag; value: Buffer }>();
  const offer = (hashKey: Buffer, sortKey: Buffer, timetag: Timetag, value: Buffer) => {
    const key = encodeKey(hashKey, sortKey).toString("hex");
    const current = best.get(key);
    if (current === undefined || timetag >> 1n >= current.timetag >> 1n) {
      best.set(key, { timetag, value });
    }
  };
  for (const { timestampUs, clusterId, update } of writes) {
    const put = makeTimetag(timestampUs, clusterId, false);
    const del = makeTimetag(timestampUs, clusterId, true);
    const tombstone = encodeValue(0, del, Buffer.alloc(0));
    switch (update.kind) {
      case UpdateKind.PUT:
        offer(update.hashKey, update.sortKey, put, encodeValue(update.expireTs, put, update.value));
        break;
      case UpdateKind.REMOVE:
        offer(update.hashKey, update.sortKey, del, tombstone);
        break;
      case UpdateKind.MULTI_PUT:
        for (const kv of update.kvs) {
          offer(update.hashKey, kv.sortKey, put, encodeValue(update.expireTs, put, kv.value));
        }
        break;
      case UpdateKind.MULTI_REMOVE:
        for (const sortKey of update.sortKeys) offer(update.hashKey, sortKey, del, tombstone);
        break;
    }
  }
  return [...best.entries()]
    .sort(([x], [y]) => Buffer.compare(Buffer.from(x, "hex"), Buffer.from(y, "hex")))
    .map(([key, { value }]) => [key, value.toString("hex")]);
}

async function applyInOrder(path: string, writes: readonly Write[]): Promise<[string, string][]> {
  const engine = await openEngine(path, new ManualClock(T));
  try {
    // Submitted without awaiting: lmdb batches them, and they must still land in decree order.
    await Promise.all(
      writes.map((write, i) =>
        engine.apply(mutation(i + 1, [duplicate(write)], T), LOCAL_NO_TOMBSTONES),
      ),
    );
    return dumpData(engine);
  } finally {
    await engine.close();
  }
}

describe("StorageEngine.apply: duplicated writes converge", () => {
  it("two stores fed the same writes in different orders are byte-identical", async () => {
    await fc.assert(
      fc.asyncProperty(
        arbWrites.chain((writes) =>
          fc.tuple(
            fc.constant(writes),
            fc.shuffledSubarray(writes, { minLength: writes.length }),
            fc.shuffledSubarray(writes, { minLength: writes.length }),
          ),
        ),
        async ([writes, orderA, orderB]) => {
          await withTempDir(async (dir) => {
            const contentsA = await applyInOrder(join(dir, "a"), orderA);
            const contentsB = await applyInOrder(join(dir, "b"), orderB);
            assert.deepEqual(contentsA, contentsB);
            assert.deepEqual(contentsA, model(writes));
          });
        },
      ),
      { numRuns: 60 },
    );
  });
});
