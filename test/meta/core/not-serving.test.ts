/**
 * Members that are alive but do not serve their role: a primary that restarted and refuses its
 * old ballot (INACTIVE), replicas in ERROR, members that report no replica of the partition.
 * Without these rules such partitions would stay stuck while every node beacons.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

const [A, B, C, D] = nodes(4) as [string, string, string, string];

function report(
  config: PartitionConfiguration,
  status: ReplicaStatus,
  prepared: number,
  ballot = config.ballot,
): ReplicaReport {
  return {
    gpid: config.gpid,
    ballot,
    status,
    lastPreparedDecree: prepared,
    lastCommittedDecree: Math.min(prepared, 5),
  };
}

/** One partition of three replicas: A primary, B and C secondaries; D spare. */
function setup(): { driver: Driver; config: PartitionConfiguration } {
  const driver = Driver.create({ balanceIntervalMs: 1_000_000_000 });
  driver.beaconAll([A, B, C, D]);
  const [config] = driver.createApp("t", 1, 3);
  assert.ok(config !== undefined);
  assert.deepEqual([config.primary, config.secondaries], [A, [B, C]]);
  return { driver, config };
}

function healthySecondaries(driver: Driver, config: PartitionConfiguration, prepared = 7): void {
  driver.beacon(B, [report(config, ReplicaStatus.SECONDARY, prepared)]);
  driver.beacon(C, [report(config, ReplicaStatus.SECONDARY, prepared)]);
}

describe("meta core: members that do not serve", () => {
  it("promotes the best secondary when a restarted primary reports INACTIVE at the current ballot", () => {
    const { driver, config } = setup();
    driver.beacon(B, [report(config, ReplicaStatus.SECONDARY, 7)]);
    driver.beacon(C, [report(config, ReplicaStatus.SECONDARY, 10)]);
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.tick(1);
    assert.deepEqual(driver.config(1, 0), config, "one beacon may precede the configuration");
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.tick(1);
    const after = driver.config(1, 0);
    assert.equal(after.ballot, config.ballot + 1);
    assert.equal(after.primary, C);
    assert.deepEqual(after.secondaries, [B, A], "the old primary keeps its data as a secondary");
    assert.deepEqual(after.lastDrops, []);
    assert.equal(driver.persists.at(-1)?.kind, "PRIMARY_NOT_SERVING");
  });

  it("re-issues a refusing primary at ballot + 1 when it is the only member with data", () => {
    const { driver, config } = setup();
    driver.beacon(A, [report(config, ReplicaStatus.PRIMARY, 9)]);
    driver.nowMs += 10_001;
    // B and C are dead; A restarted within its grace period and refuses ballot 1.
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.tick();
    const after = driver.config(1, 0);
    assert.equal(after.ballot, config.ballot + 1);
    assert.equal(after.primary, A);
    assert.deepEqual(after.secondaries, []);
    assert.deepEqual(after.lastDrops, [B, C]);
    assert.equal(driver.persists.at(-1)?.kind, "PRIMARY_NOT_SERVING");
    // At the new ballot A is primary again: nothing more to repair.
    driver.beacon(A, [report(after, ReplicaStatus.PRIMARY, 10)]);
    driver.tick(1);
    assert.equal(driver.config(1, 0).ballot, after.ballot);
  });

  it("waits while a restarted primary reports an older ballot (it has not seen the configuration)", () => {
    const { driver, config } = setup();
    healthySecondaries(driver, config);
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9, config.ballot - 1)]);
    driver.tick(1);
    assert.deepEqual(driver.config(1, 0), config);
  });

  it("ignores a refusal that the next beacon no longer reports (the node had not seen the configuration)", () => {
    const { driver, config } = setup();
    healthySecondaries(driver, config);
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.beacon(A, [report(config, ReplicaStatus.PRIMARY, 9)]);
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.tick(1);
    assert.deepEqual(driver.config(1, 0), config, "the two refusals were not consecutive");
  });

  it("replaces a primary in ERROR and drops it", () => {
    const { driver, config } = setup();
    healthySecondaries(driver, config);
    driver.beacon(A, [report(config, ReplicaStatus.ERROR, 9, config.ballot - 1)]);
    driver.tick(1);
    const after = driver.config(1, 0);
    assert.equal(after.primary, B);
    assert.deepEqual(after.secondaries, [C]);
    assert.deepEqual(after.lastDrops, [A]);
  });

  it("leaves the partition without primary when a primary in ERROR has no live secondary", () => {
    const { driver, config } = setup();
    driver.nowMs += 10_001;
    driver.beacon(A, [report(config, ReplicaStatus.ERROR, 9)]);
    driver.tick();
    const after = driver.config(1, 0);
    assert.equal(after.primary, undefined);
    assert.deepEqual(after.lastDrops, [B, C, A]);
    // Restarted (no longer ERROR), A is the last primary and comes back.
    driver.beacon(A, [report(config, ReplicaStatus.INACTIVE, 9)]);
    driver.tick(1);
    assert.equal(driver.config(1, 0).primary, A);
  });

  it("removes a secondary that reports INACTIVE or ERROR at the current ballot; a learner replaces it", () => {
    const { driver, config } = setup();
    driver.beacon(A, [report(config, ReplicaStatus.PRIMARY, 7)]);
    driver.beacon(B, [report(config, ReplicaStatus.SECONDARY, 7)]);
    driver.beacon(C, [report(config, ReplicaStatus.INACTIVE, 7)]);
    driver.tick(1);
    assert.deepEqual(driver.config(1, 0), config, "one beacon may precede the configuration");
    driver.beacon(C, [report(config, ReplicaStatus.INACTIVE, 7)]);
    driver.tick(1);
    const first = driver.config(1, 0);
    assert.deepEqual([first.primary, first.secondaries], [A, [B]]);
    assert.deepEqual(first.lastDrops, [C]);
    assert.equal(driver.persists.at(-1)?.kind, "SECONDARY_NOT_SERVING");
    driver.tick(1);
    const [proposal] = driver.beacon(A, [report(first, ReplicaStatus.PRIMARY, 7)]).learnerProposals;
    assert.equal(proposal?.learner, C, "the node that still holds the data comes first");

    driver.beacon(B, [report(first, ReplicaStatus.ERROR, 7, first.ballot - 1)]);
    driver.tick(1);
    const second = driver.config(1, 0);
    assert.deepEqual([second.primary, second.secondaries], [A, []]);
    assert.equal(second.ballot, config.ballot + 2);
  });

  it("removes a secondary that reports no replica of the partition for longer than fdGraceMs", () => {
    const { driver, config } = setup();
    const beacons = (cReports: ReplicaReport[]) => {
      driver.beacon(A, [report(config, ReplicaStatus.PRIMARY, 7)]);
      driver.beacon(B, [report(config, ReplicaStatus.SECONDARY, 7)]);
      driver.beacon(C, cReports);
    };
    beacons([]);
    driver.tick(5_000);
    beacons([]);
    driver.tick(5_000);
    assert.deepEqual(driver.config(1, 0), config, "not at exactly fdGraceMs");
    // Reporting the replica again resets the clock.
    beacons([report(config, ReplicaStatus.SECONDARY, 7)]);
    driver.tick(1);
    beacons([]);
    driver.tick(9_000);
    assert.deepEqual(driver.config(1, 0), config);
    beacons([]);
    driver.tick(1_001);
    const after = driver.config(1, 0);
    assert.deepEqual([after.primary, after.secondaries], [A, [B]]);
    assert.equal(driver.persists.at(-1)?.kind, "SECONDARY_NOT_SERVING");
  });

  it("replaces a primary that reports no replica of the partition for longer than fdGraceMs", () => {
    const { driver, config } = setup();
    for (let i = 0; i < 3; i += 1) {
      healthySecondaries(driver, config);
      driver.beacon(A, []);
      driver.tick(5_001);
    }
    const after = driver.config(1, 0);
    assert.equal(after.primary, B);
    assert.deepEqual(after.lastDrops, [A]);
    assert.equal(driver.persists.at(-1)?.kind, "PRIMARY_NOT_SERVING");
  });

  it("restarts a partition whose members never created it, once the last primary is back without it", () => {
    const driver = Driver.create({ balanceIntervalMs: 1_000_000_000 });
    driver.beaconAll([A, B, C, D]);
    const [config] = driver.createApp("t", 1, 3);
    assert.ok(config !== undefined);
    // A, B and C never heard of the partition and die.
    driver.nowMs += 10_001;
    driver.beacon(D);
    driver.tick();
    const orphan = driver.config(1, 0);
    assert.deepEqual([orphan.primary, orphan.lastDrops], [undefined, [B, C, A]]);
    // A comes back without a replica of it: not before fdGraceMs of beacons without it.
    driver.beacon(A, []);
    driver.tick(5_000);
    driver.beacon(A, []);
    driver.tick(5_000);
    assert.equal(driver.config(1, 0).primary, undefined);
    driver.beacon(A, []);
    driver.tick(1);
    const back = driver.config(1, 0);
    assert.deepEqual([back.primary, back.secondaries, back.ballot], [A, [], orphan.ballot + 1]);
    assert.equal(driver.persists.at(-1)?.kind, "LAST_PRIMARY_NEVER_WRITTEN");
    // The new configuration starts A's clock over: it gets fdGraceMs to create the replica.
    driver.beacon(A, []);
    driver.tick(1);
    assert.equal(driver.config(1, 0).ballot, back.ballot);
  });

  it("keeps waiting when a commit is known (the last primary's disk may have been wiped)", () => {
    const driver = Driver.create({ balanceIntervalMs: 1_000_000_000 });
    driver.beaconAll([A, B, C, D]);
    const [config] = driver.createApp("t", 1, 3);
    assert.ok(config !== undefined);
    driver.beacon(B, [report(config, ReplicaStatus.SECONDARY, 4)]);
    driver.nowMs += 10_001;
    driver.beacon(D);
    driver.tick();
    assert.equal(driver.config(1, 0).lastCommittedDecree, 4);
    for (let i = 0; i < 4; i += 1) {
      driver.beacon(A, []);
      driver.tick(5_000);
    }
    assert.equal(driver.config(1, 0).primary, undefined);
  });
});
