/**
 * The target meta core's side of full duplication: the follower-table create of notes §2.5 (every
 * row of its table), primary-only placement, no secondary before the primary serves its copied
 * checkpoint, a long copy (INACTIVE at ballot 0) never read as a failure, and the copy progress in
 * configuration queries.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetaCore } from "../../../src/meta/core/index.ts";
import {
  FollowerEnv,
  MetaMethod,
  type ReplicaReport,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

const [A, B, C, D] = nodes(4) as [string, string, string, string];
const patient = { fdLeaseMs: 3_599_000, fdGraceMs: 3_600_000, balanceIntervalMs: 1_000_000_000 };

function envs(status: string | undefined, master = "dc1"): Record<string, string> {
  return {
    [FollowerEnv.MASTER_CLUSTER]: master,
    [FollowerEnv.MASTER_METAS]: "10.0.1.1:34601",
    [FollowerEnv.MASTER_APP_NAME]: "t",
    ...(status === undefined ? {} : { [FollowerEnv.FOLLOWER_APP_STATUS]: status }),
  };
}

function target(options = {}): Driver {
  const driver = Driver.create({ ...patient, ...options });
  driver.beaconAll([A, B, C]);
  return driver;
}

const create = (driver: Driver, status: string | undefined, master = "dc1", appName = "f") =>
  driver.call(MetaMethod.CREATE_APP, {
    appName,
    partitionCount: 2,
    replicaCount: 3,
    envs: envs(status, master),
  });

function code(result: ReturnType<typeof create>): string {
  assert.ok(!result.ok, "expected a refusal");
  return result.error.code;
}

describe("follower table create (ref §2.5)", () => {
  it("creating: a primary only per partition; the same create again answers OK without a change", () => {
    const driver = target();
    const first = create(driver, "creating");
    assert.ok(first.ok);
    for (const config of first.value.partitions) {
      assert.ok(config.primary !== undefined);
      assert.deepEqual(config.secondaries, []);
      assert.equal(config.maxReplicaCount, 3);
    }
    const persisted = driver.persists.length;
    const again = create(driver, "creating");
    assert.ok(again.ok);
    assert.equal(again.value.app.appId, first.value.app.appId);
    assert.deepEqual(again.value.partitions, first.value.partitions);
    assert.equal(driver.persists.length, persisted, "idempotent: nothing persisted");
  });

  it("creating → created is persisted; created again is OK; creating after created is ERR_APP_EXIST", () => {
    const driver = target();
    assert.ok(create(driver, "creating").ok);
    const marked = create(driver, "created");
    assert.ok(marked.ok);
    assert.equal(marked.value.app.envs[FollowerEnv.FOLLOWER_APP_STATUS], "created");
    assert.equal(driver.persists.at(-1)?.kind, "FOLLOWER_APP_CREATED");
    const persisted = driver.persists.length;
    assert.ok(create(driver, "created").ok);
    assert.equal(driver.persists.length, persisted);
    assert.equal(code(create(driver, "creating")), "ERR_APP_EXIST");
    // The env survives a new leader.
    const restored = MetaCore.restore(driver.store.list(), patient);
    assert.equal(
      restored.queryConfiguration({ appName: "f" }).app.envs[FollowerEnv.FOLLOWER_APP_STATUS],
      "created",
    );
  });

  it("refuses every other case as the table says", () => {
    const driver = target();
    assert.ok(create(driver, "creating").ok);
    // master_cluster different, or the existing table is no follower.
    assert.equal(code(create(driver, "creating", "dc9")), "ERR_APP_EXIST");
    driver.createApp("plain", 2, 3);
    assert.equal(code(create(driver, "creating", "dc1", "plain")), "ERR_APP_EXIST");
    // The request names no follower_app_status (an old master).
    assert.equal(code(create(driver, undefined)), "ERR_APP_EXIST");
    // The existing follower has none.
    assert.ok(create(driver, undefined, "dc1", "old").ok);
    assert.equal(code(create(driver, "creating", "dc1", "old")), "ERR_INVALID_STATE");
    // Other values, in the request or in the table.
    assert.equal(code(create(driver, "copying")), "ERR_INVALID_PARAMETERS");
    driver.ok(MetaMethod.SET_APP_ENVS, {
      appName: "old",
      envs: { [FollowerEnv.FOLLOWER_APP_STATUS]: "weird" },
    });
    assert.equal(code(create(driver, "created", "dc1", "old")), "ERR_INVALID_PARAMETERS");
    // A create without the follower envs is refused as before.
    const plain = driver.call(MetaMethod.CREATE_APP, {
      appName: "f",
      partitionCount: 2,
      replicaCount: 3,
    });
    assert.equal(code(plain), "ERR_APP_EXIST");
  });

  it("a follower created directly as created, or without a status, is placed with every replica", () => {
    const driver = target();
    const created = create(driver, "created");
    assert.ok(created.ok);
    for (const config of created.value.partitions) assert.equal(config.secondaries.length, 2);
    const old = create(driver, undefined, "dc1", "old");
    assert.ok(old.ok);
    for (const config of old.value.partitions) assert.equal(config.secondaries.length, 2);
  });
});

describe("follower partitions while their primary copies", () => {
  /** Reports of `node` for the follower's partitions it is primary of. */
  function primaryReports(
    driver: Driver,
    node: string,
    report: (ballot: number) => Omit<ReplicaReport, "gpid" | "ballot"> & { ballot?: number },
  ): ReplicaReport[] {
    return driver.core
      .queryConfiguration({ appName: "f" })
      .partitions.filter((c) => c.primary === node)
      .map((c) => ({ gpid: c.gpid, ballot: c.ballot, ...report(c.ballot) }));
  }

  it("never treats a primary copying for a long time (INACTIVE at ballot 0) as failed; shows its progress", () => {
    const driver = target({ fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    assert.ok(create(driver, "creating").ok);
    const copying = () => ({
      ballot: 0,
      status: ReplicaStatus.INACTIVE,
      lastCommittedDecree: 0,
      lastPreparedDecree: 0,
      followerCopy: { copiedBytes: 4096, totalBytes: 1 << 30 },
    });
    for (let t = 0; t < 900; t += 1) {
      driver.tick(1_000);
      for (const node of [A, B, C]) driver.beacon(node, primaryReports(driver, node, copying));
    }
    assert.deepEqual(
      driver.persists.filter((p) => p.kind !== "CREATE_APP").map((p) => p.kind),
      [],
      "fifteen minutes of copy: no reassignment",
    );
    assert.deepEqual(driver.core.learnerProposals(), []);
    for (const config of driver.core.queryConfiguration({ appName: "f" }).partitions) {
      assert.deepEqual(config.followerCopy, { copiedBytes: 4096, totalBytes: 1 << 30 });
      assert.equal(config.ballot, 1);
    }
    // Beacon replies carry the configuration without the copy progress.
    const [reply] = driver.beacon(A, primaryReports(driver, A, copying)).configs;
    assert.equal(reply?.followerCopy, undefined);
  });

  it("an INACTIVE report at ballot 0 counts as not having seen the configuration, for any table", () => {
    const driver = Driver.create({ ...patient, fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    driver.beaconAll([A, B, C]);
    driver.createApp("n", 1, 3);
    const inactive: ReplicaReport[] = [
      {
        gpid: { appId: 1, partitionIndex: 0 },
        ballot: 0,
        status: ReplicaStatus.INACTIVE,
        lastCommittedDecree: 0,
        lastPreparedDecree: 0,
      },
    ];
    for (let t = 0; t < 120; t += 1) {
      driver.tick(1_000);
      for (const node of [A, B, C]) driver.beacon(node, inactive);
    }
    assert.equal(driver.config(1, 0).ballot, 1, "no member was removed");
  });

  it("adds no secondary before the primary serves (PRIMARY at the configuration's ballot, decree ≥ 1)", () => {
    const driver = target();
    driver.beacon(D);
    assert.ok(create(driver, "creating").ok);
    const beaconAll = (
      report: (ballot: number) => Omit<ReplicaReport, "gpid" | "ballot"> & { ballot?: number },
    ) => {
      for (const node of [A, B, C]) driver.beacon(node, primaryReports(driver, node, report));
      driver.beacon(D);
      driver.tick(1_000);
    };
    // Open as primary but still empty (decree 0), or at an older ballot: still no learner.
    beaconAll(() => ({
      status: ReplicaStatus.PRIMARY,
      lastCommittedDecree: 0,
      lastPreparedDecree: 0,
    }));
    assert.deepEqual(driver.core.learnerProposals(), []);
    beaconAll(() => ({
      ballot: 0,
      status: ReplicaStatus.PRIMARY,
      lastCommittedDecree: 9,
      lastPreparedDecree: 9,
    }));
    assert.deepEqual(driver.core.learnerProposals(), []);
    // Serving its checkpoint at the configuration's ballot: re-replication fills the count.
    beaconAll(() => ({
      status: ReplicaStatus.PRIMARY,
      lastCommittedDecree: 9,
      lastPreparedDecree: 9,
    }));
    const proposals = driver.core.learnerProposals();
    assert.equal(proposals.length, 2);
    for (const proposal of proposals) {
      const config = driver.config(proposal.gpid.appId, proposal.gpid.partitionIndex);
      driver.ok(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: proposal.gpid,
        node: config.primary ?? "",
        ballot: config.ballot,
        change: { type: "ADD_SECONDARY", node: proposal.learner },
      });
    }
    // At the new ballot the primary must serve again before the third replica is proposed.
    driver.tick(1_000);
    assert.deepEqual(driver.core.learnerProposals(), []);
    beaconAll(() => ({
      status: ReplicaStatus.PRIMARY,
      lastCommittedDecree: 9,
      lastPreparedDecree: 9,
    }));
    assert.equal(driver.core.learnerProposals().length, 2);
  });

  it("gives a partition whose copying primary died (or failed) before committing anything to another node", () => {
    const driver = target({ fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    driver.beacon(D);
    assert.ok(create(driver, "creating").ok);
    const before = driver.config(1, 0);
    const dead = before.primary ?? "";
    const alive = [A, B, C, D].filter((n) => n !== dead);
    const copying = (node: string) =>
      primaryReports(driver, node, () => ({
        ballot: 0,
        status: ReplicaStatus.INACTIVE,
        lastCommittedDecree: 0,
        lastPreparedDecree: 0,
        followerCopy: { copiedBytes: 1, totalBytes: 2 },
      }));
    for (let t = 0; t < 15; t += 1) {
      driver.tick(1_000);
      for (const node of alive) driver.beacon(node, copying(node));
    }
    const after = driver.config(1, 0);
    assert.ok(after.primary !== undefined && after.primary !== dead, "a new primary copies");
    assert.deepEqual(after.secondaries, []);
    assert.ok(driver.persists.some((p) => p.kind === "FOLLOWER_PRIMARY_REPLACED"));

    // A primary whose copy failed for good reports ERROR (and keeps reporting it): replaced too.
    const failed = after.primary;
    const gpid = after.gpid;
    for (let t = 0; t < 3; t += 1) {
      for (const node of alive)
        driver.beacon(
          node,
          node === failed
            ? [
                {
                  gpid,
                  ballot: after.ballot,
                  status: ReplicaStatus.ERROR,
                  lastCommittedDecree: 0,
                  lastPreparedDecree: 0,
                },
              ]
            : copying(node),
        );
      driver.tick(1_000);
    }
    const third = driver.config(1, 0);
    assert.ok(third.primary !== undefined && third.primary !== failed);

    // A plain table's partition keeps waiting for its last primary instead.
    const plain = target({ fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    plain.beacon(D);
    const [config] = plain.createApp("p", 1, 1);
    const gone = config?.primary ?? "";
    for (let t = 0; t < 15; t += 1) {
      plain.tick(1_000);
      for (const node of [A, B, C, D].filter((n) => n !== gone)) plain.beacon(node);
    }
    assert.equal(plain.config(1, 0).primary, undefined);
  });
});
