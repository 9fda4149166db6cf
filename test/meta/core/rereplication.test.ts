import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetaCore } from "../../../src/meta/core/index.ts";
import {
  MetaMethod,
  type PartitionConfiguration,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

const [A, B, C, D, E] = nodes(5) as [string, string, string, string, string];
const noBalance = { balanceIntervalMs: 1_000_000_000 };

/** Table "t" (1 partition, A primary, B and C secondaries) on nodes A–D; C then dies. */
function shortPartition(options = {}): { driver: Driver; config: PartitionConfiguration } {
  const driver = Driver.create({ ...noBalance, ...options });
  driver.beaconAll([A, B, C]);
  driver.createApp("t", 1, 3);
  driver.beacon(D);
  driver.nowMs += 10_001;
  driver.beaconAll([A, B, D]);
  driver.tick();
  const config = driver.config(1, 0);
  assert.deepEqual([config.primary, config.secondaries], [A, [B]]);
  return { driver, config };
}

describe("meta core: re-replication", () => {
  it("proposes a learner to the primary, then ADD_SECONDARY makes it a secondary with ballot + 1", () => {
    const { driver, config } = shortPartition();
    driver.tick();
    const proposals = driver.beacon(A).learnerProposals;
    assert.deepEqual(proposals, [{ gpid: config.gpid, learner: D, ballot: config.ballot }]);
    assert.deepEqual(driver.beacon(B).learnerProposals, [], "only the primary is told");

    const response = driver.ok(MetaMethod.UPDATE_CONFIGURATION, {
      gpid: config.gpid,
      node: A,
      ballot: config.ballot,
      change: { type: "ADD_SECONDARY", node: D },
    });
    assert.equal(response.config.ballot, config.ballot + 1);
    assert.deepEqual(response.config.secondaries, [B, D]);
    assert.deepEqual(driver.config(1, 0), response.config);
    assert.deepEqual(driver.beacon(A).learnerProposals, []);
    assert.equal(driver.core.clusterInfo().partitions.healthy, 1);
  });

  it("keeps proposing the same learner, and prefers a node that still holds a replica", () => {
    const { driver, config } = shortPartition();
    driver.beacon(E, [
      {
        gpid: config.gpid,
        ballot: 1,
        status: ReplicaStatus.INACTIVE,
        lastCommittedDecree: 3,
        lastPreparedDecree: 3,
      },
    ]);
    driver.tick();
    assert.equal(driver.beacon(A).learnerProposals[0]?.learner, E);
    driver.beaconAll([A, B, D]);
    driver.beacon(E, []);
    driver.tick(1_000);
    assert.equal(
      driver.beacon(A).learnerProposals[0]?.learner,
      E,
      "sticky even without the replica",
    );
  });

  it("moves the proposal when the learner dies or times out", () => {
    const { driver } = shortPartition({ learnerProposalTimeoutMs: 60_000 });
    driver.beacon(E);
    driver.tick();
    const first = driver.beacon(A).learnerProposals[0]?.learner;
    assert.ok(first === D || first === E);
    const other = first === D ? E : D;
    for (let i = 0; i < 7; i += 1) {
      driver.nowMs += 9_000;
      driver.beaconAll([A, B, other]);
      driver.tick();
    }
    assert.equal(
      driver.beacon(A).learnerProposals[0]?.learner,
      other,
      "the dead learner is replaced",
    );
    driver.beacon(first);
    for (let i = 0; i < 8; i += 1) {
      driver.nowMs += 9_000;
      driver.beaconAll([A, B, D, E]);
      driver.tick();
    }
    assert.equal(
      driver.beacon(A).learnerProposals[0]?.learner,
      first,
      "timed out: another node is tried",
    );
  });

  it("bounds the proposals aimed at one node", () => {
    const driver = Driver.create({ ...noBalance, learnerProposalsPerNodeMax: 1 });
    driver.beaconAll([A, B]);
    driver.createApp("t", 4, 2);
    driver.beacon(C);
    driver.nowMs += 10_001;
    driver.beaconAll([A, C]);
    driver.tick();
    driver.tick();
    assert.equal(driver.core.learnerProposals().length, 1);
    assert.equal(driver.core.learnerProposals()[0]?.learner, C);
  });

  it("refuses stale ballots and non-primaries with ERR_INVALID_STATE and the current config", () => {
    const { driver, config } = shortPartition();
    const stale = driver.call(MetaMethod.UPDATE_CONFIGURATION, {
      gpid: config.gpid,
      node: A,
      ballot: config.ballot - 1,
      change: { type: "ADD_SECONDARY", node: D },
    });
    assert.ok(!stale.ok);
    assert.equal(stale.error.code, "ERR_INVALID_STATE");
    assert.deepEqual(stale.error.details.config, config);
    const notPrimary = driver.call(MetaMethod.UPDATE_CONFIGURATION, {
      gpid: config.gpid,
      node: B,
      ballot: config.ballot,
      change: { type: "ADD_SECONDARY", node: D },
    });
    assert.ok(!notPrimary.ok);
    assert.equal(notPrimary.error.code, "ERR_INVALID_STATE");
    const code = (change: { type: "ADD_SECONDARY" | "REMOVE_SECONDARY"; node: string }) =>
      driver.errorCode(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: config.gpid,
        node: A,
        ballot: config.ballot,
        change,
      });
    assert.equal(code({ type: "ADD_SECONDARY", node: B }), "ERR_INVALID_STATE", "already a member");
    assert.equal(code({ type: "ADD_SECONDARY", node: C }), "ERR_INVALID_STATE", "dead node");
    assert.equal(
      code({ type: "REMOVE_SECONDARY", node: D }),
      "ERR_INVALID_STATE",
      "not a secondary",
    );
    assert.equal(code({ type: "ADD_SECONDARY", node: "x" }), "ERR_INVALID_PARAMETERS");
    assert.equal(
      driver.errorCode(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: { appId: 9, partitionIndex: 0 },
        node: A,
        ballot: 1,
        change: { type: "ADD_SECONDARY", node: D },
      }),
      "ERR_APP_NOT_EXIST",
    );
    assert.equal(
      driver.errorCode(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: { appId: 1, partitionIndex: 5 },
        node: A,
        ballot: 1,
        change: { type: "ADD_SECONDARY", node: D },
      }),
      "ERR_OBJECT_NOT_FOUND",
    );
    assert.equal(driver.config(1, 0).ballot, config.ballot, "refusals change nothing");
  });

  it("fences numbered changes: a refused number stays refused, a lower one is superseded", () => {
    const { driver, config } = shortPartition();
    const change = (
      ballot: number,
      type: "ADD_SECONDARY" | "REMOVE_SECONDARY",
      node: string,
      changeId?: number,
    ) =>
      driver.call(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: config.gpid,
        node: A,
        ballot,
        change: { type, node },
        ...(changeId === undefined ? {} : { changeId }),
      });
    const refusal = (result: ReturnType<typeof change>) => {
      assert.ok(!result.ok);
      assert.equal(result.error.code, "ERR_INVALID_STATE");
      assert.equal((result.error.details.config as PartitionConfiguration).ballot, config.ballot);
      return result.error.message;
    };
    // C is dead: change 1 is refused at the primary's ballot ("not applied").
    assert.match(refusal(change(config.ballot, "ADD_SECONDARY", C, 1)), /not alive/);
    // C comes back. A copy of change 1 still on its way must not be applied now: the primary may
    // already have stopped gating commits on C.
    driver.beacon(C);
    assert.match(refusal(change(config.ballot, "ADD_SECONDARY", C, 1)), /refused already/);
    // Change 2 (already a member) refused; change 1 again is superseded.
    assert.match(refusal(change(config.ballot, "ADD_SECONDARY", B, 2)), /already a member/);
    assert.match(refusal(change(config.ballot, "ADD_SECONDARY", C, 1)), /superseded by change 2/);
    assert.equal(driver.config(1, 0).ballot, config.ballot, "refusals change nothing");
    // A new number goes through, as does an unnumbered request (an older replica server).
    const added = change(config.ballot, "ADD_SECONDARY", C, 3);
    assert.ok(added.ok);
    const next = driver.config(1, 0);
    assert.deepEqual([next.ballot, next.secondaries], [config.ballot + 1, [B, C]]);
    assert.ok(change(next.ballot, "REMOVE_SECONDARY", C).ok);
  });

  it("keeps the fence across a meta restart: the first numbered change after it is refused", () => {
    const { driver, config } = shortPartition();
    const change = (target: Driver, node: string, changeId: number) =>
      target.call(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: config.gpid,
        node: A,
        ballot: config.ballot,
        change: { type: "ADD_SECONDARY", node },
        changeId,
      });
    const refusedAtBallot = (result: ReturnType<typeof change>): string => {
      assert.ok(!result.ok);
      assert.equal(result.error.code, "ERR_INVALID_STATE");
      assert.equal((result.error.details.config as PartitionConfiguration).ballot, config.ballot);
      return result.error.message;
    };
    // C is dead: change 1 is refused by the old leader, which then goes away with its memory.
    assert.match(refusedAtBallot(change(driver, C, 1)), /not alive/);
    const restored = new Driver(MetaCore.restore(driver.store.list()), driver.nowMs);
    for (const [path, value] of driver.store.records) restored.store.records.set(path, value);
    restored.beaconAll([A, B, C, D]);
    // A copy of change 1 reaching the new leader once C is back must still not be applied.
    assert.match(refusedAtBallot(change(restored, C, 1)), /changed leader/);
    assert.match(refusedAtBallot(change(restored, C, 1)), /refused already/);
    assert.equal(restored.config(1, 0).ballot, config.ballot, "refusals change nothing");
    // The primary's next number goes through.
    assert.ok(change(restored, C, 2).ok);
    assert.deepEqual(restored.config(1, 0).secondaries, [B, C]);
  });

  it("answers ERR_BUSY while another change of the partition is persisting, and replies only once persisted", () => {
    const { driver, config } = shortPartition();
    driver.autoPersist = false;
    const first = driver.send({
      method: MetaMethod.UPDATE_CONFIGURATION,
      body: {
        gpid: config.gpid,
        node: A,
        ballot: config.ballot,
        change: { type: "REMOVE_SECONDARY", node: B },
      },
    });
    assert.equal(driver.replies.has(first), false);
    const second = driver.call(MetaMethod.UPDATE_CONFIGURATION, {
      gpid: config.gpid,
      node: A,
      ballot: config.ballot,
      change: { type: "ADD_SECONDARY", node: D },
    });
    assert.ok(!second.ok);
    assert.equal(second.error.code, "ERR_BUSY");
    // The same request again (a primary retrying) must not read as "refused at your ballot".
    const retry = driver.call(MetaMethod.UPDATE_CONFIGURATION, {
      gpid: config.gpid,
      node: A,
      ballot: config.ballot,
      change: { type: "REMOVE_SECONDARY", node: B },
    });
    assert.ok(!retry.ok);
    assert.equal(retry.error.code, "ERR_BUSY");
    assert.equal(retry.error.details.config, undefined, "outcome unknown: no configuration");
    driver.release();
    const reply = driver.replies.get(first);
    assert.ok(reply?.ok);
    const removed = driver.config(1, 0);
    assert.deepEqual(
      [removed.primary, removed.secondaries, removed.ballot],
      [A, [], config.ballot + 1],
    );
    assert.deepEqual(removed.lastDrops, [C, B]);
  });
});
