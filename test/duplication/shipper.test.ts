/** The DuplicationShipper runtime with fake ports: a misbehaving remote is data, never a crash. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import type { DuplicateEntry, Mutation } from "../../src/codec/mutation.ts";
import { encodeMutation } from "../../src/codec/mutation-codec.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { TalariaError } from "../../src/common/errors.ts";
import {
  type DuplicationLogReader,
  DuplicationShipper,
  type DuplicationShipperOptions,
  entryPartitionIndex,
  MemoryDeadLetterStore,
  type RemoteTableWithCount,
  runStatusOf,
} from "../../src/duplication/index.ts";
import type { LogRecord } from "../../src/plog/index.ts";
import { duplicated, keysInPartition, mutation, put } from "./core-driver.ts";

function memoryLog(
  mutations: Mutation[],
): DuplicationLogReader & { mutations: Mutation[]; firstDecree: number } {
  const reader = {
    mutations,
    firstDecree: 1,
    read: async (from: number, options: { bytesMax: number; toDecree?: number }) => {
      if (from < reader.firstDecree) {
        throw new TalariaError("ERR_OBJECT_NOT_FOUND", `decree ${from} was garbage-collected`);
      }
      const out: LogRecord[] = [];
      let bytes = 0;
      for (const m of reader.mutations) {
        if (m.decree < from || m.decree > (options.toDecree ?? Number.MAX_SAFE_INTEGER)) continue;
        if (out.length > 0 && bytes >= options.bytesMax) break;
        const payload = encodeMutation(m);
        out.push({ decree: m.decree, payload });
        bytes += payload.length;
      }
      return out;
    },
    committedDecree: () => reader.mutations[reader.mutations.length - 1]?.decree ?? 0,
    retainedBytesFrom: () => 0,
  };
  return reader;
}

const options: DuplicationShipperOptions = {
  dupid: 7,
  gpid: "1.0",
  sourceClusterId: 1,
  retryDelayMsMin: 1,
  retryDelayMsMax: 4,
  shipTimeoutMs: 1000,
};

/** Ticks (advancing the manual clock) until `done()` or the budget runs out. */
async function drive(shipper: DuplicationShipper, clock: ManualClock, done: () => boolean) {
  for (let i = 0; i < 2000 && !done(); i++) {
    clock.advanceMs(5);
    shipper.tick();
    await shipper.settled();
  }
}

function remote(
  count: number,
  handler: (partition: number, entries: readonly DuplicateEntry[]) => Promise<unknown>,
): RemoteTableWithCount & { calls: number } {
  const port = {
    calls: 0,
    partitionCount: async () => count,
    duplicate: async (partition: number, entries: readonly DuplicateEntry[]) => {
      port.calls++;
      return handler(partition, entries);
    },
  };
  return port;
}

describe("DuplicationShipper", () => {
  it("asks the remote's partition count, ships everything and reports progress", async () => {
    const keys = keysInPartition("u", 0, 1, 20);
    const log = memoryLog(keys.map((k, i) => mutation(i + 1, [put(k, "s")])));
    log.mutations.push(mutation(21, [duplicated("from-elsewhere")]));
    const received = new Map<number, string[]>();
    const clock = new ManualClock(1_000_000);
    const progress: number[] = [];
    const shipper = new DuplicationShipper(options, {
      log,
      remote: remote(3, async (partition, entries) => {
        for (const e of entries) assert.equal(entryPartitionIndex(e.update, 3), partition);
        received.set(partition, [
          ...(received.get(partition) ?? []),
          ...entries.map((e) => e.update.hashKey.toString()),
        ]);
        return { decree: 1 };
      }),
      deadLetters: new MemoryDeadLetterStore(),
      init: { confirmedDecree: 0, targetPartitionCount: 0, failMode: "FAIL_SLOW", status: "start" },
      timeClock: clock,
      clock,
      reports: { onProgress: (d) => progress.push(d) },
    });
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 21);
    assert.equal(shipper.snapshot().lastDecree, 21);
    assert.equal(shipper.snapshot().targetPartitionCount, 3);
    assert.equal([...received.values()].flat().length, 20);
    assert.equal(progress[progress.length - 1], 21);
    shipper.confirm(21);
    assert.equal(shipper.gcHoldDecree(), 22);
    await shipper.close();
  });

  it("reads the remote's clock from its answers and flags a skew beyond the limit", async () => {
    const log = memoryLog([1, 2, 3, 4].map((d) => mutation(d, [put(`k${d}`, "s")])));
    const clock = new ManualClock(1_000_000);
    const logged: { level: number; msg: string; offsetMs?: number }[] = [];
    const logger = pino(
      { level: "info" },
      { write: (line: string) => logged.push(JSON.parse(line)) },
    );
    // The remote's clock: 400 s ahead for decrees 1..2, then 1 s ahead; the answer takes 10 ms.
    let aheadMs = 400_000;
    const shipper = new DuplicationShipper(
      { ...options, maxClockSkewMs: 300_000, logger },
      {
        log,
        remote: remote(1, async () => {
          const receiverNowMs = clock.nowMs() + 5 + aheadMs;
          clock.advanceMs(10);
          return { decree: 1, receiverNowMs };
        }),
        deadLetters: new MemoryDeadLetterStore(),
        init: {
          confirmedDecree: 0,
          targetPartitionCount: 1,
          failMode: "FAIL_SLOW",
          status: "start",
        },
        timeClock: clock,
        clock,
      },
    );
    assert.equal(shipper.snapshot().remoteClock, undefined, "no reading before an answer");
    log.mutations.splice(2);
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 2);
    assert.deepEqual(shipper.snapshot().remoteClock, {
      offsetMs: 400_000,
      uncertaintyMs: 5,
      skewExceeded: true,
    });
    const warned = logged.filter((e) => e.level === 40 && /dup_max_clock_skew_seconds/.test(e.msg));
    assert.equal(warned.length, 1, "one warning when the skew is first proven");
    assert.equal(warned[0]?.offsetMs, 400_000);
    aheadMs = 1000;
    log.mutations.push(mutation(3, [put("k3", "s")]), mutation(4, [put("k4", "s")]));
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 4);
    assert.deepEqual(shipper.snapshot().remoteClock, {
      offsetMs: 1000,
      uncertaintyMs: 5,
      skewExceeded: false,
    });
    assert.equal(logged.filter((e) => /within the skew again/.test(e.msg)).length, 1);
    assert.equal(logged.filter((e) => e.level === 40).length, 1, "no repeated warning");
    await shipper.close();
  });

  it("survives a remote that throws garbage, never answers well, or is misconfigured", async () => {
    const log = memoryLog([1, 2, 3].map((d) => mutation(d, [put(`k${d}`, "s")])));
    const clock = new ManualClock(0);
    let calls = 0;
    const nasty = [
      () => Promise.reject("a bare string"),
      () =>
        Promise.reject({
          toString: () => {
            throw new Error("no");
          },
        }),
      () => Promise.reject(null),
      () => Promise.reject(new TalariaError("ERR_DUP_CLUSTER_ID_REFUSED", "self-duplicating")),
      () => Promise.reject(new TalariaError("ERR_APP_NOT_EXIST", "no such table")),
      () =>
        Promise.reject(
          new TalariaError("ERR_INCONSISTENT_STATE", "x", { details: { partitionCount: "many" } }),
        ),
      () => Promise.reject(new Error("x".repeat(100_000))),
    ];
    const shipper = new DuplicationShipper(options, {
      log,
      remote: remote(1, async () => {
        const next = nasty[calls++];
        if (next !== undefined) return next();
        return "garbage reply";
      }),
      deadLetters: new MemoryDeadLetterStore(),
      init: { confirmedDecree: 0, targetPartitionCount: 1, failMode: "FAIL_SLOW", status: "start" },
      timeClock: clock,
      clock,
    });
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 3);
    const snapshot = shipper.snapshot();
    assert.equal(snapshot.lastDecree, 3);
    assert.equal(snapshot.stats.failedShips, nasty.length);
    assert.ok((snapshot.lastError?.message.length ?? 0) <= 1001);
    await shipper.close();
  });

  it("dead-letters under FAIL_SKIP and pauses under FAIL_FAST, reporting it", async () => {
    const log = memoryLog([1, 2].map((d) => mutation(d, [put(`k${d}`, "s")])));
    const clock = new ManualClock(0);
    const store = new MemoryDeadLetterStore();
    const skip = new DuplicationShipper(
      { ...options, skipAfterFailures: 2 },
      {
        log,
        remote: remote(1, () => Promise.reject(new TalariaError("ERR_BUSY", "throttled"))),
        deadLetters: store,
        init: {
          confirmedDecree: 0,
          targetPartitionCount: 1,
          failMode: "FAIL_SKIP",
          status: "start",
        },
        timeClock: clock,
        clock,
      },
    );
    await drive(skip, clock, () => skip.snapshot().lastDecree === 2);
    assert.equal(skip.snapshot().lastDecree, 2);
    const letters = await store.list({ dupid: 7 });
    assert.equal(letters.flatMap((l) => l.entries).length, 2);
    assert.equal(letters[0]?.error.code, "ERR_BUSY");
    await skip.close();

    const paused: string[] = [];
    const fast = new DuplicationShipper(options, {
      log,
      remote: remote(1, () => Promise.reject(new TalariaError("ERR_APP_NOT_EXIST", "gone"))),
      deadLetters: store,
      init: { confirmedDecree: 0, targetPartitionCount: 1, failMode: "FAIL_FAST", status: "start" },
      timeClock: clock,
      clock,
      reports: {
        onPausedWithError: (error) => {
          paused.push(error.code);
          throw new Error("a buggy callback"); // logged, ignored
        },
      },
    });
    await drive(fast, clock, () => fast.snapshot().phase === "paused");
    assert.deepEqual(paused, ["ERR_APP_NOT_EXIST"]);
    assert.equal(fast.snapshot().pausedWithError?.code, "ERR_APP_NOT_EXIST");
    await fast.close();
  });

  it("reports log_truncated when the plog was collected past what it needs", async () => {
    const log = memoryLog([1, 2, 3].map((d) => mutation(d, [put(`k${d}`, "s")])));
    log.firstDecree = 3;
    const clock = new ManualClock(0);
    const truncated: number[] = [];
    const shipper = new DuplicationShipper(options, {
      log,
      remote: remote(1, async () => undefined),
      deadLetters: new MemoryDeadLetterStore(),
      init: { confirmedDecree: 0, targetPartitionCount: 1, failMode: "FAIL_SLOW", status: "start" },
      timeClock: clock,
      clock,
      reports: { onLogTruncated: (_reason, first) => truncated.push(first) },
    });
    await drive(shipper, clock, () => truncated.length > 0);
    assert.deepEqual(truncated, [1]);
    assert.equal(shipper.gcHoldDecree(), undefined);
    await shipper.close();
  });

  it("times each request's round trip and each mutation from its commit to its acknowledgement", async () => {
    const log = memoryLog([mutation(1, [put("old", "s")])]);
    const clock = new ManualClock(1000);
    const roundTrips: number[] = [];
    const lags: number[] = [];
    const shipper = new DuplicationShipper(options, {
      log,
      // The remote takes 7 ms of the test's clock to answer each request.
      remote: remote(1, async () => clock.advanceMs(7)),
      deadLetters: new MemoryDeadLetterStore(),
      init: { confirmedDecree: 0, targetPartitionCount: 1, failMode: "FAIL_SLOW", status: "start" },
      timeClock: clock,
      clock,
      timings: {
        shipAcknowledged: (ms) => roundTrips.push(ms),
        mutationsAcknowledged: (ms, count) => {
          for (let i = 0; i < count; i++) lags.push(ms);
        },
      },
    });
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 1);
    assert.deepEqual(lags, [], "decree 1 was committed before the shipper first looked");
    log.mutations.push(mutation(2, [put("a", "s")]), mutation(3, [put("b", "s")]));
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 3);
    assert.ok(roundTrips.length >= 2 && roundTrips.every((ms) => ms === 7), `${roundTrips}`);
    assert.equal(lags.length, 2, "decrees 2 and 3, once each");
    // Seen at a tick, loaded at the next one at the latest (5 ms apart), then one round trip.
    assert.ok(
      lags.every((ms) => ms >= 7 && ms <= 5 + 7 + 5),
      `${lags}`,
    );
    await shipper.close();
  });

  it("maps meta's statuses", () => {
    assert.equal(runStatusOf("DS_LOG"), "start");
    assert.equal(runStatusOf("DS_PAUSE"), "pause");
    assert.equal(runStatusOf("DS_REMOVED"), "remove");
    assert.equal(runStatusOf("DS_INIT"), undefined);
  });
});

describe("DuplicationMetrics", () => {
  it("exports each tracked shipper's counters and gauges at scrape time", async () => {
    const { Registry } = await import("../../src/metrics/index.ts");
    const { DuplicationMetrics } = await import("../../src/duplication/index.ts");
    const registry = new Registry();
    const metrics = new DuplicationMetrics(registry);
    const clock = new ManualClock(0);
    const shipper = new DuplicationShipper(options, {
      log: memoryLog([mutation(1, [put("a", "1")]), mutation(2, [put("b", "1")])]),
      remote: remote(2, async () => undefined),
      deadLetters: new MemoryDeadLetterStore(),
      init: { confirmedDecree: 0, targetPartitionCount: 2, failMode: "FAIL_SLOW", status: "start" },
      timeClock: clock,
      clock,
    });
    const untrack = metrics.track(7, "1.0", () => shipper.snapshot());
    assert.match(
      await registry.metrics(),
      /talaria_dup_unshipped_mutations\{dupid="7",gpid="1.0"\} 2/,
    );
    await drive(shipper, clock, () => shipper.snapshot().lastDecree === 2);
    shipper.confirm(1);
    const text = await registry.metrics();
    assert.match(text, /talaria_dup_shipped_entries_total\{dupid="7",gpid="1.0"\} 2/);
    assert.match(text, /talaria_dup_backlog_mutations\{dupid="7",gpid="1.0"\} 1/);
    assert.match(text, /talaria_dup_unshipped_mutations\{dupid="7",gpid="1.0"\} 0/);
    assert.match(text, /talaria_dup_confirmed_decree\{dupid="7",gpid="1.0"\} 1/);
    untrack();
    assert.doesNotMatch(await registry.metrics(), /gpid="1.0"/);
    const timings = metrics.timings(7);
    timings.shipAcknowledged?.(40);
    timings.mutationsAcknowledged?.(120, 3);
    const latencies = await registry.metrics();
    assert.match(latencies, /talaria_dup_ship_seconds_bucket\{le="0.05",dupid="7"\} 1/);
    assert.match(latencies, /talaria_dup_commit_to_ack_seconds_bucket\{le="0.1",dupid="7"\} 0/);
    assert.match(latencies, /talaria_dup_commit_to_ack_seconds_bucket\{le="0.15",dupid="7"\} 3/);
    await shipper.close();
  });

  it("exports the tables whose tombstones are held while a source is tracked", async () => {
    const { Registry } = await import("../../src/metrics/index.ts");
    const { DuplicationMetrics } = await import("../../src/duplication/index.ts");
    const registry = new Registry();
    const metrics = new DuplicationMetrics(registry);
    let held = [3, 5];
    const untrack = metrics.trackTombstoneHolds(() => held);
    let text = await registry.metrics();
    assert.match(text, /talaria_dup_tombstone_holds\{app_id="3"\} 1/);
    assert.match(text, /talaria_dup_tombstone_holds\{app_id="5"\} 1/);
    held = [];
    assert.doesNotMatch(await registry.metrics(), /talaria_dup_tombstone_holds\{/);
    held = [3];
    untrack();
    text = await registry.metrics();
    assert.doesNotMatch(text, /talaria_dup_tombstone_holds\{/);
  });
});
