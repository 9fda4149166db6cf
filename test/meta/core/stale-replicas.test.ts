import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MetaMethod,
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { Driver, memberReports, nodes } from "./harness.ts";

const [A, B, C, D] = nodes(4) as [string, string, string, string];
const noBalance = { balanceIntervalMs: 1_000_000_000 };

/**
 * Table "t" (1 partition, A primary, B and C secondaries) on nodes A–D; C dies, D learns and is
 * added: the partition is full again without C, whose replica stayed at the old ballot.
 */
function replaced(): { driver: Driver; config: PartitionConfiguration; old: ReplicaReport } {
  const driver = Driver.create(noBalance);
  driver.beaconAll([A, B, C]);
  driver.createApp("t", 1, 3);
  driver.beacon(D);
  const before = driver.config(1, 0);
  const old: ReplicaReport = {
    gpid: before.gpid,
    ballot: before.ballot,
    status: ReplicaStatus.INACTIVE,
    lastCommittedDecree: 0,
    lastPreparedDecree: 0,
  };
  driver.nowMs += 10_001;
  driver.beaconAll([A, B, D]);
  driver.tick();
  const short = driver.config(1, 0);
  driver.ok(MetaMethod.UPDATE_CONFIGURATION, {
    gpid: short.gpid,
    node: A,
    ballot: short.ballot,
    change: { type: "ADD_SECONDARY", node: D },
  });
  const config = driver.config(1, 0);
  assert.deepEqual([config.primary, config.secondaries], [A, [B, D]]);
  return { driver, config, old };
}

describe("meta core: stale replicas", () => {
  it("names a returning node's replica of a partition that is full and healthy without it", () => {
    const { driver, config, old } = replaced();
    // Until every member reported itself at the new ballot, nothing is stale.
    assert.deepEqual(driver.beacon(C, [old]).staleReplicas, []);
    driver.beaconAll([A, B, D]);
    assert.deepEqual(driver.beacon(C, [old]).staleReplicas, [config.gpid]);
    // A member's own replica, a replica at the current ballot and a learner never are.
    assert.deepEqual(driver.beacon(D, memberReports(driver.core, D)).staleReplicas, []);
    assert.deepEqual(driver.beacon(C, [{ ...old, ballot: config.ballot }]).staleReplicas, []);
    assert.deepEqual(
      driver.beacon(C, [{ ...old, status: ReplicaStatus.LEARNER }]).staleReplicas,
      [],
    );
    // Nor one that knows of a commit the meta server has not seen.
    assert.deepEqual(
      driver.beacon(C, [{ ...old, lastCommittedDecree: 5, lastPreparedDecree: 5 }]).staleReplicas,
      [],
    );
  });

  it("names nothing while the partition is short, a member is silent or in the wrong role", () => {
    const { driver, old } = replaced();
    driver.beaconAll([A, B, D]);
    // D reports itself as a learner still: not yet confirmed in its role.
    driver.beacon(D, [
      { ...(memberReports(driver.core, D)[0] as ReplicaReport), status: ReplicaStatus.LEARNER },
    ]);
    assert.deepEqual(driver.beacon(C, [old]).staleReplicas, []);
    driver.beaconAll([A, B, D]);
    // B falls silent and is declared dead: the partition is short, C's replica may be needed.
    driver.nowMs += 10_001;
    driver.beaconAll([A, D]);
    driver.tick();
    assert.ok(driver.config(1, 0).secondaries.length < 2);
    assert.deepEqual(driver.beacon(C, [old]).staleReplicas, []);
  });

  it("leaves a dropped table's replicas to its removal", () => {
    const { driver, old } = replaced();
    driver.beaconAll([A, B, D]);
    driver.ok(MetaMethod.DROP_APP, { appName: "t" });
    const reply = driver.beacon(C, [old]);
    assert.deepEqual(reply.staleReplicas, []);
    assert.deepEqual(
      reply.droppedApps?.map((app) => app.appId),
      [1],
    );
  });

  it("names nothing while a change of the partition is being persisted", () => {
    const { driver, config, old } = replaced();
    driver.beaconAll([A, B, D]);
    driver.autoPersist = false;
    driver.send({
      method: MetaMethod.UPDATE_CONFIGURATION,
      body: {
        gpid: config.gpid,
        node: A,
        ballot: config.ballot,
        change: { type: "REMOVE_SECONDARY", node: D },
      },
    });
    assert.equal(driver.held.length, 1);
    assert.deepEqual(driver.beacon(C, [old]).staleReplicas, []);
  });
});
