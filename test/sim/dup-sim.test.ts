/**
 * Many seeds of the multi-cluster duplication simulation (src/sim/dup): 2 and 3 clusters with
 * different partition counts and skewed clocks, concurrent writes to shared and single-writer
 * keys, link cuts, drops and duplicates, remote refusals, plog read failures, shipper crashes,
 * primary changes, clock jumps, meta outages, duplications pushed out of their log and re-synced
 * from checkpoints (some after the tombstone retention, some both directions at once, some stalled
 * by their link for longer than the hold's release), sweepers
 * collecting tombstones, dead letters replayed late; after healing every cluster must hold
 * identical contents and every single-writer key its last acknowledged write. A failure names its
 * seed; replay it with `npm run sim:dup -- --seed N --verbose`.
 *
 * DUP_SIM_SEEDS / DUP_SIM_FIRST_SEED override the sweep.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { partitionIndex } from "../../src/codec/key-schema.ts";
import { UpdateKind } from "../../src/codec/mutation.ts";
import {
  checkAcknowledgedWrites,
  checkIdentical,
  checkPlacement,
  runDupSimulation,
  SimPartition,
} from "../../src/sim/dup/index.ts";

const FIRST_SEED = Number(process.env.DUP_SIM_FIRST_SEED ?? 1);
const SEED_COUNT = Number(process.env.DUP_SIM_SEEDS ?? 100);

describe("multi-cluster duplication simulation", () => {
  it(`converges with every acknowledged write kept, for ${SEED_COUNT} seeds`, () => {
    const totals = new Map<string, number>();
    const add = (name: string, value: number) => totals.set(name, (totals.get(name) ?? 0) + value);
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEED_COUNT; seed++) {
      const result = runDupSimulation({ seed });
      assert.ok(
        result.ok,
        `seed=${seed}: ${result.failure}\nreplay: npm run sim:dup -- --seed ${seed} --verbose`,
      );
      for (const [name, value] of Object.entries(result.stats)) add(name, value);
      add(`clusters${result.stats.clusters}`, 1);
    }
    const total = (name: string): number => totals.get(name) ?? 0;
    // The sweep is only worth something if it wrote a lot and went through every fault.
    assert.ok(total("acknowledged") > SEED_COUNT * 500, `${total("acknowledged")} writes`);
    for (const [name, min] of [
      ["clusters2", SEED_COUNT / 5],
      ["clusters3", SEED_COUNT / 5],
      ["shippedEntries", SEED_COUNT * 500],
      ["staleEntriesSkipped", SEED_COUNT * 50],
      ["linkCuts", SEED_COUNT / 5],
      ["shipperCrashes", SEED_COUNT / 5],
      ["primaryChanges", SEED_COUNT / 5],
      ["clockJumps", SEED_COUNT / 5],
      ["metaOutages", SEED_COUNT / 5],
      ["refusals", SEED_COUNT],
      ["loadFailures", SEED_COUNT],
      ["deadLetters", SEED_COUNT / 20],
      ["replayedEntries", SEED_COUNT / 20],
      ["pausedWithError", SEED_COUNT / 20],
      ["logTruncated", SEED_COUNT / 5],
      ["resyncs", SEED_COUNT / 5],
      ["slowResyncs", SEED_COUNT / 50],
      ["pairedResyncs", SEED_COUNT / 100],
      ["resyncStalls", SEED_COUNT / 50],
      ["tombstonesCollected", SEED_COUNT],
      ["heldSweeps", SEED_COUNT],
      ["lateReplays", SEED_COUNT / 20],
      ["supersededRecords", SEED_COUNT],
    ] as const) {
      assert.ok(total(name) >= min, `${name}: ${total(name)} < ${min} in ${SEED_COUNT} seeds`);
    }
  });

  it("gives a late dead-letter replay that ends past the quiet period its own time to settle", () => {
    // Found as seed 1200868 (before the re-sync mark changed every run's timing): a slow re-sync
    // ended the quiet period at 60 s, the late replay ran to 81 s and wrote into cluster 1, whose
    // own duplication had no time left to pass over that write. Seed 1200301 replays past 66 s
    // (1204812 did until the re-sync mark also held the byte bound).
    const result = runDupSimulation({ seed: 1_200_301 });
    assert.ok(result.ok, result.failure);
    assert.equal(result.stats.lateReplays, 1);
    assert.ok((result.stats.simulatedMs ?? 0) > 66_000, `${result.stats.simulatedMs} ms`);
  });

  it("pushes a duplication that lags past its age bound out of its log, before tombstones go", () => {
    // Seed 1201205: a slow link kept cluster 2 → 3 about 20 s behind; with no age bound scaled to
    // the 20 s retention, cluster 3 collected a delete's tombstone and then took the older put.
    const result = runDupSimulation({ seed: 1_201_205 });
    assert.ok(result.ok, result.failure);
    assert.ok((result.stats.logTruncated ?? 0) > 0);
  });

  it("is deterministic: one seed replays identically", () => {
    const a = runDupSimulation({ seed: 4242 });
    const b = runDupSimulation({ seed: 4242 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.stats, runDupSimulation({ seed: 4243 }).stats);
  });

  for (const [name, bugs, firstSeed] of [
    [
      "a shipper that drops a batch ending with DUPLICATE mutations (Pegasus #2284)",
      { dropTrailingBatch: true },
    ],
    ["routing every request of a batch by its last entry (Pegasus)", { lastEntryRouting: true }],
    ["a re-sync that sends no deletes", { resyncDropsDeletes: true }],
    ["a sweeper that collects tombstones a late re-sync needs", { noTombstoneHold: true }],
    ["a late dead-letter replay that sends superseded writes", { replayEverything: true }],
    // Two-way outages re-synced at once are rarer: their first seeds are further out (the first
    // that fails: 251, 276 and 961).
    [
      "a table that collects tombstones while it receives a re-sync (both directions re-synced at once)",
      { ownHoldsOnly: true },
      245,
    ],
    [
      "a re-sync's writes pushing the receiving table's duplications out of their log",
      { countResyncBytes: true },
      270,
    ],
    [
      "a receiving table held only while a re-sync's writes arrive (a stalled re-sync outlives it)",
      { noResyncMark: true },
      955,
    ],
  ] as const) {
    it(`catches ${name}`, () => {
      const caught: string[] = [];
      const first = firstSeed ?? 1;
      for (let seed = first; seed < first + 20 && caught.length === 0; seed++) {
        const result = runDupSimulation({ seed, bugs });
        if (!result.ok) caught.push(`seed=${seed}: ${result.failure}`);
      }
      assert.ok(caught.length > 0, "the injected bug went unnoticed");
    });
  }
});

describe("duplication sim checkers", () => {
  const clock = { nowMs: () => 1_767_225_600_000, nowUs: () => 1_767_225_600_000_000 };
  const put = (hashKey: string, value: string) => ({
    kind: UpdateKind.PUT,
    hashKey: Buffer.from(hashKey),
    sortKey: Buffer.from("s"),
    value: Buffer.from(value),
    expireTs: 0,
  });
  const cluster = (id: number, count: number) => ({
    id,
    partitions: Array.from({ length: count }, (_, i) => new SimPartition(id, i, clock)),
  });
  const home = (c: ReturnType<typeof cluster>, hashKey: string) =>
    c.partitions[
      partitionIndex(Buffer.from(hashKey), Buffer.from("s"), c.partitions.length)
    ] as SimPartition;

  it("flag different contents, including a timetag alone", () => {
    const a = cluster(1, 2);
    const b = cluster(2, 3);
    home(a, "k").writeLocal([put("k", "v")]);
    assert.match(checkIdentical([a, b]) ?? "", /cluster 1 and 2 differ at k\/s/);
    home(b, "k").writeLocal([put("k", "v")]); // same value, but cluster 2's timetag
    assert.match(checkIdentical([a, b]) ?? "", /@\(\d+, cluster 1\) vs .*cluster 2\)/);
  });

  it("flag a record stored in a partition it does not belong to", () => {
    const a = cluster(1, 4);
    const wrong = a.partitions.find((p) => p !== home(a, "k")) as SimPartition;
    wrong.writeLocal([put("k", "v")]);
    assert.match(checkPlacement([a]) ?? "", /k\/s is stored in partition/);
  });

  it("flag an acknowledged single-writer write missing somewhere", () => {
    const a = cluster(1, 1);
    const b = cluster(2, 1);
    home(a, "k").writeLocal([put("k", "v")]);
    const expected = [{ clusterId: 1, hashKey: "k", sortKey: "s", value: "v" }];
    assert.match(checkAcknowledgedWrites([a, b], expected) ?? "", /is absent on cluster 2/);
    home(b, "k").receiveDuplicate([{ timestampUs: 1, clusterId: 1, update: put("k", "v") }]);
    assert.equal(checkAcknowledgedWrites([a, b], expected), undefined);
  });
});
