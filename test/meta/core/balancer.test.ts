import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planPrimaryMoves } from "../../../src/meta/core/balancer.ts";
import { Driver, memberReports, nodes } from "./harness.ts";

const [A, B, C, D] = nodes(4) as [string, string, string, string];

function primaryCounts(driver: Driver, of: readonly string[]): number[] {
  const partitions = driver.core.durableState().partitions;
  return of.map((node) => partitions.filter((c) => c.primary === node).length);
}

describe("meta core: primary balancer", () => {
  it("moves primaries from overloaded nodes to secondaries on nodes below average, every interval", () => {
    const driver = Driver.create({ balanceIntervalMs: 10_000 });
    driver.beaconAll([A, B, C, D]);
    driver.createApp("t", 8, 3);
    assert.deepEqual(primaryCounts(driver, [A, B, C, D]), [2, 2, 2, 2]);
    // D dies: its primaries are promoted elsewhere and it leaves every partition.
    driver.nowMs += 10_001;
    driver.beaconAll([A, B, C]);
    driver.tick();
    assert.equal(primaryCounts(driver, [D])[0], 0);
    assert.ok(Math.max(...primaryCounts(driver, [A, B, C])) > 2);
    // D comes back and is taught its replicas again (ADD_SECONDARY from the primaries).
    for (let round = 0; round < 4; round += 1) {
      driver.beaconAll([A, B, C, D]);
      driver.tick(1);
      for (const proposal of driver.core.learnerProposals()) {
        const config = driver.config(proposal.gpid.appId, proposal.gpid.partitionIndex);
        driver.ok("meta.update_configuration", {
          gpid: proposal.gpid,
          node: config.primary as string,
          ballot: config.ballot,
          change: { type: "ADD_SECONDARY", node: proposal.learner },
        });
      }
    }
    assert.equal(driver.core.clusterInfo().partitions.healthy, 8);
    assert.equal(primaryCounts(driver, [D])[0], 0, "learners come back as secondaries");
    const ballotsBefore = driver.core.durableState().partitions.map((c) => c.ballot);
    driver.nowMs += 10_000;
    driver.beaconAll([A, B, C, D], 5);
    driver.tick();
    assert.deepEqual(primaryCounts(driver, [A, B, C, D]), [2, 2, 2, 2]);
    const after = driver.core.durableState().partitions;
    after.forEach((config, i) => {
      assert.ok(config.ballot - (ballotsBefore[i] ?? 0) <= 1, "at most one move per partition");
      assert.equal(config.secondaries.length, 2, "a swap keeps every member");
    });
    assert.equal(driver.persists.filter((p) => p.kind === "BALANCE_PRIMARY").length, 2);
    // Balanced: the next rounds change nothing.
    const stable = driver.core.durableState();
    driver.nowMs += 10_000;
    driver.beaconAll([A, B, C, D], 5);
    driver.tick();
    assert.deepEqual(driver.core.durableState(), stable);
  });

  it("plans nothing when balanced, bounds moves per round, and prefers caught-up secondaries", () => {
    const partitions = [0, 1, 2, 3].map((i) => ({
      gpid: { appId: 1, partitionIndex: i },
      ballot: 3,
      primary: A,
      secondaries: [B, C],
      maxReplicaCount: 3,
      lastCommittedDecree: 0,
    }));
    const report = (node: string, key: string) => ({
      gpid: { appId: 1, partitionIndex: Number(key.split(".")[1]) },
      ballot: 3,
      status: "SECONDARY" as const,
      lastCommittedDecree: 10,
      lastPreparedDecree: node === B ? 9 : 10,
    });
    const input = {
      partitions,
      servingNodes: [A, B, C],
      isBusy: () => false,
      report,
      observedCommittedDecree: () => 10,
      movesMax: 8,
    };
    const moves = planPrimaryMoves(input);
    // 4 primaries over 3 nodes: ceil(4/3) = 2, so A gives away 2.
    assert.equal(moves.length, 2);
    assert.equal(moves[0]?.to, C, "C is caught up (prepared 10 = primary's), B is not");
    assert.equal(moves[1]?.to, B, "then the node with fewer primaries");
    assert.deepEqual(moves[0]?.config.secondaries, [B, A]);
    assert.equal(moves[0]?.config.ballot, 4);
    assert.equal(planPrimaryMoves({ ...input, movesMax: 1 }).length, 1);
    assert.equal(planPrimaryMoves({ ...input, isBusy: () => true }).length, 0);
    assert.equal(planPrimaryMoves({ ...input, partitions: partitions.slice(0, 1) }).length, 0);
  });

  it("does not move primaries of partitions missing replicas", () => {
    const driver = Driver.create({ balanceIntervalMs: 10_000 });
    driver.beaconAll([A, B, C]);
    driver.createApp("t", 3, 3);
    driver.nowMs += 10_001;
    driver.beaconAll([A, B]);
    driver.tick();
    driver.nowMs += 10_000;
    for (const node of [A, B]) driver.beacon(node, memberReports(driver.core, node, 1));
    const before = driver.core.durableState().partitions;
    driver.tick();
    assert.deepEqual(driver.core.durableState().partitions, before);
  });
});
