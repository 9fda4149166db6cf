/**
 * Duplication's log hold across a partition's replicas (ref §3.5): the primary sends it to its
 * secondaries in group checks, and a learner installed from a checkpoint steps back, so whichever
 * replica becomes primary still has the log its duplications have not shipped.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeMutation } from "../../src/codec/mutation-codec.ts";
import type { PartitionReplica, WriteRequest } from "../../src/replica/index.ts";
import { A, B, C, config, D, GPID, PartitionCluster } from "./partition-cluster.ts";

const b = (s: string): Buffer => Buffer.from(s);

function set(key: string, value: string): WriteRequest {
  return { op: "set", hashKey: b(key), sortKey: b(""), value: b(value), expireTs: 0 };
}

async function startGroup(cluster: PartitionCluster): Promise<PartitionReplica> {
  for (const node of [A, B, C]) await cluster.open(node);
  cluster.feedConfig(config(1, A, [B, C]));
  cluster.grantLease(A);
  const primary = cluster.get(A);
  await cluster.eventually(() => primary.snapshot().primaryActive, "A is an active primary");
  return primary;
}

async function readDecree(replica: PartitionReplica, decree: number): Promise<number> {
  const [record] = await replica.logReader().read(decree, { bytesMax: 1, toDecree: decree });
  assert.ok(record !== undefined, `decree ${decree} is in the log`);
  return decodeMutation(record.payload).decree;
}

describe("duplication log hold across replicas", () => {
  it("a secondary keeps the log from the primary's hold and releases it with the primary", async () => {
    const cluster = await PartitionCluster.create({ plogSegmentBytesMax: 4096 });
    const primary = await startGroup(cluster);
    const secondary = cluster.get(B);
    const value = "v".repeat(200);
    for (let i = 0; i < 10; i++) await primary.write(set(`k${i}`, value));
    const hold = primary.lastAppliedDecree; // a duplication starts shipping here
    primary.setDuplicationLogHold(hold);
    for (let i = 10; i < 100; i++) await primary.write(set(`k${i}`, value));
    await cluster.eventually(
      () => secondary.logGcBoundDecree() === hold,
      "B learned the hold from a group check and its storage is durable past it",
    );
    await secondary.gcLog();
    assert.ok(secondary.statsSnapshot().plogFirstDecree <= hold);
    assert.equal(await readDecree(secondary, hold), hold);

    primary.setDuplicationLogHold(undefined);
    await cluster.eventually(() => secondary.logGcBoundDecree() > hold, "B released the hold");
    const gc = await secondary.gcLog();
    assert.ok(gc.segmentsDeleted > 0);
    assert.ok(secondary.statsSnapshot().plogFirstDecree > hold);
  });

  it("a learner installed from a checkpoint steps back to the hold, and keeps it after a restart", async () => {
    const cluster = await PartitionCluster.create({ plogSegmentBytesMax: 4096 });
    const primary = await startGroup(cluster);
    const value = "v".repeat(200);
    for (let i = 0; i < 100; i++) await primary.write(set(`k${i}`, value));
    const hold = 60;
    primary.setDuplicationLogHold(hold);
    await cluster.eventually(() => primary.logGcBoundDecree() === hold, "A is durable past 60");
    assert.ok((await primary.gcLog()).segmentsDeleted > 0);
    const firstDecree = primary.statsSnapshot().plogFirstDecree;
    assert.ok(firstDecree > 1 && firstDecree <= hold, `A's log starts at ${firstDecree}`);

    const learner = await cluster.open(D);
    primary.step({ type: "LEARNER_PROPOSED", proposal: { gpid: GPID, learner: D, ballot: 1 } });
    await cluster.eventually(
      () => cluster.configRequests.some((r) => r.change.type === "ADD_SECONDARY"),
      "A asks to add D",
    );
    assert.equal(cluster.checkpointFetches.length, 1, "D learned from a checkpoint");
    const checkpointDecree = cluster.checkpointFetches[0]?.decree ?? 0;
    assert.ok(checkpointDecree > hold);
    // D's log reaches back to the hold, although it learned from a checkpoint past it.
    assert.equal(learner.statsSnapshot().plogFirstDecree, hold);
    for (const decree of [hold, checkpointDecree])
      assert.equal(await readDecree(learner, decree), decree);

    cluster.feedConfig(config(2, A, [B, C, D]));
    await primary.write(set("after", "1"));
    await cluster.close(D);
    const reopened = await cluster.open(D);
    assert.equal(reopened.statsSnapshot().plogFirstDecree, hold, "the stepped-back log survives");
    assert.equal(await readDecree(reopened, hold), hold);
  });
});
