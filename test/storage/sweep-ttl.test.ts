import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, mock } from "node:test";
import { makeTimetag } from "../../src/codec/timetag.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  b,
  duplicate,
  entry,
  LOCAL,
  mutation,
  openEngine,
  put,
  readRecord,
  remove,
  START_US,
  withEngine,
  withTempDir,
} from "./engine-fixture.ts";

const RETENTION_S = 3_600;
const options = { tombstoneRetentionSeconds: RETENTION_S };

describe("StorageEngine.sweep", () => {
  it("turns expired records into tombstones with their own timetag, keeps live ones", async () => {
    await withEngine(async (engine, clock) => {
      const now = engine.epochNow();
      await engine.apply(
        mutation(1, [
          put("h", "ttl", "v", now + 10),
          put("h", "forever", "v"),
          put("h", "later", "v", now + 1_000),
        ]),
        LOCAL,
      );
      clock.advanceMs(20_000);
      const result = await engine.sweep({ budget: 100 });
      assert.deepEqual(result, { expired: 1, tombstonesCollected: 0, budgetExhausted: false });
      const tombstone = readRecord(engine, "h", "ttl");
      assert.equal(tombstone?.timetag, makeTimetag(START_US + 1, LOCAL.clusterId, true));
      assert.equal(tombstone?.expireTs, 0);
      assert.equal(tombstone?.value.length, 0);
      assert.deepEqual(readRecord(engine, "h", "forever")?.value, b("v"));
      assert.deepEqual(readRecord(engine, "h", "later")?.value, b("v"));
      assert.equal(engine.lastAppliedDecree, 1, "sweeping never moves the decree");

      // The tombstone keeps an older duplicated put from resurrecting the key.
      const late = await engine.apply(
        mutation(2, [duplicate(entry(START_US, 9, put("h", "ttl", "old")))]),
        LOCAL,
      );
      assert.equal(late.staleEntriesSkipped, 1);
    }, options);
  });

  it("collects tombstones once they are older than the retention", async () => {
    await withEngine(async (engine, clock) => {
      const writeUs = clock.nowUs();
      await engine.apply(mutation(1, [put("h", "a", "v"), put("h", "b", "v")], writeUs), LOCAL);
      await engine.apply(mutation(2, [remove("h", "a")], writeUs), LOCAL);
      clock.advanceMs((RETENTION_S - 1) * 1000);
      assert.equal((await engine.sweep({ budget: 100 })).tombstonesCollected, 0);
      assert.ok(readRecord(engine, "h", "a"));
      clock.advanceMs(2_000);
      const result = await engine.sweep({ budget: 100 });
      assert.deepEqual(result, { expired: 0, tombstonesCollected: 1, budgetExhausted: false });
      assert.equal(readRecord(engine, "h", "a"), undefined);
      assert.ok(readRecord(engine, "h", "b"));
      assert.equal(engine.lastAppliedDecree, 2);
    }, options);
  });

  it("removes an expired record directly when it is already beyond the retention", async () => {
    await withEngine(async (engine, clock) => {
      await engine.apply(
        mutation(1, [put("h", "s", "v", engine.epochNow() + 5)], clock.nowUs()),
        LOCAL,
      );
      clock.advanceMs((RETENTION_S + 10) * 1000);
      assert.deepEqual(await engine.sweep({ budget: 10 }), {
        expired: 1,
        tombstonesCollected: 0,
        budgetExhausted: false,
      });
      assert.equal(readRecord(engine, "h", "s"), undefined);
    }, options);
  });

  it("examines at most `budget` records per call, resumes, and cycles", async () => {
    await withEngine(async (engine, clock) => {
      const expireTs = engine.epochNow() + 1;
      const puts = Array.from({ length: 10 }, (_, i) => put("h", `k${i}`, "v", expireTs));
      await engine.apply(mutation(1, puts, clock.nowUs()), LOCAL);
      clock.advanceMs(5_000);
      const steps = [];
      for (let i = 0; i < 4; i++) steps.push(await engine.sweep({ budget: 3 }));
      assert.deepEqual(
        steps.map((s) => [s.expired, s.budgetExhausted]),
        [
          [3, true],
          [3, true],
          [3, true],
          [1, false],
        ],
      );
      // The next call starts over: everything is a (recent) tombstone now.
      assert.deepEqual(await engine.sweep({ budget: 100 }), {
        expired: 0,
        tombstonesCollected: 0,
        budgetExhausted: false,
      });
      clock.advanceMs(RETENTION_S * 1000);
      assert.equal((await engine.sweep({ budget: 100 })).tombstonesCollected, 10);
      assert.equal([...engine.data.getKeys({})].length, 0);
    }, options);
  });

  it("runs through the same queue as applies", async () => {
    await withEngine(async (engine, clock) => {
      await engine.apply(
        mutation(1, [put("h", "s", "v", engine.epochNow() + 1)], clock.nowUs()),
        LOCAL,
      );
      clock.advanceMs(5_000);
      // Submitted together: the sweep sees decree 2's fresh put, not the expired record.
      const applied = engine.apply(mutation(2, [put("h", "s", "fresh")], clock.nowUs()), LOCAL);
      const swept = engine.sweep({ budget: 10 });
      await applied;
      assert.equal((await swept).expired, 0);
      assert.deepEqual(readRecord(engine, "h", "s")?.value, b("fresh"));
    }, options);
  });

  it("rejects budgets outside [1, SWEEP_BUDGET_RECORDS_MAX]", async () => {
    await withEngine(async (engine) => {
      for (const budget of [0, 1.5, 1_000_000]) {
        await assert.rejects(engine.sweep({ budget }), (e: unknown) =>
          isTalariaError(e, "ERR_INVALID_PARAMETERS"),
        );
      }
    });
  });
});

describe("StorageEngine.startSweeper", () => {
  it("sweeps on its interval and stops on close", async () => {
    mock.timers.enable({ apis: ["setInterval"] });
    try {
      await withTempDir(async (dir) => {
        const clock = new ManualClock(START_US);
        const path = join(dir, "env");
        const engine = await openEngine(path, clock, options);
        await engine.apply(
          mutation(1, [put("h", "s", "v", engine.epochNow() + 1)], clock.nowUs()),
          LOCAL,
        );
        clock.advanceMs(5_000);
        engine.startSweeper({ intervalMs: 1_000, budget: 10 });
        assert.throws(() => engine.startSweeper({ intervalMs: 1_000, budget: 10 }));
        mock.timers.tick(999);
        await engine.flush();
        assert.deepEqual(
          readRecord(engine, "h", "s")?.value,
          b("v"),
          "no sweep before the interval",
        );
        mock.timers.tick(1);
        await engine.close(); // waits for the sweep the tick started
        const reopened = await openEngine(path, clock, options);
        try {
          assert.equal(
            readRecord(reopened, "h", "s")?.timetag,
            makeTimetag(clock.nowUs() - 5_000_000, 1, true),
          );
          assert.equal(reopened.lastAppliedDecree, 1);
        } finally {
          await reopened.close();
        }
      });
    } finally {
      mock.timers.reset();
    }
  });
});
