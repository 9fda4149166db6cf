import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { encodeKey } from "../../src/codec/key-schema.ts";
import { makeTimetag } from "../../src/codec/timetag.ts";
import { decodeValue } from "../../src/codec/value-schema.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import type { StorageEngine } from "../../src/storage/engine.ts";
import type { LmdbEnv } from "../../src/storage/lmdb-env.ts";
import { readMeta } from "../../src/storage/meta-store.ts";
import {
  b,
  EMPTY,
  editStoredMeta,
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

const hasCode = (code: string) => (error: unknown) => isTalariaError(error) && error.code === code;

describe("StorageEngine.apply: local updates", () => {
  it("stores puts with the mutation's timetag and the update's expireTs", async () => {
    await withEngine(async (engine) => {
      const result = await engine.apply(mutation(1, [put("h", "s", "v", 1234)]), LOCAL);
      assert.deepEqual(result, { decree: 1, staleEntriesSkipped: 0 });
      const stored = readRecord(engine, "h", "s");
      assert.ok(stored);
      assert.equal(stored.expireTs, 1234);
      assert.equal(stored.timetag, makeTimetag(START_US + 1, LOCAL.clusterId, false));
      assert.deepEqual(stored.value, b("v"));
      assert.equal(engine.lastAppliedDecree, 1);
    });
  });

  it("applies multi-put and multi-remove per sort key", async () => {
    await withEngine(async (engine) => {
      await engine.apply(
        mutation(1, [
          multiPut(
            "h",
            [
              ["a", "1"],
              ["b", "2"],
              ["c", "3"],
            ],
            7,
          ),
        ]),
        LOCAL,
      );
      await engine.apply(mutation(2, [multiRemove("h", ["a", "c"])]), LOCAL_NO_TOMBSTONES);
      assert.equal(readRecord(engine, "h", "a"), undefined);
      assert.equal(readRecord(engine, "h", "c"), undefined);
      const kept = readRecord(engine, "h", "b");
      assert.deepEqual(kept?.value, b("2"));
      assert.equal(kept?.expireTs, 7);
    });
  });

  it("local delete leaves a tombstone only when keepTombstones", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "x", "v"), put("h", "y", "v")]), LOCAL);
      await engine.apply(mutation(2, [remove("h", "x")]), LOCAL);
      await engine.apply(mutation(3, [remove("h", "y")]), LOCAL_NO_TOMBSTONES);
      const tombstone = readRecord(engine, "h", "x");
      assert.ok(tombstone);
      assert.equal(tombstone.timetag, makeTimetag(START_US + 2, LOCAL.clusterId, true));
      assert.equal(tombstone.value.length, 0);
      assert.equal(tombstone.expireTs, 0);
      assert.equal(readRecord(engine, "h", "y"), undefined);
    });
  });

  it("overwrites local records unconditionally and in update order", async () => {
    await withEngine(async (engine) => {
      // A later decree with an older timestamp still wins: local writes are never LWW-checked.
      await engine.apply(mutation(1, [put("h", "s", "new")], START_US + 100), LOCAL);
      await engine.apply(
        mutation(2, [put("h", "s", "a"), put("h", "s", "b")], START_US + 50),
        LOCAL,
      );
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("b"));
      await engine.apply(mutation(3, [put("h", "t", "x"), remove("h", "t")]), LOCAL_NO_TOMBSTONES);
      assert.equal(readRecord(engine, "h", "t"), undefined);
    });
  });

  it("EMPTY advances only the decree", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [EMPTY], START_US + 77), LOCAL);
      assert.equal(engine.lastAppliedDecree, 1);
      assert.equal(engine.maxTimestampUs, START_US + 77);
      assert.equal([...engine.data.getRange({})].length, 0);
    });
  });
});

describe("StorageEngine.apply: atomicity and decrees", () => {
  it("a mutation failing mid-way leaves nothing and keeps the decree", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "s", "before")]), LOCAL);
      const tooLongHashKey = { ...put("h", "s", "v"), hashKey: Buffer.alloc(70_000, 1) };
      const bad = mutation(2, [put("h", "s", "after"), put("h", "t", "t"), tooLongHashKey]);
      await assert.rejects(engine.apply(bad, LOCAL), hasCode("ERR_INVALID_HASH_KEY"));
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("before"));
      assert.equal(readRecord(engine, "h", "t"), undefined);
      assert.equal(engine.lastAppliedDecree, 1);
      // Beyond lmdb's key size: a named limit, also rolled back.
      const tooLongKey = put("h", "x".repeat(3000), "v");
      await assert.rejects(
        engine.apply(mutation(2, [put("h", "u", "u"), tooLongKey]), LOCAL),
        (error: unknown) =>
          isTalariaError(error, "ERR_LIMIT_EXCEEDED") &&
          error.details.limit === "storedKeyBytesMax",
      );
      assert.equal(readRecord(engine, "h", "u"), undefined);
      // The same decree is accepted once it is valid.
      await engine.apply(mutation(2, [put("h", "s", "after")]), LOCAL);
      assert.equal(engine.lastAppliedDecree, 2);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("after"));
    });
  });

  it("accepts any first decree, then only the next one", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(5, [EMPTY]), LOCAL);
      await assert.rejects(engine.apply(mutation(5, [EMPTY]), LOCAL), hasCode("ERR_INVALID_STATE"));
      await assert.rejects(engine.apply(mutation(4, [EMPTY]), LOCAL), hasCode("ERR_INVALID_STATE"));
      await assert.rejects(engine.apply(mutation(7, [EMPTY]), LOCAL), hasCode("ERR_INVALID_STATE"));
      await engine.apply(mutation(6, [EMPTY]), LOCAL);
      assert.equal(engine.lastAppliedDecree, 6);
    });
  });

  it("rejects malformed mutations before queuing them", async () => {
    await withEngine(async (engine) => {
      await assert.rejects(
        engine.apply(mutation(1, [put("h", "s", "v", -1)]), LOCAL),
        hasCode("ERR_INVALID_PARAMETERS"),
      );
      await assert.rejects(
        engine.apply(mutation(0, [EMPTY]), LOCAL),
        hasCode("ERR_INVALID_PARAMETERS"),
      );
      await assert.rejects(
        engine.apply(mutation(1, [EMPTY]), { clusterId: 128, keepTombstones: true }),
        hasCode("ERR_INVALID_PARAMETERS"),
      );
      assert.equal(engine.lastAppliedDecree, 0);
    });
  });

  it("serializes applies submitted before earlier ones finish, in decree order", async () => {
    await withEngine(async (engine) => {
      const count = 25;
      const pending = [];
      for (let decree = 1; decree <= count; decree++) {
        pending.push(engine.apply(mutation(decree, [put("h", "last", String(decree))]), LOCAL));
      }
      // Await in reverse: completion order must not matter.
      const results = [];
      for (const promise of pending.reverse()) results.push(await promise);
      assert.deepEqual(
        results.map((r) => r.decree),
        Array.from({ length: count }, (_, i) => count - i),
      );
      assert.equal(engine.lastAppliedDecree, count);
      assert.deepEqual(readRecord(engine, "h", "last")?.value, b(String(count)));
    });
  });

  it("a failed apply fails the ones submitted after it, then the decree can be retried", async () => {
    await withEngine(async (engine) => {
      const bad = { ...put("h", "s", "v"), hashKey: Buffer.alloc(70_000) };
      const first = engine.apply(mutation(1, [put("h", "a", "1")]), LOCAL);
      const second = engine.apply(mutation(2, [bad]), LOCAL);
      const third = engine.apply(mutation(3, [put("h", "c", "3")]), LOCAL);
      await first;
      await assert.rejects(second, hasCode("ERR_INVALID_HASH_KEY"));
      await assert.rejects(third, hasCode("ERR_INVALID_STATE"));
      assert.equal(engine.lastAppliedDecree, 1);
      assert.equal(readRecord(engine, "h", "c"), undefined);
      await engine.apply(mutation(2, [put("h", "b", "2")]), LOCAL);
      await engine.apply(mutation(3, [put("h", "c", "3")]), LOCAL);
      assert.equal(engine.lastAppliedDecree, 3);
    });
  });
});

/** The decree lmdb itself holds, memtable aside: what a crash would leave. */
function storedDecree(engine: StorageEngine): number {
  const env = (engine as unknown as { env: LmdbEnv }).env;
  return readMeta(env.meta).lastAppliedDecree;
}

function envOf(engine: StorageEngine): LmdbEnv {
  return (engine as unknown as { env: LmdbEnv }).env;
}

/** lmdb's last committed transaction id: how many write transactions ran, differenced. */
function lmdbTxnId(engine: StorageEngine): number {
  return (envOf(engine).root.getStats() as { lastTxnId: number }).lastTxnId;
}

/** What lmdb itself holds for a record, memtable aside. */
function storedRecord(engine: StorageEngine, hashKey: string, sortKey: string) {
  const stored = envOf(engine).data.get(encodeKey(b(hashKey), b(sortKey)));
  return stored === undefined ? undefined : decodeValue(stored);
}

/**
 * Makes every lmdb write of `engine` fail, as a full disk would: a synchronous put throws, and a
 * background flush's transaction fails as a whole (none of its writes lands). Returns the undo.
 */
function failLmdbWrites(engine: StorageEngine): () => void {
  const { data, meta } = envOf(engine);
  const saved = { putSync: data.putSync, put: data.put, remove: data.remove, metaPut: meta.put };
  data.putSync = () => {
    throw new Error("disk full");
  };
  const failed = () => Promise.reject(new Error("disk full"));
  data.put = failed;
  data.remove = failed;
  meta.put = failed;
  return () => {
    data.putSync = saved.putSync;
    data.put = saved.put;
    data.remove = saved.remove;
    meta.put = saved.metaPut;
  };
}

/** Holds every background flush of `engine` after its commit, before it counts as on disk. */
function holdDiskFlushes(engine: StorageEngine): () => void {
  const root = envOf(engine).root;
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const flushed = root.flushed;
  Object.defineProperty(root, "flushed", {
    configurable: true,
    get: () => gate.then(() => flushed),
  });
  return () => {
    release();
    Object.defineProperty(root, "flushed", { configurable: true, get: () => flushed });
  };
}

describe("StorageEngine: the memtable and its flushes", () => {
  it("an apply is visible before it returns, without awaiting, and costs no lmdb transaction", async () => {
    await withEngine(async (engine) => {
      const before = lmdbTxnId(engine);
      const applied = engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
      assert.equal(engine.lastAppliedDecree, 1);
      await applied;
      assert.equal(lmdbTxnId(engine), before);
      assert.equal(engine.stats.writeTransactions, 0);
      assert.equal(engine.stats.unflushedEntries, 1);
      assert.ok(engine.stats.unflushedBytes > 0);
      assert.equal(storedDecree(engine), 0);
      assert.equal(engine.lastDurableDecree, 0);
    });
  });

  it("flush() writes every applied mutation and the meta in one lmdb transaction, off the event loop", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      await engine.apply(mutation(2, [put("h", "t", "w"), remove("h", "s")]), LOCAL_NO_TOMBSTONES);
      const before = lmdbTxnId(engine);
      assert.equal(await engine.flush(), 2);
      assert.equal(lmdbTxnId(engine) - before, 1);
      const stats = engine.stats;
      assert.equal(stats.flushes, 1);
      assert.ok(stats.flushSeconds > 0);
      assert.equal(stats.writeTransactions, 0, "no transaction ran on the event loop");
      assert.equal(stats.unflushedEntries, 0);
      assert.equal(stats.unflushedBytes, 0);
      assert.equal(storedDecree(engine), 2);
      assert.equal(engine.lastDurableDecree, 2);
      assert.equal(storedRecord(engine, "h", "s"), undefined);
      assert.deepEqual(storedRecord(engine, "h", "t")?.value, b("w"));
      // Nothing new: no second transaction.
      await engine.flush();
      assert.equal(engine.stats.flushes, 1);
      assert.equal(lmdbTxnId(engine) - before, 1);
    });
  });

  it("flushes once the interval after the first unflushed apply is up", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    await withEngine(
      async (engine) => {
        await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
        t.mock.timers.tick(40);
        await engine.apply(mutation(2, [put("h", "t", "w")]), LOCAL);
        t.mock.timers.tick(59);
        await engine.settled();
        assert.equal(engine.stats.flushes, 0);
        t.mock.timers.tick(1);
        await engine.settled();
        assert.equal(engine.stats.flushes, 1);
        assert.equal(storedDecree(engine), 2);
        assert.equal(engine.lastDurableDecree, 2);
        // Idle: no timer, no flush.
        t.mock.timers.tick(1000);
        await engine.settled();
        assert.equal(engine.stats.flushes, 1);
      },
      { flushIntervalMs: 100 },
    );
  });

  it("flushes at once when the memtable reaches unflushedEntriesMax", async () => {
    await withEngine(
      async (engine) => {
        await engine.apply(mutation(1, [put("h", "a", "1"), put("h", "b", "2")]), LOCAL);
        await engine.settled();
        assert.equal(engine.stats.flushes, 0);
        await engine.apply(mutation(2, [put("h", "c", "3")]), LOCAL);
        await engine.settled();
        assert.equal(engine.stats.flushes, 1);
        assert.equal(engine.stats.unflushedEntries, 0);
        assert.equal(storedDecree(engine), 2);
      },
      { unflushedEntriesMax: 3, flushIntervalMs: 60_000 },
    );
  });

  it("a write applied while a flush runs stays in the memtable for the next one", async () => {
    await withEngine(
      async (engine) => {
        // Two entries reach the bound: the flush of decree 1 starts in the background.
        await engine.apply(mutation(1, [put("h", "a", "1"), put("h", "b", "1")]), LOCAL);
        await engine.apply(mutation(2, [put("h", "a", "2")]), LOCAL);
        assert.deepEqual(readRecord(engine, "h", "a")?.value, b("2"));
        await engine.settled();
        assert.equal(engine.stats.flushes, 1);
        assert.equal(engine.lastDurableDecree, 1);
        assert.equal(storedDecree(engine), 1);
        // "b" left the memtable; "a" was replaced after the flush took it, so its newer value stays.
        assert.equal(engine.stats.unflushedEntries, 1);
        assert.deepEqual(storedRecord(engine, "h", "a")?.value, b("1"));
        assert.deepEqual(readRecord(engine, "h", "a")?.value, b("2"));
        assert.deepEqual(readRecord(engine, "h", "b")?.value, b("1"));
        assert.equal(await engine.flush(), 2);
        assert.deepEqual(storedRecord(engine, "h", "a")?.value, b("2"));
        assert.equal(engine.stats.unflushedEntries, 0);
      },
      { unflushedEntriesMax: 2, flushIntervalMs: 60_000 },
    );
  });

  it("a sweep step runs during a background flush and writes only the memtable, which the next flush persists", async () => {
    await withEngine(
      async (engine, clock) => {
        const root = envOf(engine).root;
        const transactionSync = root.transactionSync.bind(root);
        let synchronousTransactions = 0;
        root.transactionSync = ((...args: Parameters<typeof transactionSync>) => {
          synchronousTransactions++;
          return transactionSync(...args);
        }) as typeof root.transactionSync;
        const release = holdDiskFlushes(engine);
        try {
          // Expires at once: a record expires once epochNow() is past its expireTs.
          await engine.apply(
            mutation(1, [put("h", "a", "1", engine.epochNow()), put("h", "b", "1")]),
            LOCAL,
          );
          clock.advanceMs(2_000);
          const inside = engine as unknown as { flushing: Promise<boolean> | undefined };
          assert.ok(inside.flushing, "the two entries reached the bound: a flush is held");
          let swept = false;
          const sweep = engine.sweep({ budget: 10 }).then((result) => {
            swept = true;
            return result;
          });
          await new Promise(setImmediate);
          assert.equal(swept, true, "the sweep does not wait for the flush in flight");
          assert.equal((await sweep).expired, 1);
          assert.equal(synchronousTransactions, 0, "no lmdb transaction of its own");
          assert.equal(engine.stats.writeTransactions, 0);
          // Reads see the tombstone at once; lmdb gets it with the flush after the held one.
          assert.equal(readRecord(engine, "h", "a")?.value.length, 0);
          assert.ok(engine.stats.unflushedEntries >= 1);
        } finally {
          release();
        }
        await engine.settled();
        assert.equal(await engine.flush(), 1);
        const stored = storedRecord(engine, "h", "a");
        assert.ok(stored && (stored.timetag & 1n) === 1n, "lmdb holds the sweep's tombstone");
        assert.deepEqual(storedRecord(engine, "h", "b")?.value, b("1"));
        assert.equal(engine.stats.unflushedEntries, 0);
        assert.equal(synchronousTransactions, 0);
      },
      { unflushedEntriesMax: 2, flushIntervalMs: 60_000 },
    );
  });

  it("a sweep step that fails part-way changes nothing", async () => {
    await withEngine(
      async (engine, clock) => {
        await engine.apply(
          mutation(1, [
            put("h", "a", "1", engine.epochNow()),
            put("h", "c", "1", engine.epochNow()),
          ]),
          LOCAL,
        );
        clock.advanceMs(2_000);
        // A record whose value does not decode, between the two expired ones, as lmdb would hold
        // after a bug or a bad restore: the step throws when it reaches it.
        envOf(engine).data.putSync(encodeKey(b("h"), b("b")), b("x"));
        const entries = engine.stats.unflushedEntries;
        await assert.rejects(engine.sweep({ budget: 10 }), hasCode("ERR_INVALID_DATA"));
        assert.equal(engine.stats.unflushedEntries, entries);
        assert.equal(engine.stats.expiredSwept, 0);
        assert.equal(readRecord(engine, "h", "a")?.value.length, 1, "no tombstone for the first");
      },
      { flushIntervalMs: 60_000 },
    );
  });

  it("a checkpoint covers everything applied, flushed or not", async () => {
    await withEngine(async (engine, _clock, dir) => {
      await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      const info = await engine.checkpoint(join(dir, "cp"));
      assert.equal(info.decree, 1);
      assert.equal(engine.stats.unflushedEntries, 0);
    });
  });

  it("a failed apply changes nothing: no entry, no decree, no transaction", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      const bad = { ...put("h", "t", "x"), hashKey: Buffer.alloc(70_000) };
      await assert.rejects(
        engine.apply(mutation(2, [put("h", "s", "changed"), bad]), LOCAL),
        hasCode("ERR_INVALID_HASH_KEY"),
      );
      assert.equal(engine.stats.unflushedEntries, 1);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
      assert.equal(engine.lastAppliedDecree, 1);
      assert.equal(engine.stats.writeTransactions, 0);
    });
  });

  it("a failed flush keeps the memtable, is logged and counted, and a later flush succeeds", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const lines: { msg: string; reason?: string }[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    await withEngine(
      async (engine) => {
        const diskBack = failLmdbWrites(engine);
        await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
        t.mock.timers.tick(50);
        await engine.settled();
        assert.equal(engine.stats.flushFailures, 1);
        assert.equal(engine.stats.unflushedEntries, 1);
        assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
        assert.equal(storedDecree(engine), 0);
        assert.equal(engine.lastDurableDecree, 0);
        const failures = lines.filter((l) => l.msg.startsWith("storage flush failed"));
        assert.equal(failures.length, 1);
        assert.equal(failures[0]?.reason, "the flush interval is up");
        await assert.rejects(engine.flush(), hasCode("ERR_FILE_OPERATION_FAILED"));
        assert.equal(engine.stats.flushFailures, 2);
        // Retried on the next interval once the disk is back.
        diskBack();
        t.mock.timers.tick(50);
        await engine.settled();
        assert.equal(engine.stats.flushes, 1);
        assert.equal(storedDecree(engine), 1);
        assert.equal(engine.stats.unflushedEntries, 0);
      },
      { logger, flushIntervalMs: 50 },
    );
  });

  it("applies beyond four times the bounds flush synchronously first, and fail if they cannot", async () => {
    await withEngine(
      async (engine) => {
        const diskBack = failLmdbWrites(engine);
        // Entries max 1: each apply starts a flush, which fails; the fourth entry reaches the hard bound.
        for (let d = 1; d <= 4; d++) {
          await engine.apply(mutation(d, [put("h", `s${d}`, "v")]), LOCAL);
          await engine.settled();
        }
        assert.equal(engine.stats.flushFailures, 4);
        await assert.rejects(
          engine.apply(mutation(5, [put("h", "s5", "v")]), LOCAL),
          hasCode("ERR_FILE_OPERATION_FAILED"),
        );
        assert.equal(engine.lastAppliedDecree, 4);
        diskBack();
        // The apply flushes the four held back first (synchronously), then (entries max 1) its own.
        await engine.apply(mutation(5, [put("h", "s5", "v")]), LOCAL);
        assert.equal(engine.stats.writeTransactions, 2, "the failed one and this one");
        assert.equal(storedDecree(engine), 4);
        await engine.settled();
        assert.equal(engine.stats.flushes, 2);
        assert.equal(storedDecree(engine), 5);
        assert.equal(engine.lastAppliedDecree, 5);
      },
      { unflushedEntriesMax: 1, flushIntervalMs: 60_000, logger: pino({ level: "silent" }) },
    );
  });

  it("an apply at the hard bound fails while a flush is still on its way to disk", async () => {
    await withEngine(
      async (engine) => {
        const release = holdDiskFlushes(engine);
        for (let d = 1; d <= 4; d++) {
          await engine.apply(mutation(d, [put("h", `s${d}`, "v")]), LOCAL);
        }
        await assert.rejects(
          engine.apply(mutation(5, [put("h", "s5", "v")]), LOCAL),
          (error: unknown) =>
            hasCode("ERR_FILE_OPERATION_FAILED")(error) && /flushes are behind/.test(String(error)),
        );
        assert.equal(engine.lastAppliedDecree, 4);
        release();
        await engine.settled();
        assert.equal(engine.lastDurableDecree, 4);
        await engine.apply(mutation(5, [put("h", "s5", "v")]), LOCAL);
        assert.equal(await engine.flush(), 5);
      },
      { unflushedEntriesMax: 1, flushIntervalMs: 60_000 },
    );
  });

  it("counts slow write transactions and slow flushes, and warns once per interval", async () => {
    const lines: { msg: string; ms?: number; slowWriteTransactions?: number }[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    // Every transaction and flush takes at least 0 ms, so each one counts as slow.
    await withEngine(
      async (engine, _clock, dir) => {
        // A checkpoint flushes synchronously first: one write transaction each.
        await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
        await engine.checkpoint(join(dir, "cp1"));
        await engine.apply(mutation(2, [put("h", "t", "w")]), LOCAL);
        await engine.checkpoint(join(dir, "cp2"));
        assert.equal(engine.stats.slowWriteTransactions, 2);
        await engine.apply(mutation(3, [put("h", "u", "x")]), LOCAL);
        await engine.flush();
        await engine.apply(mutation(4, [put("h", "v", "y")]), LOCAL);
        await engine.flush();
      },
      { logger, slowWriteTransactionMs: 0, slowFlushMs: 0 },
    );
    const warnings = lines.filter((l) => l.msg.startsWith("slow lmdb write transaction"));
    assert.equal(warnings.length, 1);
    assert.equal(typeof warnings[0]?.ms, "number");
    assert.equal(warnings[0]?.slowWriteTransactions, 1);
    assert.equal(lines.filter((l) => l.msg.startsWith("slow storage flush")).length, 1);
  });

  it("refuses a flush interval or entry bound that is not a positive integer", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      await assert.rejects(
        openEngine(join(dir, "a"), clock, { flushIntervalMs: 0 }),
        hasCode("ERR_INVALID_PARAMETERS"),
      );
      await assert.rejects(
        openEngine(join(dir, "b"), clock, { unflushedEntriesMax: 1.5 }),
        hasCode("ERR_INVALID_PARAMETERS"),
      );
    });
  });
});

describe("StorageEngine: persistence and lifecycle", () => {
  it("keeps lastAppliedDecree, maxTimestampUs and data across close and reopen", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      const path = join(dir, "env");
      const engine = await openEngine(path, clock);
      await engine.apply(mutation(1, [put("h", "s", "v")], START_US + 10), LOCAL);
      const pending = engine.apply(mutation(2, [put("h", "t", "w")], START_US + 5), LOCAL);
      await engine.close(); // waits for the pending apply
      await pending;
      await assert.rejects(engine.apply(mutation(3, [EMPTY]), LOCAL), hasCode("ERR_INVALID_STATE"));
      assert.throws(() => engine.data, hasCode("ERR_INVALID_STATE"));

      const reopened = await openEngine(path, clock);
      try {
        assert.equal(reopened.lastAppliedDecree, 2);
        assert.equal(reopened.lastDurableDecree, 2);
        assert.equal(reopened.maxTimestampUs, START_US + 10);
        assert.deepEqual(readRecord(reopened, "h", "t")?.value, b("w"));
        await assert.rejects(
          reopened.apply(mutation(4, [EMPTY]), LOCAL),
          hasCode("ERR_INVALID_STATE"),
        );
        await reopened.apply(mutation(3, [EMPTY]), LOCAL);
      } finally {
        await reopened.close();
      }
    });
  });

  it("reports lastDurableDecree once lmdb has flushed", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      await engine.apply(mutation(2, [put("h", "s", "w")]), LOCAL);
      assert.ok(engine.lastDurableDecree <= engine.lastAppliedDecree);
      assert.equal(await engine.flush(), 2);
      assert.equal(engine.lastDurableDecree, 2);
    });
  });

  it("refuses an environment with an unknown format version", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      const path = join(dir, "env");
      await (await openEngine(path, clock)).close();
      const version = Buffer.alloc(4);
      version.writeUInt32BE(99);
      await editStoredMeta(path, "format_version", version);
      await assert.rejects(openEngine(path, clock), hasCode("ERR_INVALID_VERSION"));
    });
  });
});
