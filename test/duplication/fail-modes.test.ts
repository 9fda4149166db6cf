/** Fail modes on plog read failures and on shipping failures; log truncation and the log-hold bound. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Mutation } from "../../src/codec/mutation.ts";
import { resolveSourceOptions, retryDelayMs } from "../../src/duplication/index.ts";
import {
  CoreDriver,
  duplicated,
  err,
  keysInPartition,
  mutation,
  put,
  TEST_OPTIONS,
} from "./core-driver.ts";

const log5 = () => [1, 2, 3, 4, 5].map((d) => mutation(d, [put(`k${d}`, "s")]));

describe("FAIL_SLOW", () => {
  it("retries a failing plog read forever, backing off up to the cap", () => {
    let failures = 0;
    const driver = new CoreDriver(log5(), {
      load: () =>
        failures++ < 40 ? { error: err("ERR_FILE_OPERATION_FAILED", "read failed") } : "ok",
    });
    driver.run(5000, 10);
    assert.equal(driver.core.snapshot().lastDecree, 5);
    assert.equal(driver.core.stats.loadFailures, 40);
    assert.equal(driver.deadLetters.length, 0);
    assert.equal(driver.actionsOf("PAUSED_WITH_ERROR").length, 0);
    const options = resolveSourceOptions(TEST_OPTIONS);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 30].map((n) => retryDelayMs(options, n)),
      [10, 20, 40, 80, 80, 80],
    );
  });

  it("retries a failing request, unchanged, until the remote takes it", () => {
    let failures = 0;
    const driver = new CoreDriver(log5(), {
      ship: () =>
        failures++ < 25 ? { error: err("ERR_DUP_CLUSTER_ID_REFUSED", "misconfigured") } : "ack",
    });
    driver.run(5000, 10);
    assert.equal(driver.core.snapshot().lastDecree, 5);
    const ships = driver.actionsOf("SHIP");
    assert.equal(ships.length, 26);
    for (const ship of ships) assert.deepEqual(ship.entries, ships[0]?.entries);
    assert.equal(driver.core.stats.failedShips, 25);
  });

  it("does not resend before the backoff delay", () => {
    const driver = new CoreDriver(log5(), { ship: () => ({ error: err() }) });
    driver.tick();
    driver.completeOne(); // load
    driver.completeOne(); // ship fails (1st)
    driver.tick(5);
    assert.equal(driver.actionsOf("SHIP").length, 1);
    driver.tick(5);
    assert.equal(driver.actionsOf("SHIP").length, 2);
    driver.completeOne(); // fails (2nd): 20 ms
    driver.tick(19);
    assert.equal(driver.actionsOf("SHIP").length, 2);
    driver.tick(1);
    assert.equal(driver.actionsOf("SHIP").length, 3);
  });
});

describe("FAIL_SKIP", () => {
  it("dead-letters a request the remote keeps refusing and ships the rest", () => {
    const [bad] = keysInPartition("bad", 1, 2, 1);
    const [good] = keysInPartition("good", 0, 2, 1);
    const log = [
      mutation(1, [put(bad as string, "1")]),
      mutation(2, [put(good as string, "1")]),
      mutation(3, [put(good as string, "2")]),
    ];
    const driver = new CoreDriver(
      log,
      {
        ship: (s) =>
          s.targetPartition === 1 ? { error: err("ERR_INVALID_PARAMETERS", "garbage") } : "ack",
      },
      {},
      { failMode: "FAIL_SKIP", targetPartitionCount: 2 },
    );
    driver.run();
    assert.equal(driver.core.snapshot().lastDecree, 3);
    assert.equal(driver.deadLetters.length, 1);
    const [letter] = driver.deadLetters;
    assert.equal(letter?.kind, "ship");
    assert.equal(letter?.targetPartition, 1);
    assert.equal(letter?.attempts, 3);
    assert.equal(letter?.entries[0]?.update.hashKey.toString(), bad);
    assert.equal(letter?.error.code, "ERR_INVALID_PARAMETERS");
    assert.equal(driver.core.stats.deadLetteredEntries, 1);
    assert.equal(driver.acked.flatMap((s) => s.entries).length, 2);
  });

  it("does not move on until the dead letter is durable", () => {
    let storeFailures = 0;
    const driver = new CoreDriver(
      log5(),
      {
        ship: () => ({ error: err() }),
        deadLetter: () =>
          storeFailures++ < 4 ? err("ERR_FILE_OPERATION_FAILED", "disk full") : "ok",
      },
      {},
      { failMode: "FAIL_SKIP" },
    );
    driver.run(2000, 10);
    assert.equal(driver.core.snapshot().lastDecree, 5);
    assert.equal(driver.core.stats.deadLetterWriteFailures, 4);
    assert.equal(driver.deadLetters.flatMap((l) => l.entries).length, 5, "nothing dropped");
  });

  it("skips an unreadable decree after N failed reads, recording it", () => {
    const driver = new CoreDriver(
      log5(),
      {
        load: (load) =>
          load.fromDecree === 3 ? { error: err("ERR_CORRUPTION", "bad block") } : "ok",
      },
      { batchBytes: 0 },
      { failMode: "FAIL_SKIP" },
    );
    driver.run(2000, 10);
    assert.equal(driver.core.snapshot().lastDecree, 5);
    assert.deepEqual(
      driver.deadLetters.map((l) => [
        l.kind,
        l.fromDecree,
        l.toDecree,
        l.entries.length,
        l.attempts,
      ]),
      [["load", 3, 3, 0, 3]],
    );
    assert.deepEqual(
      driver.acked.flatMap((s) => s.entries.map((e) => e.update.hashKey.toString())).sort(),
      ["k1", "k2", "k4", "k5"],
    );
  });
});

describe("FAIL_FAST", () => {
  for (const where of ["load", "ship"] as const) {
    it(`pauses with the error recorded on ${where} failures, until paused and started again`, () => {
      let failing = true;
      const failure = { error: err("ERR_APP_NOT_EXIST", "no such table") };
      const driver = new CoreDriver(
        log5(),
        where === "load"
          ? { load: () => (failing ? failure : "ok") }
          : { ship: () => (failing ? failure : "ack") },
        {},
        { failMode: "FAIL_FAST" },
      );
      driver.run(500, 10);
      const snapshot = driver.core.snapshot();
      assert.equal(snapshot.phase, "paused");
      assert.equal(snapshot.pausedWithError?.code, "ERR_APP_NOT_EXIST");
      const paused = driver.actionsOf("PAUSED_WITH_ERROR");
      assert.equal(paused.length, 1);
      assert.equal(paused[0]?.atDecree, 1);
      assert.equal(driver.core.gcHoldDecree(), 1, "a paused duplication holds its log");
      // Meta still says DS_LOG in every sync until an operator acts: no flapping.
      const before = driver.actions.length;
      driver.step({ type: "CONFIGURE", status: "start" });
      driver.tick(1000);
      assert.equal(driver.actions.length, before);
      failing = false;
      driver.step({ type: "CONFIGURE", status: "pause" });
      driver.step({ type: "CONFIGURE", status: "start" });
      driver.run();
      assert.equal(driver.core.snapshot().lastDecree, 5);
      assert.equal(driver.core.snapshot().pausedWithError, undefined);
    });
  }
});

describe("falling out of the log", () => {
  it("reports log_truncated when the plog no longer holds the next decree", () => {
    const driver = new CoreDriver(log5(), {
      load: () => ({ error: err("ERR_OBJECT_NOT_FOUND", "garbage-collected"), truncated: true }),
    });
    driver.run();
    const [truncated] = driver.actionsOf("LOG_TRUNCATED");
    assert.equal(truncated?.reason, "log_gone");
    assert.equal(truncated?.firstMissingDecree, 1);
    assert.equal(driver.core.gcHoldDecree(), undefined);
    driver.step({ type: "CONFIGURE", status: "start" });
    driver.tick(1000);
    assert.equal(driver.core.snapshot().phase, "log_truncated");
  });

  it("reports log_truncated when the log starts after the decree it needs", () => {
    const driver = new CoreDriver(log5());
    driver.tick();
    const [load] = driver.actionsOf("LOAD");
    driver.step({
      type: "BATCH_LOADED",
      loadId: load?.loadId ?? 0,
      mutations: log5().slice(2),
      bytes: 10,
    });
    assert.equal(driver.actionsOf("LOG_TRUNCATED")[0]?.firstMissingDecree, 1);
  });

  it("treats a batch with a gap or beyond the committed decree as a failed read", () => {
    const driver = new CoreDriver(log5());
    driver.tick();
    const [load] = driver.actionsOf("LOAD");
    const log = log5();
    driver.step({
      type: "BATCH_LOADED",
      loadId: load?.loadId ?? 0,
      mutations: [log[0], log[2]].filter((m) => m !== undefined),
      bytes: 10,
    });
    assert.equal(driver.core.stats.loadFailures, 1);
    assert.equal(driver.core.snapshot().lastError?.code, "ERR_INVALID_DATA");
    driver.run();
    assert.equal(driver.core.snapshot().lastDecree, 5);
  });

  it("holds the log above the confirmed decree up to dup_max_retained_log_bytes", () => {
    const driver = new CoreDriver(
      log5(),
      { ship: () => ({ error: err() }) },
      { retainedLogBytesMax: 1000 },
    );
    driver.tick(10, 999);
    assert.equal(driver.core.gcHoldDecree(), 1);
    driver.tick(10, 1001);
    const [truncated] = driver.actionsOf("LOG_TRUNCATED");
    assert.equal(truncated?.reason, "retained_bytes");
    assert.equal(driver.core.gcHoldDecree(), undefined);
  });

  it("while the table receives a re-sync the byte bound waits; the age bound does not", () => {
    const driver = new CoreDriver(
      log5(),
      { ship: () => ({ error: err() }) },
      { retainedLogBytesMax: 1000, retainedLogMsMax: 60_000 },
    );
    driver.tick(10, 5000, true);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0, "a re-sync's writes fill the log");
    assert.equal(driver.core.gcHoldDecree(), 1);
    driver.tick(61_000, 5000, true);
    const [truncated] = driver.actionsOf("LOG_TRUNCATED");
    assert.equal(truncated?.reason, "retained_seconds");
  });

  it("past the re-sync the byte bound applies again", () => {
    const driver = new CoreDriver(
      log5(),
      { ship: () => ({ error: err() }) },
      { retainedLogBytesMax: 1000 },
    );
    driver.tick(10, 5000, true);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0);
    driver.tick(10, 5000);
    assert.equal(driver.actionsOf("LOG_TRUNCATED")[0]?.reason, "retained_bytes");
  });

  it("the byte bound also waits until the confirmed decree passed the last re-sync write", () => {
    // Decrees 3..4 of the log hold a received re-sync's writes; they stopped arriving, but this
    // duplication has not passed them yet (it was re-syncing or cut off itself meanwhile).
    const driver = new CoreDriver(
      log5(),
      { ship: () => ({ error: err() }) },
      { retainedLogBytesMax: 1000, retainedLogMsMax: 60_000 },
    );
    driver.tick(10, 5000, false, 4);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0, "confirmed 0 < 4: waits");
    driver.step({ type: "CONFIRMED", confirmedDecree: 3 });
    driver.tick(10, 5000);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0, "the decree is kept: 3 < 4");
    driver.step({ type: "CONFIRMED", confirmedDecree: 4 });
    driver.tick(10, 5000);
    assert.equal(driver.actionsOf("LOG_TRUNCATED")[0]?.reason, "retained_bytes", "passed: counts");
    const aged = new CoreDriver(
      log5(),
      { ship: () => ({ error: err() }) },
      { retainedLogBytesMax: 1000, retainedLogMsMax: 60_000 },
    );
    aged.tick(61_000, 5000, false, 4);
    assert.equal(
      aged.actionsOf("LOG_TRUNCATED")[0]?.reason,
      "retained_seconds",
      "age still counts",
    );
  });

  it("holds the log up to dup_max_retained_log_seconds of unconfirmed mutations", () => {
    const log = log5();
    const driver = new CoreDriver(log, {}, { retainedLogMsMax: 60_000 });
    driver.run();
    assert.equal(driver.core.snapshot().lastDecree, 5);
    // Shipped, but meta never confirms (it is unreachable): the hold ages.
    driver.tick(30_000);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0);
    driver.step({ type: "CONFIRMED", confirmedDecree: 3 });
    driver.tick(29_000);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0);
    driver.tick(2_000);
    const [truncated] = driver.actionsOf("LOG_TRUNCATED");
    assert.equal(truncated?.reason, "retained_seconds");
    assert.equal(truncated?.firstMissingDecree, 4);
  });

  it("does not ship a batch whose first write is older than the age bound by its own time", () => {
    /** A fresh core that loads `mutations` at `wallNowMs` on the source's wall clock. */
    const loadAt = (mutations: Mutation[], wallNowMs: number): CoreDriver => {
      const driver = new CoreDriver(mutations, {}, { retainedLogMsMax: 60_000 });
      driver.tick();
      const [load] = driver.actionsOf("LOAD");
      assert.ok(load);
      driver.step({ type: "BATCH_LOADED", loadId: load.loadId, mutations, bytes: 100, wallNowMs });
      return driver;
    };
    // A shipper that starts long after the writes (after a re-sync or an outage): its marks
    // start now, but the writes' timestamps (1 s + decree µs) say how old they are.
    const old = loadAt(log5(), 1_000 + 60_001);
    const [truncated] = old.actionsOf("LOG_TRUNCATED");
    assert.equal(truncated?.reason, "retained_seconds");
    assert.equal(truncated?.firstMissingDecree, 1);
    assert.match(truncated?.message ?? "", /decree 1 was written 60 s ago/);
    assert.equal(old.actionsOf("SHIP").length, 0, "nothing shipped");
    // Within the bound it ships.
    const young = loadAt(log5(), 1_000 + 59_000);
    assert.equal(young.actionsOf("LOG_TRUNCATED").length, 0);
    assert.ok(young.actionsOf("SHIP").length > 0);
    // Received writes are never shipped on: an old one ahead of young local writes (the other
    // direction's re-sync landed while this duplication re-synced itself) does not count.
    const mixed = [
      { ...mutation(1, [duplicated("from-remote")]), timestampUs: 1_000_000 },
      { ...mutation(2, [put("k2", "s")]), timestampUs: 59_000_000 },
    ];
    const receiving = loadAt(mixed, 1_000 + 60_001);
    assert.equal(receiving.actionsOf("LOG_TRUNCATED").length, 0, "decree 2 is 2 s old");
  });

  it("does not age a duplication whose every decree is confirmed", () => {
    const driver = new CoreDriver(log5(), {}, { retainedLogMsMax: 1000 });
    driver.run();
    driver.step({ type: "CONFIRMED", confirmedDecree: 5 });
    driver.tick(100_000);
    assert.equal(driver.actionsOf("LOG_TRUNCATED").length, 0);
    assert.equal(driver.core.gcHoldDecree(), 6);
  });
});
