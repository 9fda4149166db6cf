import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { UpdateKind } from "../../src/codec/mutation.ts";
import { decodeMutation } from "../../src/codec/mutation-codec.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import { ReplicaStatus } from "../../src/protocol/partition-config.ts";
import type { PartitionReplica, WriteRequest } from "../../src/replica/index.ts";
import { A, B, C, config, D, dump, GPID, PartitionCluster } from "./partition-cluster.ts";

const b = (s: string): Buffer => Buffer.from(s);

function set(key: string, value: string): WriteRequest {
  return { op: "set", hashKey: b(key), sortKey: b(""), value: b(value), expireTs: 0 };
}

const CONFIG_1 = config(1, A, [B, C]);

/** Opens A, B and C, makes A primary of ballot 1 with B and C, and waits until A is active. */
async function startGroup(cluster: PartitionCluster): Promise<PartitionReplica> {
  for (const node of [A, B, C]) await cluster.open(node);
  cluster.feedConfig(CONFIG_1);
  cluster.grantLease(A);
  const primary = cluster.get(A);
  await cluster.eventually(
    () => primary.snapshot().primaryActive && primary.refusal("read") === undefined,
    "A is an active primary",
  );
  return primary;
}

/** Waits until every listed replica has applied exactly what `primary` committed, and no more. */
async function converged(
  cluster: PartitionCluster,
  primary: PartitionReplica,
  nodes: string[],
): Promise<void> {
  await cluster.eventually(
    () => {
      const committed = primary.snapshot().lastCommittedDecree;
      return nodes.every((node) => {
        const replica = cluster.replicas.get(node);
        return replica !== undefined && replica.lastAppliedDecree === committed;
      });
    },
    `${nodes.join(", ")} applied what the primary committed`,
  );
  const expected = dump(primary);
  for (const node of nodes) assert.deepEqual(dump(cluster.get(node)), expected, `${node}'s data`);
}

describe("PartitionReplica: a replicated partition (primary + 2 secondaries)", () => {
  it("acknowledges a write only once both secondaries logged it", async () => {
    const cluster = await PartitionCluster.create();
    const primary = await startGroup(cluster);
    await primary.write(set("before", "1"));

    cluster.hold(C);
    let acknowledged = false;
    const write = primary.write(set("held", "2")).then((result) => {
      acknowledged = true;
      return result;
    });
    const decree = primary.lastPreparedDecree;
    const secondary = cluster.get(B);
    await cluster.eventually(
      () => secondary.snapshot().lastDurableDecree >= decree && primary.lastDurableDecree >= decree,
      "A and B hold the write durably",
      { freezeTime: true },
    );
    await cluster.settle();
    assert.equal(acknowledged, false, "no ack while C has not logged the write");
    assert.ok(primary.lastAppliedDecree < decree, "nor is it applied on the primary");
    assert.ok(cluster.get(C).snapshot().lastPreparedDecree < decree);

    cluster.release(C);
    assert.equal((await write).decree, decree);
    assert.equal(primary.reads.get(b("held"), b(""))?.value.toString(), "2");
    assert.ok(cluster.get(C).lastDurableDecree >= decree, "C logged it before the ack");
  });

  it("secondaries converge to the primary's storage, atomic operations included", async () => {
    const cluster = await PartitionCluster.create();
    const primary = await startGroup(cluster);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      writes.push(primary.write(set(`k${i}`, `v${i}`)));
      writes.push(
        primary.write({ op: "incr", hashKey: b("n"), sortKey: b(""), increment: 1n, expireTs: 0 }),
      );
    }
    writes.push(
      primary.write({
        op: "multiSet",
        hashKey: b("m"),
        kvs: [{ sortKey: b("x"), value: b("1") }],
        expireTs: 0,
      }),
    );
    writes.push(primary.write({ op: "del", hashKey: b("k3"), sortKey: b("") }));
    await Promise.all(writes);
    assert.equal(primary.reads.get(b("n"), b(""))?.value.toString(), "40");
    await converged(cluster, primary, [B, C]);
    // A secondary refuses client reads and writes: it is not the primary.
    assert.match(cluster.get(B).refusal("write") ?? "", /not the primary/);
    assert.throws(
      () => cluster.get(B).reads.get(b("k1"), b("")),
      (error) =>
        isTalariaError(error, "ERR_INVALID_STATE") && error.details.beforeExecution === true,
    );
  });

  it("a restarted secondary catches up, and writes wait for it", async () => {
    const cluster = await PartitionCluster.create();
    const primary = await startGroup(cluster);
    for (let i = 0; i < 10; i++) await primary.write(set(`a${i}`, "1"));
    await cluster.close(C);

    let acknowledged = 0;
    const pending = Array.from({ length: 5 }, (_, i) =>
      primary.write(set(`b${i}`, "2")).then(() => acknowledged++),
    );
    await cluster.eventually(
      () => cluster.get(B).lastDurableDecree === primary.lastPreparedDecree,
      "B logged the writes made while C was down",
      { freezeTime: true },
    );
    await cluster.settle();
    assert.equal(acknowledged, 0, "C is a member: nothing commits without it");

    const restarted = await cluster.open(C);
    cluster.feedConfig(CONFIG_1, [C]);
    assert.equal(restarted.snapshot().status, ReplicaStatus.SECONDARY);
    // The primary resends what C has not acked at its next resend tick.
    await cluster.eventually(() => acknowledged === pending.length, "the writes are acknowledged");
    await converged(cluster, primary, [B, C]);
  });

  it("a new primary keeps every acknowledged write; an unacknowledged one is truncated", async () => {
    const cluster = await PartitionCluster.create();
    const oldPrimary = await startGroup(cluster);
    const acked: string[] = [];
    for (let i = 0; i < 10; i++) {
      await oldPrimary.write(set(`w${i}`, `${i}`));
      acked.push(`w${i}`);
    }
    // Only A logs this one: B and C never see it.
    cluster.hold(B);
    cluster.hold(C);
    const lost = oldPrimary.write(set("lost", "x"));
    const lostDecree = oldPrimary.lastPreparedDecree;
    await cluster.eventually(
      () => oldPrimary.lastDurableDecree >= lostDecree,
      "A logged the unacknowledged write",
      { freezeTime: true },
    );

    const config2 = config(2, B, [A, C]);
    cluster.feedConfig(config2);
    await assert.rejects(lost, (error) => isTalariaError(error, "ERR_INVALID_STATE"));
    assert.match(oldPrimary.refusal("write") ?? "", /not the primary/);
    cluster.release(B);
    cluster.release(C);
    cluster.grantLease(B);
    const primary = cluster.get(B);
    await cluster.eventually(
      () => primary.refusal("read") === undefined,
      "B is an active primary with a lease",
    );
    for (const key of acked) assert.ok(primary.reads.get(b(key), b("")), `${key} survived`);
    await primary.write(set("after", "y"));
    await converged(cluster, primary, [A, C]);
    assert.equal(oldPrimary.localReads.get(b("lost"), b("")), undefined);
    assert.equal(primary.reads.get(b("after"), b(""))?.value.toString(), "y");
    // The old primary's conflicting entry was truncated and replaced, at the same decree, by the
    // new primary's activation mutation.
    await cluster.close(A);
    const log = await PrivateLog.open({ dir: join(cluster.dir(A), "plog"), readOnly: true });
    const [record] = await log.read(lostDecree, { bytesMax: 1, toDecree: lostDecree });
    await log.close();
    assert.ok(record !== undefined);
    const replaced = decodeMutation(record.payload);
    assert.equal(replaced.ballot, 2);
    assert.deepEqual(replaced.updates, [{ kind: UpdateKind.EMPTY }]);
  });

  it("a learner catches up from the log and asks to become a secondary", async () => {
    const cluster = await PartitionCluster.create();
    const primary = await startGroup(cluster);
    for (let i = 0; i < 20; i++) await primary.write(set(`k${i}`, `${i}`));
    const learner = await cluster.open(D);
    primary.step({ type: "LEARNER_PROPOSED", proposal: { gpid: GPID, learner: D, ballot: 1 } });
    await cluster.eventually(
      () => cluster.configRequests.some((r) => r.change.type === "ADD_SECONDARY"),
      "A asks to add D",
    );
    assert.deepEqual(cluster.configRequests, [
      { gpid: GPID, node: A, ballot: 1, change: { type: "ADD_SECONDARY", node: D }, changeId: 1 },
    ]);
    assert.equal(learner.snapshot().status, ReplicaStatus.LEARNER);
    assert.equal(cluster.checkpointFetches.length, 0, "the log reached: no checkpoint");

    cluster.feedConfig(config(2, A, [B, C, D]));
    assert.equal(learner.snapshot().status, ReplicaStatus.SECONDARY);
    await primary.write(set("after", "1"));
    await converged(cluster, primary, [B, C, D]);
  });

  it("a learner installs a checkpoint when the primary's log no longer reaches", async () => {
    const cluster = await PartitionCluster.create({ plogSegmentBytesMax: 4096 });
    const primary = await startGroup(cluster);
    const value = "v".repeat(200);
    for (let i = 0; i < 100; i++) await primary.write(set(`k${i}`, value));
    await cluster.eventually(
      () => primary.logGcBoundDecree() > 50,
      "storage on A made its applies durable",
    );
    const gc = await primary.gcLog();
    assert.ok(gc.segmentsDeleted > 0);
    const firstDecree = primary.statsSnapshot().plogFirstDecree;
    assert.ok(firstDecree > 1, "the log no longer starts at decree 1");

    const learner = await cluster.open(D);
    primary.step({ type: "LEARNER_PROPOSED", proposal: { gpid: GPID, learner: D, ballot: 1 } });
    // Writes keep coming while D learns: it must pick them up after the checkpoint.
    const during = Array.from({ length: 10 }, (_, i) => primary.write(set(`d${i}`, "x")));
    await cluster.eventually(
      () => cluster.configRequests.some((r) => r.change.type === "ADD_SECONDARY"),
      "A asks to add D",
    );
    await Promise.all(during);
    assert.equal(cluster.checkpointFetches.length, 1);
    const fetched = cluster.checkpointFetches[0];
    assert.ok(fetched !== undefined && fetched.node === A && fetched.decree >= firstDecree - 1);
    assert.equal(learner.lastAppliedBallot, 1);
    const current = JSON.parse(await readFile(join(cluster.dir(D), "CURRENT"), "utf8"));
    assert.deepEqual(current, { version: 1, dataDir: "data-1" });

    cluster.feedConfig(config(2, A, [B, C, D]));
    await primary.write(set("after", "1"));
    await converged(cluster, primary, [B, C, D]);

    // The installed storage and the reset log are what D reopens from.
    await cluster.close(D);
    const reopened = await cluster.open(D);
    cluster.feedConfig(config(2, A, [B, C, D]), [D]);
    assert.equal(reopened.snapshot().status, ReplicaStatus.SECONDARY);
    await primary.write(set("after-restart", "1"));
    await converged(cluster, primary, [B, C, D]);
  });
});
