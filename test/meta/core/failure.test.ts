import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetaCore } from "../../../src/meta/core/index.ts";
import {
  MetaMethod,
  type PartitionConfiguration,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

const [A, B, C, D] = nodes(4) as [string, string, string, string];

function report(
  config: PartitionConfiguration,
  node: string,
  prepared: number,
  committed = prepared,
) {
  return {
    gpid: config.gpid,
    ballot: config.ballot,
    status: config.primary === node ? ReplicaStatus.PRIMARY : ReplicaStatus.SECONDARY,
    lastPreparedDecree: prepared,
    lastCommittedDecree: committed,
  };
}

/** One table with one partition of three replicas on A (primary), B, C. */
function onePartition(nodeCount = 3): { driver: Driver; config: PartitionConfiguration } {
  const driver = Driver.create({ balanceIntervalMs: 1_000_000_000 });
  driver.beaconAll(nodes(nodeCount));
  const [config] = driver.createApp("t", 1, 3);
  assert.ok(config !== undefined);
  assert.equal(config.primary, A);
  assert.deepEqual(config.secondaries, [B, C]);
  return { driver, config };
}

describe("meta core: beacons", () => {
  it("replies with the lease, the node's configs, their apps and no proposals for healthy partitions", () => {
    const { driver } = onePartition(4);
    driver.createApp("u", 4, 1);
    // "u" puts one single-replica partition on each node; "t" lives on A, B, C.
    const replyA = driver.beacon(A);
    assert.equal(replyA.leaseMs, 9_000);
    const hosted = (reply: typeof replyA) =>
      reply.configs.map((c) => `${c.gpid.appId}.${c.gpid.partitionIndex}`).sort();
    const uOn = (node: string) =>
      driver.core
        .durableState()
        .partitions.filter((c) => c.gpid.appId === 2 && c.primary === node)[0];
    assert.deepEqual(hosted(replyA), ["1.0", `2.${uOn(A)?.gpid.partitionIndex}`]);
    assert.deepEqual(
      replyA.apps.map((a) => a.appName),
      ["t", "u"],
    );
    assert.deepEqual(replyA.learnerProposals, []);
    const replyD = driver.beacon(D);
    assert.deepEqual(hosted(replyD), [`2.${uOn(D)?.gpid.partitionIndex}`]);
    assert.deepEqual(
      replyD.apps.map((a) => a.appName),
      ["u"],
    );
  });

  it("merges the largest committed decree members report into the configs it shows", () => {
    const { driver, config } = onePartition();
    driver.beacon(B, [report(config, B, 12, 10)]);
    assert.equal(driver.beacon(A).configs[0]?.lastCommittedDecree, 10);
    assert.equal(
      driver.core.queryConfiguration({ appName: "t" }).partitions[0]?.lastCommittedDecree,
      10,
    );
  });

  it("refuses a beacon without a valid node address", () => {
    const driver = Driver.create();
    const result = driver.call(MetaMethod.BEACON, { node: "no-port", replicas: [] });
    assert.ok(!result.ok);
    assert.equal(result.error.code, "ERR_INVALID_PARAMETERS");
  });
});

describe("meta core: failure detection and reassignment", () => {
  it("promotes the live secondary with the highest prepared decree, ballot + 1, only after the grace period", () => {
    const { driver, config } = onePartition();
    driver.beacon(B, [report(config, B, 7, 5)]);
    driver.beacon(C, [report(config, C, 9, 5)]);
    driver.beacon(A, [report(config, A, 9, 5)]);
    const lastA = driver.nowMs;
    // B and C keep beaconing; A goes silent.
    for (let t = 0; t < 10; t += 1) {
      driver.nowMs += 1_000;
      driver.beacon(B, [report(config, B, 7, 5)]);
      driver.beacon(C, [report(config, C, 9, 5)]);
      driver.tick();
    }
    assert.equal(driver.nowMs, lastA + 10_000);
    assert.equal(driver.config(1, 0).primary, A, "not dead at exactly lastBeacon + grace");
    driver.nowMs += 1;
    driver.tick();
    const after = driver.config(1, 0);
    assert.equal(after.primary, C);
    assert.deepEqual(after.secondaries, [B]);
    assert.equal(after.ballot, config.ballot + 1);
    assert.deepEqual(after.lastDrops, [A]);
    assert.equal(driver.persists.at(-1)?.kind, "DEAD_PRIMARY_PROMOTED");
    assert.deepEqual(
      driver.core.listNodes({ status: "DEAD" }).nodes.map((n) => n.address),
      [A],
    );
    // The old primary, back, is no longer told it hosts the partition.
    assert.deepEqual(driver.beacon(A, [report(config, A, 9, 5)]).configs, []);
  });

  it("breaks decree ties on committed decree, then on address", () => {
    const { driver, config } = onePartition();
    driver.beacon(B, [report(config, B, 9, 8)]);
    driver.beacon(C, [report(config, C, 9, 7)]);
    driver.nowMs += 10_001;
    driver.beacon(B, [report(config, B, 9, 8)]);
    driver.beacon(C, [report(config, C, 9, 7)]);
    driver.tick();
    assert.equal(driver.config(1, 0).primary, B);
  });

  it("removes a dead secondary with ballot + 1", () => {
    const { driver, config } = onePartition();
    driver.nowMs += 10_001;
    driver.beaconAll([A, B]);
    driver.tick();
    const after = driver.config(1, 0);
    assert.equal(after.primary, A);
    assert.deepEqual(after.secondaries, [B]);
    assert.equal(after.ballot, config.ballot + 1);
    assert.equal(driver.core.clusterInfo().partitions.writableIll, 1);
  });

  it("persists a reassignment before it takes effect", () => {
    const { driver, config } = onePartition();
    driver.autoPersist = false;
    driver.nowMs += 10_001;
    driver.beaconAll([B, C]);
    driver.tick();
    assert.equal(driver.held.length, 1);
    assert.equal(driver.config(1, 0).primary, A, "not visible before persisted");
    assert.equal(driver.beacon(B).configs[0]?.primary, A);
    driver.tick(100);
    assert.equal(driver.held.length, 1, "one change per partition in flight");
    driver.release();
    assert.equal(driver.config(1, 0).primary, B);
    assert.equal(driver.config(1, 0).ballot, config.ballot + 1);
  });

  it("leaves a partition without primary when every member is dead, and re-admits only the last primary", () => {
    const { driver, config } = onePartition();
    // C dies first, then B, then A: A holds writes the others never saw.
    driver.nowMs += 10_001;
    driver.beaconAll([A, B]);
    driver.tick();
    driver.nowMs += 10_001;
    driver.beaconAll([A]);
    driver.tick();
    assert.deepEqual(driver.config(1, 0).lastDrops, [C, B]);
    driver.nowMs += 10_001;
    driver.tick();
    const orphan = driver.config(1, 0);
    assert.equal(orphan.primary, undefined);
    assert.deepEqual(orphan.secondaries, []);
    assert.deepEqual(orphan.lastDrops, [C, B, A]);
    assert.equal(orphan.ballot, config.ballot + 3);
    assert.equal(driver.core.clusterInfo().partitions.unwritable, 1);

    // B and C come back with their (older) data: nobody is promoted.
    driver.beacon(B, [report(config, B, 50)]);
    driver.beacon(C, [report(config, C, 40)]);
    driver.tick(1);
    assert.equal(driver.config(1, 0).primary, undefined);
    // A returns but has not reported the replica yet: still waiting.
    driver.beacon(A, []);
    driver.tick(1);
    assert.equal(driver.config(1, 0).primary, undefined);
    driver.beacon(A, [report(config, A, 60)]);
    driver.tick(1);
    const back = driver.config(1, 0);
    assert.equal(back.primary, A);
    assert.deepEqual(back.secondaries, []);
    assert.equal(back.ballot, orphan.ballot + 1);
    assert.equal(driver.persists.at(-1)?.kind, "LAST_PRIMARY_RETURNED");
  });

  it("keeps the old primary last in lastDrops when primary and secondaries die together", () => {
    const { driver } = onePartition();
    driver.nowMs += 10_001;
    driver.tick();
    const config = driver.config(1, 0);
    assert.equal(config.primary, undefined);
    assert.deepEqual(config.lastDrops, [B, C, A]);
  });

  it("after a restore, waits fdGraceMs from its first event before declaring anyone dead", () => {
    const { driver } = onePartition();
    const restored = new Driver(
      MetaCore.restore(driver.store.list(), { balanceIntervalMs: 1_000_000_000 }),
      driver.nowMs + 3_600_000,
    );
    restored.tick();
    restored.tick(10_000);
    assert.equal(restored.config(1, 0).primary, A);
    restored.beaconAll([B, C]);
    restored.tick(1);
    assert.equal(restored.config(1, 0).primary, B);
    assert.equal(restored.core.listNodes().nodes.find((n) => n.address === A)?.status, "DEAD");
  });

  it("does not touch partitions of dropped tables", () => {
    const { driver, config } = onePartition();
    driver.ok(MetaMethod.DROP_APP, { appName: "t" });
    driver.nowMs += 20_000;
    driver.tick();
    assert.deepEqual(driver.config(1, 0), config);
  });
});
