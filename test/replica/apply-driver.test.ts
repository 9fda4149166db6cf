import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  ApplyDriver,
  SECONDARY_APPLY_BATCH_MAX,
  SECONDARY_APPLY_DELAY_MS,
} from "../../src/replica/apply-driver.ts";
import type { StorageEngine } from "../../src/storage/index.ts";
import { b, LOCAL, mutation, put, readRecord, withEngine } from "../storage/engine-fixture.ts";

const hasCode = (code: string) => (error: unknown) => isTalariaError(error) && error.code === code;

/** A driver over `engine` counting onApplied calls and collecting errors. */
function driverOver(engine: StorageEngine) {
  const seen = { applied: 0, errors: [] as unknown[] };
  const driver = new ApplyDriver(
    engine,
    () => {
      seen.applied++;
    },
    (error) => seen.errors.push(error),
  );
  return { driver, seen };
}

const write = (decree: number) => mutation(decree, [put("h", `s${decree}`, `v${decree}`)]);

describe("ApplyDriver: deferred (secondary) applies", () => {
  it("holds deferred applies until the delay, then applies them in one transaction", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      await withEngine(async (engine) => {
        const { driver, seen } = driverOver(engine);
        const applied = [1, 2, 3].map((d) => driver.apply(write(d), LOCAL, { defer: true }));
        assert.equal(driver.deferredCount, 3);
        assert.equal(engine.lastAppliedDecree, 0);
        mock.timers.tick(SECONDARY_APPLY_DELAY_MS - 1);
        assert.equal(engine.lastAppliedDecree, 0);
        mock.timers.tick(1);
        assert.equal(engine.lastAppliedDecree, 3);
        assert.equal(driver.deferredCount, 0);
        const results = await Promise.all(applied);
        assert.deepEqual(
          results.map((r) => r.decree),
          [1, 2, 3],
        );
        assert.equal(engine.stats.writeTransactions, 1);
        assert.equal(engine.stats.mutationsApplied, 3);
        assert.deepEqual(readRecord(engine, "h", "s2")?.value, b("v2"));
        assert.equal(seen.applied, 1);
        assert.deepEqual(seen.errors, []);
      });
    } finally {
      mock.timers.reset();
    }
  });

  it("a non-deferred apply hands the deferred ones over first, in decree order", async () => {
    await withEngine(async (engine) => {
      const { driver } = driverOver(engine);
      const first = driver.apply(write(1), LOCAL, { defer: true });
      const second = driver.apply(write(2), LOCAL, { defer: true });
      const third = driver.apply(write(3), LOCAL);
      assert.equal(engine.lastAppliedDecree, 3);
      assert.deepEqual(
        (await Promise.all([first, second, third])).map((r) => r.decree),
        [1, 2, 3],
      );
      assert.equal(engine.stats.writeTransactions, 2);
    });
  });

  it("hands them over at once on flushDeferred, settled() and whenApplied of a deferred decree", async () => {
    await withEngine(async (engine) => {
      const { driver } = driverOver(engine);
      void driver.apply(write(1), LOCAL, { defer: true });
      driver.flushDeferred();
      assert.equal(engine.lastAppliedDecree, 1);

      void driver.apply(write(2), LOCAL, { defer: true });
      await driver.settled();
      assert.equal(engine.lastAppliedDecree, 2);

      void driver.apply(write(3), LOCAL, { defer: true });
      void driver.apply(write(4), LOCAL, { defer: true });
      await driver.whenApplied(3);
      assert.equal(engine.lastAppliedDecree, 4);
      assert.equal(driver.deferredCount, 0);
    });
  });

  it("applies a full batch without waiting for the delay", async () => {
    await withEngine(async (engine) => {
      const { driver } = driverOver(engine);
      const applied = [];
      for (let decree = 1; decree <= SECONDARY_APPLY_BATCH_MAX; decree++) {
        applied.push(driver.apply(write(decree), LOCAL, { defer: true }));
      }
      assert.equal(engine.lastAppliedDecree, SECONDARY_APPLY_BATCH_MAX);
      assert.equal(driver.deferredCount, 0);
      await Promise.all(applied);
      assert.equal(engine.stats.writeTransactions, 1);
    });
  });

  it("a failing mutation fails its whole batch, reports once per batch, and applies nothing", async () => {
    await withEngine(async (engine) => {
      const { driver, seen } = driverOver(engine);
      const bad = mutation(2, [{ ...put("h", "s", "v"), hashKey: Buffer.alloc(70_000) }]);
      const first = driver.apply(write(1), LOCAL, { defer: true });
      const second = driver.apply(bad, LOCAL, { defer: true });
      await driver.settled();
      await assert.rejects(first, hasCode("ERR_INVALID_HASH_KEY"));
      await assert.rejects(second, hasCode("ERR_INVALID_HASH_KEY"));
      assert.equal(engine.lastAppliedDecree, 0);
      assert.equal(readRecord(engine, "h", "s1"), undefined);
      assert.equal(seen.errors.length, 1);
    });
  });
});
