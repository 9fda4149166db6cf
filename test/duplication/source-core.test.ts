/** The pure source core: routing, ordering, progress, resume, splitting (fail modes: fail-modes.test.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { partitionIndex } from "../../src/codec/key-schema.ts";
import { type DuplicableUpdate, type Mutation, UpdateKind } from "../../src/codec/mutation.ts";
import { entryPartitionIndex, minGcHoldDecree } from "../../src/duplication/index.ts";
import {
  b,
  CoreDriver,
  del,
  duplicated,
  EMPTY_UPDATE,
  keysInPartition,
  multiPut,
  mutation,
  put,
} from "./core-driver.ts";

function keyOf(update: DuplicableUpdate): string {
  const sortKey =
    update.kind === UpdateKind.PUT || update.kind === UpdateKind.REMOVE ? update.sortKey : "";
  return `${update.hashKey.toString()}/${sortKey.toString()}`;
}

/** A source partition's log: puts, deletes and multi-puts of keys that live in it. */
function sourceLog(sourcePartition: number, sourceCount: number, mutations: number): Mutation[] {
  const keys = keysInPartition("user", sourcePartition, sourceCount, 40);
  const log: Mutation[] = [];
  for (let d = 1; d <= mutations; d++) {
    const key = keys[d % keys.length] as string;
    const update =
      d % 7 === 0
        ? del(key, `s${d % 3}`)
        : d % 5 === 0
          ? multiPut(key, ["a", "b"])
          : put(key, `s${d % 3}`, `v${d}`);
    log.push(mutation(d, [update]));
  }
  return log;
}

describe("duplication source core: routing", () => {
  for (const [sourceCount, targetCount] of [
    [8, 3],
    [4, 8],
    [128, 32],
    [3, 3],
    [1, 5],
  ] as const) {
    it(`routes every entry by its own key, ${sourceCount} → ${targetCount} partitions`, () => {
      for (const sourcePartition of [0, sourceCount - 1]) {
        const log = sourceLog(sourcePartition, sourceCount, 200);
        const driver = new CoreDriver(
          log,
          {},
          { batchBytes: 300 },
          { targetPartitionCount: targetCount },
        );
        driver.run();
        assert.equal(driver.core.snapshot().lastDecree, 200);
        let shipped = 0;
        for (const ship of driver.acked) {
          assert.equal(ship.targetPartitionCount, targetCount);
          for (const entry of ship.entries) {
            assert.equal(entryPartitionIndex(entry.update, targetCount), ship.targetPartition);
            const [hashKey] = [entry.update.hashKey];
            assert.equal(partitionIndex(hashKey, b(""), sourceCount), sourcePartition);
            assert.equal(entry.clusterId, 1);
            shipped++;
          }
        }
        assert.equal(shipped, 200, "every entry shipped exactly once");
        // Per key, entries reach the target in decree (= timestamp) order.
        const lastTs = new Map<string, number>();
        for (const entries of driver.entriesByPartition().values()) {
          for (const entry of entries) {
            const key = keyOf(entry.update);
            assert.ok((lastTs.get(key) ?? 0) < entry.timestampUs, `order of ${key}`);
            lastTs.set(key, entry.timestampUs);
          }
        }
      }
    });
  }

  it("stamps each entry with its mutation's timestamp and the source cluster id", () => {
    const log = [mutation(1, [put("a", "1"), put("b", "2")]), mutation(2, [del("a", "1")])];
    const driver = new CoreDriver(log, {}, { sourceClusterId: 9 });
    driver.run();
    const entries = driver.acked.flatMap((s) => s.entries);
    assert.deepEqual(
      entries.map((e) => [e.timestampUs, e.clusterId, e.update.kind]),
      [
        [1_000_001, 9, UpdateKind.PUT],
        [1_000_001, 9, UpdateKind.PUT],
        [1_000_002, 9, UpdateKind.REMOVE],
      ],
    );
  });

  it("never splits a multi-op, and routes it by its hash key", () => {
    const log = [mutation(1, [multiPut("h", ["a", "b", "c", "d"])])];
    const driver = new CoreDriver(log, {}, {}, { targetPartitionCount: 7 });
    driver.run();
    assert.equal(driver.acked.length, 1);
    const [ship] = driver.acked;
    assert.equal(ship?.targetPartition, partitionIndex(b("h"), b(""), 7));
    assert.equal(ship?.entries.length, 1);
  });
});

describe("duplication source core: streams and progress", () => {
  it("keeps one request in flight per target partition within a batch and ships its stream in order", () => {
    const keys = keysInPartition("k", 0, 1, 60);
    const log = keys.map((k, i) => mutation(i + 1, [put(k, "s", `v${i}`)]));
    // Small requests: each stream has several, shipped one at a time (the driver asserts it).
    for (let seed = 1; seed <= 20; seed++) {
      const driver = new CoreDriver(
        log,
        {},
        { requestEntriesMax: 2 },
        { targetPartitionCount: 4 },
        seed,
      );
      driver.run();
      assert.equal(driver.core.snapshot().lastDecree, 60);
      for (const entries of driver.entriesByPartition().values()) {
        const ts = entries.map((e) => e.timestampUs);
        assert.deepEqual(
          ts,
          [...ts].sort((x, y) => x - y),
        );
      }
    }
  });

  it("advances the last decree only when every stream acknowledged the batch", () => {
    const [k0] = keysInPartition("p", 0, 2, 1);
    const [k1] = keysInPartition("p", 1, 2, 1);
    const log = [mutation(1, [put(k0 as string, "a")]), mutation(2, [put(k1 as string, "b")])];
    const driver = new CoreDriver(log, {}, {}, { targetPartitionCount: 2 });
    driver.tick();
    const [load] = driver.actionsOf("LOAD");
    assert.ok(load);
    driver.step({ type: "BATCH_LOADED", loadId: load.loadId, mutations: log, bytes: 100 });
    const ships = driver.actionsOf("SHIP");
    assert.equal(ships.length, 2);
    driver.step({ type: "SHIP_ACKED", shipId: ships[1]?.shipId ?? 0 });
    assert.equal(driver.core.snapshot().lastDecree, 0);
    assert.deepEqual(driver.progress, []);
    driver.step({ type: "SHIP_ACKED", shipId: ships[1]?.shipId ?? 0 }); // a duplicate ack: ignored
    assert.equal(driver.core.snapshot().lastDecree, 0);
    driver.step({ type: "SHIP_ACKED", shipId: ships[0]?.shipId ?? 0 });
    assert.equal(driver.core.snapshot().lastDecree, 2);
    assert.deepEqual(driver.progress, [2]);
  });

  it("pipelines batches: each ships at once, beside earlier batches to the same partition; progress stays in order", () => {
    const [a0, b0] = keysInPartition("q", 0, 2, 2);
    const [a1] = keysInPartition("q", 1, 2, 1);
    const log = [
      mutation(1, [put(a0 as string, "1")]),
      mutation(2, [put(a1 as string, "2")]),
      mutation(3, [put(b0 as string, "3")]),
      mutation(4, [put(a1 as string, "4")]),
    ];
    // batchBytes 0: one mutation per batch, so each decree is its own batch.
    const driver = new CoreDriver(
      log,
      {},
      { batchBytes: 0, pipelineBatchesMax: 3 },
      {
        targetPartitionCount: 2,
      },
    );
    const load = (from: number) => {
      const action = driver.actionsOf("LOAD").find((l) => l.fromDecree === from);
      assert.ok(action, `a LOAD from ${from}`);
      const mutations = log.filter((m) => m.decree === from);
      driver.step({ type: "BATCH_LOADED", loadId: action.loadId, mutations, bytes: 10 });
    };
    const shipOf = (decree: number) =>
      driver.actionsOf("SHIP").find((x) => x.fromDecree === decree);
    driver.tick();
    load(1); // batch 1 ships to p0, and the next LOAD goes out at once
    assert.ok(shipOf(1));
    load(2); // batch 2 ships to p1 while batch 1 is still in flight
    assert.equal(shipOf(2)?.targetPartition, 1);
    load(3); // batch 3 goes to p0 too, beside batch 1's request there (last-write-wins by timetag)
    assert.equal(shipOf(3)?.targetPartition, 0);
    assert.equal(driver.core.snapshot().batchesInFlight, 3);
    assert.equal(
      driver.actionsOf("LOAD").length,
      3,
      "no fourth LOAD while pipelineBatchesMax batches are in flight",
    );
    driver.ack(shipOf(2));
    assert.deepEqual(driver.progress, [], "batch 2 is done but batch 1 is not: no progress");
    assert.equal(driver.core.snapshot().lastDecree, 0);
    driver.ack(shipOf(1));
    assert.deepEqual(driver.progress, [1, 2], "batches complete in decree order");
    load(4);
    driver.ack(shipOf(4));
    assert.deepEqual(driver.progress, [1, 2], "batch 4 is done but batch 3 is not");
    driver.ack(shipOf(3));
    assert.deepEqual(driver.progress, [1, 2, 3, 4]);
    assert.equal(driver.core.snapshot().phase, "idle");
  });

  it("with pipelineBatchesMax 1 loads nothing while a batch is in flight (Pegasus's way)", () => {
    const log = [mutation(1, [put("a", "1")]), mutation(2, [put("b", "2")])];
    const driver = new CoreDriver(log, {}, { batchBytes: 0, pipelineBatchesMax: 1 });
    driver.tick();
    const [first] = driver.actionsOf("LOAD");
    assert.ok(first);
    driver.step({
      type: "BATCH_LOADED",
      loadId: first.loadId,
      mutations: [log[0] as Mutation],
      bytes: 10,
    });
    assert.equal(driver.actionsOf("LOAD").length, 1);
    assert.equal(driver.core.snapshot().phase, "shipping");
    driver.ack(driver.actionsOf("SHIP")[0]);
    assert.equal(driver.actionsOf("LOAD").length, 2);
    assert.equal(driver.actionsOf("LOAD")[1]?.fromDecree, 2);
  });

  it("pipelined batches ship the whole log once; applied last-write-wins in any completion order, it ends as the source", () => {
    // 80 writes over 10 keys of one source partition: most keys are written in several batches,
    // whose requests to one target partition are in flight together and land in any order.
    const keys = keysInPartition("z", 0, 1, 10);
    const log = Array.from({ length: 80 }, (_, i) =>
      mutation(i + 1, [put(keys[i % keys.length] as string, "s", `v${i}`)]),
    );
    const expected = new Map(log.map((m, i) => [keys[i % keys.length], `v${m.decree - 1}`]));
    let concurrent = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const driver = new CoreDriver(
        log,
        {},
        { batchBytes: 200, requestEntriesMax: 2, pipelineBatchesMax: 4 },
        { targetPartitionCount: 4 },
        seed,
      );
      driver.run();
      assert.equal(driver.core.snapshot().lastDecree, 80, `seed ${seed}`);
      const sorted = [...driver.progress].sort((x, y) => x - y);
      assert.deepEqual(driver.progress, sorted, `seed ${seed}: progress in order`);
      const target = new Map<string, { timestampUs: number; value: string }>();
      let entries = 0;
      for (const list of driver.entriesByPartition().values()) {
        let previous = 0;
        for (const entry of list) {
          if (entry.timestampUs < previous) concurrent++;
          previous = entry.timestampUs;
          const update = entry.update as { hashKey: Buffer; value: Buffer };
          const key = update.hashKey.toString();
          const stored = target.get(key);
          if (stored === undefined || stored.timestampUs < entry.timestampUs) {
            target.set(key, { timestampUs: entry.timestampUs, value: update.value.toString() });
          }
        }
        entries += list.length;
      }
      assert.equal(entries, 80, `seed ${seed}: every entry shipped once`);
      assert.deepEqual(
        new Map([...target].map(([k, v]) => [k, v.value])),
        expected,
        `seed ${seed}: the target ends as the source`,
      );
    }
    assert.ok(concurrent > 0, "some later batch landed before an earlier one");
  });

  it("ships the trailing batch that ends with DUPLICATE mutations (Pegasus #2284)", () => {
    const log = [
      mutation(1, [put("a", "1")]),
      mutation(2, [put("b", "1")]),
      mutation(3, [duplicated("c")]),
      mutation(4, [duplicated("d")]),
    ];
    const driver = new CoreDriver(log);
    driver.run();
    assert.deepEqual(
      driver.acked.flatMap((s) => s.entries.map((e) => e.update.hashKey.toString())),
      ["a", "b"],
    );
    assert.equal(driver.core.snapshot().lastDecree, 4);
    assert.equal(driver.core.stats.skippedDuplicateUpdates, 2);
  });

  it("skips DUPLICATE and EMPTY updates without losing their neighbours", () => {
    const log = [
      mutation(1, [EMPTY_UPDATE]),
      mutation(2, [put("a", "1")]),
      mutation(3, [duplicated("x")]),
      mutation(4, [put("b", "1")]),
      mutation(5, [duplicated("y")]),
      mutation(6, [EMPTY_UPDATE]),
      mutation(7, [put("c", "1")]),
    ];
    // One mutation per batch (batch bytes 0) and one big batch: the same entries ship.
    for (const batchBytes of [0, 1 << 20]) {
      const driver = new CoreDriver(log, {}, { batchBytes });
      driver.run();
      assert.deepEqual(
        driver.acked.flatMap((s) => s.entries.map((e) => e.update.hashKey.toString())).sort(),
        ["a", "b", "c"],
      );
      assert.equal(driver.core.snapshot().lastDecree, 7);
    }
  });

  it("advances past a batch with nothing to ship", () => {
    const log = [mutation(1, [duplicated("x")]), mutation(2, [EMPTY_UPDATE])];
    const driver = new CoreDriver(log);
    driver.run();
    assert.equal(driver.acked.length, 0);
    assert.deepEqual(driver.progress, [2]);
  });

  it("resumes after the confirmed decree it is given (at-least-once from there)", () => {
    const log = [1, 2, 3, 4, 5, 6].map((d) => mutation(d, [put(`k${d}`, "s")]));
    const driver = new CoreDriver(log, {}, {}, { confirmedDecree: 4 });
    driver.run();
    assert.equal(driver.actionsOf("LOAD")[0]?.fromDecree, 5);
    assert.deepEqual(
      driver.acked.flatMap((s) => s.entries.map((e) => e.update.hashKey.toString())),
      ["k5", "k6"],
    );
    assert.equal(driver.core.gcHoldDecree(), 5);
    driver.step({ type: "CONFIRMED", confirmedDecree: 6 });
    assert.equal(driver.core.gcHoldDecree(), 7);
    driver.step({ type: "CONFIRMED", confirmedDecree: 3 }); // stale: never decreases
    assert.equal(driver.core.snapshot().confirmedDecree, 6);
    assert.equal(driver.core.stats.confirmedMutations, 2);
  });

  it("moves past decrees meta confirmed from another primary", () => {
    const log = [1, 2, 3, 4, 5].map((d) => mutation(d, [put(`k${d}`, "s")]));
    const driver = new CoreDriver(log);
    driver.step({ type: "CONFIRMED", confirmedDecree: 3 });
    driver.run();
    assert.equal(driver.actionsOf("LOAD")[0]?.fromDecree, 4);
    assert.equal(driver.core.snapshot().lastDecree, 5);
  });

  it("reads nothing above the committed decree and polls again after a quiet read", () => {
    const log = [mutation(1, [put("a", "1")])];
    const driver = new CoreDriver(log);
    driver.tick();
    assert.equal(driver.actionsOf("LOAD")[0]?.toDecree, 1);
    driver.step({
      type: "BATCH_LOADED",
      loadId: driver.actionsOf("LOAD")[0]?.loadId ?? 0,
      mutations: [],
      bytes: 0,
    });
    driver.tick(1); // before noMutationLoadDelayMs
    assert.equal(driver.actionsOf("LOAD").length, 1);
    driver.tick(5);
    assert.equal(driver.actionsOf("LOAD").length, 2);
  });

  it("splits requests at dup_max_allowed_write_size and the entry cap, never inside a mutation", () => {
    const value = "x".repeat(100);
    const log: Mutation[] = [];
    for (let d = 1; d <= 30; d++)
      log.push(mutation(d, [put("same", `s${d}`, value), put("same", `t${d}`, value)]));
    log.push(mutation(31, [put("same", "big", "y".repeat(2000))]));
    const driver = new CoreDriver(log, {}, { requestBytesMax: 1000, requestEntriesMax: 6 });
    driver.run();
    assert.equal(driver.core.snapshot().lastDecree, 31);
    assert.ok(driver.acked.length > 10);
    for (const ship of driver.acked) {
      assert.ok(ship.entries.length <= 6);
      if (ship.entries.length > 1) assert.ok(ship.bytes <= 1000, `${ship.bytes} bytes`);
      // Both entries of a mutation travel together.
      const decrees = ship.entries.map((e) => e.timestampUs);
      for (const ts of new Set(decrees)) {
        assert.ok(decrees.filter((t) => t === ts).length === 2 || ts === 1_000_031);
      }
    }
    const big = driver.acked.find((s) => s.entries.some((e) => e.timestampUs === 1_000_031));
    assert.equal(big?.entries.length, 1, "an oversized mutation travels alone");
    assert.equal(driver.acked.flatMap((s) => s.entries).length, 61);
  });

  it("re-routes the batch in flight when the remote's partition count changes", () => {
    const keys = keysInPartition("r", 0, 1, 30);
    const log = keys.map((k, i) => mutation(i + 1, [put(k, "s")]));
    let changed = false;
    const driver = new CoreDriver(
      log,
      {
        ship: (ship) => {
          if (ship.targetPartitionCount === 4) {
            changed = true;
            return {
              error: { code: "ERR_INCONSISTENT_STATE", message: "count" },
              partitionCount: 6,
            };
          }
          return "ack";
        },
      },
      {},
      { targetPartitionCount: 4 },
    );
    driver.run();
    assert.ok(changed);
    assert.equal(driver.core.snapshot().targetPartitionCount, 6);
    assert.equal(driver.core.snapshot().lastDecree, 30);
    for (const ship of driver.acked) {
      assert.equal(ship.targetPartitionCount, 6);
      for (const e of ship.entries)
        assert.equal(entryPartitionIndex(e.update, 6), ship.targetPartition);
    }
    assert.equal(
      new Set(driver.acked.flatMap((s) => s.entries.map((e) => keyOf(e.update)))).size,
      30,
    );
    assert.equal(driver.core.stats.reroutes, 1);
  });

  it("waits for the remote's partition count before loading", () => {
    const driver = new CoreDriver(
      [mutation(1, [put("a", "1")])],
      {},
      {},
      { targetPartitionCount: 0 },
    );
    driver.tick(10);
    assert.equal(driver.actionsOf("LOAD").length, 0);
    driver.step({ type: "CONFIGURE", targetPartitionCount: 3 });
    assert.equal(driver.actionsOf("LOAD").length, 1);
  });

  it("pauses and starts on meta's status, and stops holding the log once removed", () => {
    const log = [1, 2, 3].map((d) => mutation(d, [put(`k${d}`, "s")]));
    const driver = new CoreDriver(log, {}, {}, { status: "pause" });
    driver.run(50);
    assert.equal(driver.actions.length, 0);
    assert.equal(driver.core.gcHoldDecree(), 1, "a paused duplication holds its log");
    driver.step({ type: "CONFIGURE", status: "start" });
    driver.run();
    assert.equal(driver.core.snapshot().lastDecree, 3);
    driver.step({ type: "CONFIGURE", status: "remove" });
    assert.equal(driver.core.snapshot().phase, "removed");
    assert.equal(driver.core.gcHoldDecree(), undefined);
    assert.equal(minGcHoldDecree([undefined, 7, 4, undefined]), 4);
    assert.equal(minGcHoldDecree([undefined]), undefined);
  });

  it("flags a backlog without progress as stalled", () => {
    const driver = new CoreDriver(
      [mutation(1, [put("a", "1")])],
      { ship: () => ({ error: { code: "ERR_BUSY", message: "busy" } }) },
      { stalledAfterMs: 1000 },
    );
    driver.run(200, 10);
    assert.equal(driver.core.snapshot().stalled, true);
    assert.equal(driver.core.snapshot().backlog, 1);
    assert.equal(driver.core.snapshot().lastError?.code, "ERR_BUSY");
  });
});
