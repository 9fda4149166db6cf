import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, mock } from "node:test";
import { makeTimetag } from "../../src/codec/timetag.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { type StorageEngine, sweepSteps } from "../../src/storage/engine.ts";
import { SWEEP_STEP_RECORDS_MAX } from "../../src/storage/sweep.ts";
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

  it("while tombstones are held collects nothing: old tombstones stay, old expired records become tombstones", async () => {
    await withEngine(async (engine, clock) => {
      const writeUs = clock.nowUs();
      await engine.apply(
        mutation(
          1,
          [put("h", "a", "v"), put("h", "ttl", "v", engine.epochNow() + 5), put("h", "b", "v")],
          writeUs,
        ),
        LOCAL,
      );
      await engine.apply(mutation(2, [remove("h", "a")], writeUs), LOCAL);
      clock.advanceMs((RETENTION_S + 10) * 1000);
      assert.deepEqual(await engine.sweep({ budget: 100, holdTombstones: true }), {
        expired: 1,
        tombstonesCollected: 0,
        budgetExhausted: false,
      });
      assert.equal(readRecord(engine, "h", "a")?.timetag, makeTimetag(writeUs, 1, true));
      assert.equal(readRecord(engine, "h", "ttl")?.timetag, makeTimetag(writeUs, 1, true));
      // Released: the next pass collects both.
      assert.deepEqual(await engine.sweep({ budget: 100 }), {
        expired: 0,
        tombstonesCollected: 2,
        budgetExhausted: false,
      });
      assert.equal(readRecord(engine, "h", "a"), undefined);
      assert.equal(readRecord(engine, "h", "ttl"), undefined);
      assert.deepEqual(readRecord(engine, "h", "b")?.value, b("v"));
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
      assert.equal([...engine.data.getRange({})].length, 0);
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

  it("asks holdTombstones before every step", async () => {
    mock.timers.enable({ apis: ["setInterval"] });
    try {
      await withEngine(async (engine, clock) => {
        const writeUs = clock.nowUs();
        await engine.apply(mutation(1, [put("h", "a", "v")], writeUs), LOCAL);
        await engine.apply(mutation(2, [remove("h", "a")], writeUs), LOCAL);
        clock.advanceMs((RETENTION_S + 10) * 1000);
        let held = true;
        let asked = 0;
        engine.startSweeper({
          intervalMs: 1_000,
          budget: 10,
          holdTombstones: () => {
            asked++;
            return held;
          },
        });
        mock.timers.tick(1_000);
        await engine.settled();
        assert.equal(asked, 1);
        assert.ok(readRecord(engine, "h", "a"), "held: the tombstone stays");
        held = false;
        mock.timers.tick(1_000);
        await engine.settled();
        assert.equal(asked, 2);
        assert.equal(readRecord(engine, "h", "a"), undefined, "released: collected");
      }, options);
    } finally {
      mock.timers.reset();
    }
  });

  it("spreads each interval's budget over steps of at most SWEEP_STEP_RECORDS_MAX", async () => {
    // [intervalMs, budget] → [stepRecords, stepIntervalMs]
    const cases: [number, number, number, number][] = [
      [60_000, 10_000, 1_000, 6_000],
      [60_000, 2_500, 833, 20_000],
      [1_000, 10, 10, 1_000],
      [1, 100_000, 1_000, 1],
    ];
    for (const [intervalMs, budget, stepRecords, stepIntervalMs] of cases) {
      assert.deepEqual(sweepSteps({ intervalMs, budget }), { stepRecords, stepIntervalMs });
    }
    mock.timers.enable({ apis: ["setInterval"] });
    try {
      await withTempDir(async (dir) => {
        const clock = new ManualClock(START_US);
        const engine = await openEngine(join(dir, "env"), clock, options);
        const records = 2 * SWEEP_STEP_RECORDS_MAX + 10;
        const expiresAt = engine.epochNow() + 1;
        const updates = Array.from({ length: records }, (_, i) =>
          put("h", `s${String(i).padStart(6, "0")}`, "v", expiresAt),
        );
        await engine.apply(mutation(1, updates, clock.nowUs()), LOCAL);
        clock.advanceMs(5_000);
        const steps = spyOnSweepSteps(engine);
        // 2,001 records per 3,000 ms: 3 steps of 667 records, one every 1,000 ms.
        engine.startSweeper({ intervalMs: 3_000, budget: 2 * SWEEP_STEP_RECORDS_MAX + 1 });
        mock.timers.tick(999);
        assert.deepEqual(steps.budgets, [], "no step before its time");
        for (let step = 1; step <= 4; step++) {
          const done = steps.next();
          mock.timers.tick(step === 1 ? 1 : 1_000);
          await done;
          await new Promise((resolve) => setImmediate(resolve)); // the step has let go
        }
        assert.deepEqual(steps.budgets, [667, 667, 667, 667], "one step per tick, never a burst");
        // The fourth step reached the last key after 9 records: every expired record is swept.
        assert.equal(engine.stats.expiredSwept, records);
        await engine.close();
      });
    } finally {
      mock.timers.reset();
    }
  });
});

/** Records the budget of each sweep step; next() resolves when the next step has ended. */
function spyOnSweepSteps(engine: StorageEngine): { budgets: number[]; next(): Promise<void> } {
  const budgets: number[] = [];
  let onEnd: (() => void) | undefined;
  const original = engine.sweep.bind(engine);
  engine.sweep = async (options) => {
    budgets.push(options.budget);
    const result = await original(options);
    onEnd?.();
    return result;
  };
  return {
    budgets,
    next: () =>
      new Promise<void>((resolve) => {
        onEnd = resolve;
      }),
  };
}
