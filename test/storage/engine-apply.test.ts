import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { makeTimetag } from "../../src/codec/timetag.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import type { StorageEngine } from "../../src/storage/engine.ts";
import type { LmdbEnv } from "../../src/storage/lmdb-env.ts";
import { readMeta } from "../../src/storage/meta-store.ts";
import {
  b,
  EMPTY,
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

/** Makes every lmdb put of `engine` throw, as a full disk would; returns the undo. */
function failLmdbWrites(engine: StorageEngine): () => void {
  const data = (engine as unknown as { env: LmdbEnv }).env.data;
  const putSync = data.putSync.bind(data);
  data.putSync = () => {
    throw new Error("disk full");
  };
  return () => {
    data.putSync = putSync;
  };
}

describe("StorageEngine: the memtable and its flushes", () => {
  it("an apply is visible before it returns, without awaiting, and costs no lmdb transaction", async () => {
    await withEngine(async (engine) => {
      const applied = engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
      assert.equal(engine.lastAppliedDecree, 1);
      await applied;
      assert.equal(engine.stats.writeTransactions, 0);
      assert.equal(engine.stats.unflushedEntries, 1);
      assert.ok(engine.stats.unflushedBytes > 0);
      assert.equal(storedDecree(engine), 0);
      assert.equal(engine.lastDurableDecree, 0);
    });
  });

  it("flush() writes every applied mutation and the meta in one transaction", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      await engine.apply(mutation(2, [put("h", "t", "w"), remove("h", "s")]), LOCAL_NO_TOMBSTONES);
      assert.equal(await engine.flush(), 2);
      const stats = engine.stats;
      assert.equal(stats.writeTransactions, 1);
      assert.equal(stats.flushes, 1);
      assert.ok(stats.writeTransactionSeconds > 0);
      assert.equal(stats.unflushedEntries, 0);
      assert.equal(stats.unflushedBytes, 0);
      assert.equal(storedDecree(engine), 2);
      assert.equal(readRecord(engine, "h", "s"), undefined);
      assert.deepEqual(readRecord(engine, "h", "t")?.value, b("w"));
      // Nothing new: no second transaction.
      await engine.flush();
      assert.equal(engine.stats.writeTransactions, 1);
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
        assert.equal(engine.stats.flushes, 0);
        t.mock.timers.tick(1);
        assert.equal(engine.stats.flushes, 1);
        assert.equal(storedDecree(engine), 2);
        await new Promise(setImmediate);
        assert.equal(engine.lastDurableDecree, 2);
        // Idle: no timer, no flush.
        t.mock.timers.tick(1000);
        assert.equal(engine.stats.flushes, 1);
      },
      { flushIntervalMs: 100 },
    );
  });

  it("flushes at once when the memtable reaches unflushedEntriesMax", async () => {
    await withEngine(
      async (engine) => {
        await engine.apply(mutation(1, [put("h", "a", "1"), put("h", "b", "2")]), LOCAL);
        assert.equal(engine.stats.flushes, 0);
        await engine.apply(mutation(2, [put("h", "c", "3")]), LOCAL);
        assert.equal(engine.stats.flushes, 1);
        assert.equal(engine.stats.unflushedEntries, 0);
        assert.equal(storedDecree(engine), 2);
      },
      { unflushedEntriesMax: 3 },
    );
  });

  it("a sweep step flushes first, in its own transaction", async () => {
    await withEngine(async (engine) => {
      await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
      await engine.sweep({ budget: 10 });
      assert.equal(engine.stats.writeTransactions, 1);
      assert.equal(engine.stats.flushes, 1);
      assert.equal(storedDecree(engine), 1);
    });
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
        assert.equal(engine.stats.flushFailures, 1);
        assert.equal(engine.stats.unflushedEntries, 1);
        assert.deepEqual(readRecord(engine, "h", "s")?.value, b("v"));
        assert.equal(storedDecree(engine), 0);
        assert.equal(lines.filter((l) => l.msg.startsWith("storage flush failed")).length, 1);
        await assert.rejects(engine.flush(), hasCode("ERR_FILE_OPERATION_FAILED"));
        // Retried on the next interval once the disk is back.
        diskBack();
        t.mock.timers.tick(50);
        assert.equal(engine.stats.flushes, 1);
        assert.equal(storedDecree(engine), 1);
      },
      { logger, flushIntervalMs: 50 },
    );
  });

  it("applies beyond four times the bounds wait for a flush, and fail if it cannot happen", async () => {
    await withEngine(
      async (engine) => {
        const diskBack = failLmdbWrites(engine);
        // Entries max 1: each apply tries a flush, which fails; the fourth entry reaches the hard bound.
        for (let d = 1; d <= 4; d++) {
          await engine.apply(mutation(d, [put("h", `s${d}`, "v")]), LOCAL);
        }
        await assert.rejects(
          engine.apply(mutation(5, [put("h", "s5", "v")]), LOCAL),
          hasCode("ERR_FILE_OPERATION_FAILED"),
        );
        assert.equal(engine.lastAppliedDecree, 4);
        diskBack();
        // The apply flushes the four held back first, then (entries max 1) its own.
        await engine.apply(mutation(5, [put("h", "s5", "v")]), LOCAL);
        assert.equal(engine.stats.flushes, 2);
        assert.equal(storedDecree(engine), 5);
        assert.equal(engine.lastAppliedDecree, 5);
      },
      { unflushedEntriesMax: 1, logger: pino({ level: "silent" }) },
    );
  });

  it("counts slow write transactions and warns once per interval", async () => {
    const lines: { msg: string; operation?: string; slowWriteTransactions?: number }[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    // Every transaction takes at least 0 ms, so each one counts as slow.
    await withEngine(
      async (engine) => {
        await engine.apply(mutation(1, [put("h", "s", "v")]), LOCAL);
        await engine.flush();
        await engine.apply(mutation(2, [put("h", "t", "w")]), LOCAL);
        await engine.sweep({ budget: 10 });
        assert.equal(engine.stats.slowWriteTransactions, 2);
      },
      { logger, slowWriteTransactionMs: 0 },
    );
    const warnings = lines.filter((l) => l.msg.startsWith("slow lmdb write transaction"));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.operation, "flush");
    assert.equal(warnings[0]?.slowWriteTransactions, 1);
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
      const { open } = await import("lmdb");
      const root = open({ path, maxDbs: 4 });
      const meta = root.openDB<Buffer, Buffer>({
        name: "meta",
        keyEncoding: "binary",
        encoding: "binary",
      });
      const version = Buffer.alloc(4);
      version.writeUInt32BE(99);
      await meta.put(Buffer.from("format_version"), version);
      await root.close();
      await assert.rejects(openEngine(path, clock), hasCode("ERR_INVALID_VERSION"));
    });
  });
});
