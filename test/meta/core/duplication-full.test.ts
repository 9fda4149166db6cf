/**
 * Full duplication on the source meta core (add with a checkpoint, "create"): DS_PREPARE with the
 * primaries' checkpoint decrees, the follower table created on a remote meta core (a second
 * MetaCore standing in for dc2), DS_APP while the follower copies, DS_LOG / DS_PAUSE after.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import { fullSyncHint } from "../../../src/meta/core/duplication/index.ts";
import type { MetaResult } from "../../../src/meta/core/index.ts";
import {
  type AddDuplicationResponse,
  type DuplicationConfirm,
  DuplicationMethod,
  DuplicationStatus,
  FollowerEnv,
  MetaMethod,
  type ReplicaReport,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import {
  dupCluster,
  okReply,
  primaryOf,
  query,
  reportConfirms,
  restart,
  runRemoteTasks,
  sendAdd,
  syncOk,
  targetCluster,
} from "./duplication-harness.ts";
import type { Driver } from "./harness.ts";

const { DS_PREPARE, DS_APP, DS_LOG, DS_PAUSE } = DuplicationStatus;

function addFull(
  driver: Driver,
  body: Record<string, unknown> = {},
): { dupid: number; added: AddDuplicationResponse } {
  const requestId = sendAdd(driver, { isDuplicatingCheckpoint: true, ...body });
  const added = okReply<AddDuplicationResponse>(driver, requestId);
  return { dupid: added.dupid, added };
}

const prepared =
  (dupid: number, decree: (p: number) => number) =>
  (p: number): DuplicationConfirm => ({
    dupid,
    confirmedDecree: decree(p),
    checkpointPrepared: true,
  });

function record(driver: Driver, dupid: number): Record<string, unknown> {
  const value = driver.store.records.get(`/talaria/apps/1/duplication/${dupid}`);
  assert.ok(value !== undefined, "no duplication record");
  return JSON.parse(Buffer.from(value).toString("utf8")) as Record<string, unknown>;
}

/** The follower's primaries report the copy (INACTIVE at ballot 0) or serving (PRIMARY at ≥ C). */
function followerBeacons(
  target: Driver,
  report: (partitionIndex: number, ballot: number) => Omit<ReplicaReport, "gpid">,
): void {
  const { partitions } = target.core.queryConfiguration({ appName: "t" });
  const byNode = new Map<string, ReplicaReport[]>();
  for (const config of partitions) {
    if (config.primary === undefined) continue;
    const list = byNode.get(config.primary) ?? [];
    list.push({ gpid: config.gpid, ...report(config.gpid.partitionIndex, config.ballot) });
    byNode.set(config.primary, list);
  }
  for (const [node, replicas] of byNode) target.beacon(node, replicas);
}

const copying =
  (copiedBytes: (p: number) => number) =>
  (p: number): Omit<ReplicaReport, "gpid"> => ({
    ballot: 0,
    status: ReplicaStatus.INACTIVE,
    lastCommittedDecree: 0,
    lastPreparedDecree: 0,
    followerCopy: { copiedBytes: copiedBytes(p), totalBytes: 1000 },
  });

const serving =
  (decree: (p: number) => number) =>
  (p: number, ballot: number): Omit<ReplicaReport, "gpid"> => ({
    ballot,
    status: ReplicaStatus.PRIMARY,
    lastCommittedDecree: decree(p),
    lastPreparedDecree: decree(p),
  });

/** A full duplication of "t" (4 partitions) whose checkpoint decrees 10+p are persisted. */
function preparedDup(body: Record<string, unknown> = {}) {
  const cluster = dupCluster(4);
  const { dupid } = addFull(cluster.driver, body);
  reportConfirms(
    cluster.driver,
    cluster.appId,
    prepared(dupid, (p) => 10 + p),
    (p) => 15 + p,
  );
  assert.equal(record(cluster.driver, dupid).prepared, true);
  return { ...cluster, dupid };
}

describe("full duplication: add with a checkpoint", () => {
  it("persists DS_PREPARE with fullSync create and answers at once, asking primaries for checkpoints", () => {
    const { driver, appId } = dupCluster(4);
    const { dupid, added } = addFull(driver);
    assert.equal(added.status, DS_PREPARE);
    assert.deepEqual(added.startDecrees, [-1, -1, -1, -1]);
    assert.equal(added.remoteReplicaCount, 3, "the source's replica count by default");
    assert.equal(added.hint, fullSyncHint);
    const stored = record(driver, dupid);
    assert.equal(stored.status, "DS_PREPARE");
    assert.equal(stored.full_sync, "create");
    assert.equal(stored.prepared, undefined);

    const reply = syncOk(driver, primaryOf(driver, appId, 0));
    const entry = reply.apps.find((a) => a.appId === appId)?.duplications[0];
    assert.equal(entry?.fullSync, "create");
    assert.equal(entry?.status, DS_PREPARE);
    assert.deepEqual(entry?.confirmedDecrees, [-1, -1, -1, -1]);
    assert.equal(reply.nextSyncDelayMs, 1_000, "short syncs while the checkpoints are made");
    const detail = query(driver).duplications[0];
    assert.equal(detail?.fullSync, "create");
    assert.deepEqual(
      detail?.partitionStates.map((s) => s.checkpointPrepared),
      [false, false, false, false],
    );
    assert.deepEqual(driver.core.duplicationRemoteTasks(), [], "nothing to create before C");
  });

  it("refuses a full duplication while this cluster's meta server list is unknown", () => {
    const { driver } = dupCluster(2, { metaServers: [] });
    const result = driver.call(DuplicationMethod.ADD, {
      appName: "t",
      remoteClusterName: "dc2",
      isDuplicatingCheckpoint: true,
    });
    assert.ok(!result.ok);
    assert.equal(result.error.code, "ERR_OPERATION_DISABLED");
    assert.equal(result.error.details.reason, "meta_servers_unknown");
  });

  it("takes the remote replica count and table name from the request; ERR_DUP_EXIST after", () => {
    const { driver } = dupCluster(2);
    const { added } = addFull(driver, { remoteAppName: "t2", remoteReplicaCount: 1 });
    assert.deepEqual([added.remoteAppName, added.remoteReplicaCount], ["t2", 1]);
    const again = driver.call(DuplicationMethod.ADD, {
      appName: "t",
      remoteClusterName: "dc2",
      isDuplicatingCheckpoint: true,
    });
    assert.ok(!again.ok);
    assert.equal(again.error.code, "ERR_DUP_EXIST");
  });
});

describe("full duplication: DS_PREPARE", () => {
  it("persists every checkpoint decree in one change once every current primary prepared", () => {
    const {
      driver,
      appId,
      nodes: all,
    } = dupCluster(4, {}, { fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    const { dupid } = addFull(driver);
    const preparing = (p: number) => (p < 2 ? prepared(dupid, (q) => 20 + q)(p) : undefined);
    reportConfirms(driver, appId, preparing, () => 40);
    // Partition 2's primary has no durable checkpoint yet; partition 3 reports impossible decrees.
    reportConfirms(
      driver,
      appId,
      (p) => (p === 2 ? { dupid, confirmedDecree: 22 } : undefined),
      () => 40,
    );
    reportConfirms(
      driver,
      appId,
      (p) => (p === 3 ? prepared(dupid, () => 0)(p) : undefined),
      () => 40,
    );
    reportConfirms(
      driver,
      appId,
      (p) => (p === 3 ? prepared(dupid, () => 50)(p) : undefined),
      () => 40,
    );
    assert.equal(driver.persists.filter((p) => p.kind === "PREPARE_DUPLICATION").length, 0);
    assert.deepEqual(
      query(driver).duplications[0]?.partitionStates.map((s) => s.checkpointPrepared),
      [true, true, false, false],
    );

    // Partition 0's primary dies: every configuration changes, so every report must come again
    // from the partition's primary at its new ballot.
    const oldPrimary = primaryOf(driver, appId, 0);
    const alive = all.filter((n) => n !== oldPrimary);
    for (let t = 0; t < 12; t += 1) {
      driver.tick(1_000);
      driver.beaconAll(alive, 40);
    }
    assert.notEqual(primaryOf(driver, appId, 0), oldPrimary);
    reportConfirms(
      driver,
      appId,
      (p) => (p >= 1 ? prepared(dupid, (q) => 30 + q)(p) : undefined),
      () => 40,
    );
    assert.equal(
      driver.persists.filter((p) => p.kind === "PREPARE_DUPLICATION").length,
      0,
      "partition 0's report was dropped with its configuration",
    );
    reportConfirms(
      driver,
      appId,
      (p) => (p === 0 ? prepared(dupid, () => 30)(p) : undefined),
      () => 40,
    );
    const persist = driver.persists.find((p) => p.kind === "PREPARE_DUPLICATION");
    assert.deepEqual(
      persist?.writes.map((w) => w.path),
      [0, 1, 2, 3]
        .map((p) => `/talaria/apps/1/duplication/${dupid}/${p}`)
        .concat([`/talaria/apps/1/duplication/${dupid}`]),
      "progress first, the record last",
    );
    const expected = [30, 31, 32, 33];
    const entry = syncOk(driver, primaryOf(driver, appId, 0)).apps[0]?.duplications[0];
    assert.deepEqual(entry?.confirmedDecrees, expected);
    assert.equal(entry?.status, DS_PREPARE);
    const stored = record(driver, dupid);
    assert.deepEqual(
      [stored.status, stored.full_sync, stored.prepared],
      ["DS_PREPARE", "create", true],
    );
    assert.deepEqual(
      query(driver).duplications[0]?.partitionStates.map((s) => [
        s.confirmedDecree,
        s.checkpointPrepared,
      ]),
      expected.map((d) => [d, true]),
    );
    // Later prepared reports change nothing.
    reportConfirms(
      driver,
      appId,
      prepared(dupid, () => 39),
      () => 40,
    );
    assert.equal(driver.persists.filter((p) => p.kind === "PREPARE_DUPLICATION").length, 1);
  });

  it("retries a retriable persist failure and tries again after a definite one", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addFull(driver);
    driver.autoPersist = false;
    reportConfirms(
      driver,
      appId,
      prepared(dupid, () => 7),
      () => 9,
    );
    const first = driver.held.find((p) => p.kind === "PREPARE_DUPLICATION");
    assert.ok(first !== undefined);
    // While the change is persisted, a removal is refused (one change at a time).
    const busy = driver.call(DuplicationMethod.MODIFY, {
      appName: "t",
      dupid,
      status: DuplicationStatus.DS_REMOVED,
    });
    assert.ok(!busy.ok);
    assert.equal(busy.error.code, "ERR_BUSY");
    driver.fail(first, new TalariaError("ERR_TIMEOUT", "injected"));
    driver.tick(60_000);
    const retried = driver.held.find((p) => p.kind === "PREPARE_DUPLICATION");
    assert.equal(retried?.opId, first.opId, "the same change, retried");
    assert.equal(retried?.attempt, 2);
    driver.fail(
      retried as NonNullable<typeof retried>,
      new TalariaError("ERR_OBJECT_EXIST", "definite"),
    );
    assert.equal(record(driver, dupid).prepared, undefined, "nothing was persisted");
    driver.tick(1_000);
    const again = driver.held.find((p) => p.kind === "PREPARE_DUPLICATION");
    assert.ok(
      again !== undefined && again.opId !== first.opId,
      "a new change from the kept reports",
    );
    driver.release();
    driver.autoPersist = true;
    assert.equal(record(driver, dupid).prepared, true);
    assert.deepEqual(
      query(driver).duplications[0]?.partitionStates.map((s) => s.confirmedDecree),
      [7, 7],
    );
  });
});

describe("full duplication: the follower table (DS_APP)", () => {
  it("creates the follower on the remote, waits for every partition to serve its checkpoint, then DS_LOG", () => {
    const {
      driver: source,
      appId,
      dupid,
    } = (() => {
      const cluster = dupCluster(4);
      cluster.driver.ok(MetaMethod.SET_APP_ENVS, {
        appName: "t",
        envs: {
          "user.note": "kept",
          [FollowerEnv.MASTER_CLUSTER]: "dc0",
          [FollowerEnv.FOLLOWER_APP_STATUS]: "created",
        },
      });
      const { dupid } = addFull(cluster.driver);
      reportConfirms(
        cluster.driver,
        cluster.appId,
        prepared(dupid, (p) => 10 + p),
        (p) => 20 + p,
      );
      return { ...cluster, dupid };
    })();
    const target = targetCluster();

    const [task] = source.core.duplicationRemoteTasks();
    assert.deepEqual(task, {
      key: `${appId}.dup${dupid}`,
      appId,
      dupid,
      remoteClusterName: "dc2",
      remoteMetas: ["10.0.2.1:34601", "10.0.2.2:34601"],
      kind: "CREATE_FOLLOWER",
      followerAppStatus: "creating",
      request: {
        appName: "t",
        partitionCount: 4,
        replicaCount: 3,
        envs: {
          "user.note": "kept",
          [FollowerEnv.MASTER_CLUSTER]: "dc1",
          [FollowerEnv.MASTER_METAS]: "10.0.1.1:34601,10.0.1.2:34601",
          [FollowerEnv.MASTER_APP_NAME]: "t",
          [FollowerEnv.FOLLOWER_APP_STATUS]: "creating",
        },
      },
    });
    runRemoteTasks(source, target);
    assert.equal(query(source).duplications[0]?.status, DS_APP);
    assert.deepEqual(
      [
        record(source, dupid).status,
        record(source, dupid).full_sync,
        record(source, dupid).prepared,
      ],
      ["DS_APP", "create", undefined],
    );
    const follower = target.core.queryConfiguration({ appName: "t" });
    assert.equal(follower.partitions.length, 4, "the source's partition count");
    for (const config of follower.partitions) {
      assert.ok(config.primary !== undefined);
      assert.deepEqual(config.secondaries, [], "a primary only while it copies");
      assert.equal(config.maxReplicaCount, 3);
    }

    // The follower's primaries copy for ten minutes: never failed, never given learners.
    for (let t = 0; t < 600; t += 1) {
      target.tick(1_000);
      followerBeacons(
        target,
        copying((p) => 100 * (p + 1)),
      );
    }
    assert.deepEqual(
      target.persists.filter((p) => p.kind !== "CREATE_APP").map((p) => p.kind),
      [],
      "no repair",
    );
    assert.deepEqual(target.core.learnerProposals(), []);
    assert.deepEqual(
      target.core.queryConfiguration({ appName: "t" }).partitions.map((c) => c.followerCopy),
      [0, 1, 2, 3].map((p) => ({ copiedBytes: 100 * (p + 1), totalBytes: 1000 })),
    );

    // The source polls the follower's copy progress.
    assert.equal(runRemoteTasks(source, target)[0]?.kind, "QUERY_FOLLOWER");
    const copies = () => query(source).duplications[0]?.partitionStates.map((s) => s.copy);
    assert.deepEqual(
      copies(),
      [0, 1, 2, 3].map((p) => ({ doneBytes: 100 * (p + 1), totalBytes: 1000, done: false })),
    );
    assert.deepEqual(runRemoteTasks(source, target), [], "not before the poll interval");
    source.tick(2_000);

    // They open with their checkpoint: re-replication may start, the source still waits for it.
    followerBeacons(
      target,
      serving((p) => 10 + p),
    );
    target.tick(1_000);
    const proposals = target.core.learnerProposals();
    assert.equal(proposals.length, 4, "a learner per partition once its primary serves");
    assert.equal(runRemoteTasks(source, target)[0]?.kind, "QUERY_FOLLOWER");
    assert.equal(query(source).duplications[0]?.status, DS_APP, "no secondary yet");
    assert.deepEqual(
      copies(),
      [0, 1, 2, 3].map(() => ({ doneBytes: 1000, totalBytes: 1000, done: true })),
    );
    for (const proposal of proposals) {
      const config = target.config(proposal.gpid.appId, proposal.gpid.partitionIndex);
      target.ok(MetaMethod.UPDATE_CONFIGURATION, {
        gpid: proposal.gpid,
        node: config.primary ?? "",
        ballot: config.ballot,
        change: { type: "ADD_SECONDARY", node: proposal.learner },
      });
    }
    source.tick(2_000);
    assert.equal(runRemoteTasks(source, target)[0]?.kind, "QUERY_FOLLOWER");
    const [created] = runRemoteTasks(source, target);
    assert.ok(created?.kind === "CREATE_FOLLOWER" && created.followerAppStatus === "created");
    assert.equal(
      target.core.queryConfiguration({ appName: "t" }).app.envs[FollowerEnv.FOLLOWER_APP_STATUS],
      "created",
    );
    assert.ok(target.persists.some((p) => p.kind === "FOLLOWER_APP_CREATED"));

    const done = query(source).duplications[0];
    assert.equal(done?.status, DS_LOG);
    assert.equal(done?.fullSync, undefined);
    assert.deepEqual(
      done?.partitionStates.map((s) => s.confirmedDecree),
      [10, 11, 12, 13],
    );
    assert.equal(done?.partitionStates[0]?.copy, undefined);
    assert.equal(record(source, dupid).full_sync, undefined);
    assert.deepEqual(source.core.duplicationRemoteTasks(), []);
    assert.deepEqual(
      syncOk(source, primaryOf(source, appId, 0)).apps[0]?.duplications[0]?.confirmedDecrees,
      [10, 11, 12, 13],
    );
  });

  it("a freezed full duplication ends paused; a 1-replica follower needs no secondary", () => {
    const { driver: source, dupid } = preparedDup({ freezed: true, remoteReplicaCount: 1 });
    const target = targetCluster();
    runRemoteTasks(source, target);
    followerBeacons(
      target,
      serving((p) => 10 + p),
    );
    assert.equal(runRemoteTasks(source, target)[0]?.kind, "QUERY_FOLLOWER");
    runRemoteTasks(source, target);
    assert.equal(query(source).duplications[0]?.status, DS_PAUSE);
    assert.equal(record(source, dupid).status, "DS_PAUSE");
  });

  it("waits while a follower partition has not reached its checkpoint decree", () => {
    const { driver: source } = preparedDup({ remoteReplicaCount: 1 });
    const target = targetCluster();
    runRemoteTasks(source, target);
    // Partition 3 opened below its checkpoint decree 13.
    followerBeacons(
      target,
      serving((p) => (p === 3 ? 12 : 10 + p)),
    );
    runRemoteTasks(source, target);
    source.tick(2_000);
    assert.equal(runRemoteTasks(source, target)[0]?.kind, "QUERY_FOLLOWER");
    assert.equal(query(source).duplications[0]?.status, DS_APP);
    assert.deepEqual(
      query(source).duplications[0]?.partitionStates.map((s) => s.copy?.done),
      [true, true, true, false],
    );
  });

  it("retries failed remote calls with capped backoff, whatever the error", () => {
    const { driver: source } = preparedDup();
    const failing = (code: "ERR_TIMEOUT" | "ERR_APP_EXIST") => (): MetaResult => ({
      ok: false,
      error: new TalariaError(code, "injected"),
    });
    const delays: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      assert.equal(
        runRemoteTasks(source, failing(i % 2 === 0 ? "ERR_TIMEOUT" : "ERR_APP_EXIST")).length,
        1,
      );
      let waited = 0;
      while (source.core.duplicationRemoteTasks().length === 0) {
        source.tick(500);
        waited += 500;
      }
      delays.push(waited);
    }
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    assert.equal(query(source).duplications[0]?.status, DS_PREPARE, "still waiting, not stuck");
    assert.deepEqual(
      query(source).duplications[0]?.remoteError,
      { message: "ERR_TIMEOUT: injected", failures: 7 },
      "query shows why it waits",
    );
    runRemoteTasks(source, targetCluster());
    assert.equal(query(source).duplications[0]?.status, DS_APP);
    assert.equal(query(source).duplications[0]?.remoteError, undefined, "cleared by a success");
  });

  it("ignores outcomes of tasks for another step or a removed duplication", () => {
    const { driver: source, dupid } = preparedDup();
    const [task] = source.core.duplicationRemoteTasks();
    assert.ok(task !== undefined);
    const queryTask = { ...task, kind: "QUERY_FOLLOWER" as const, request: { appName: "t" } };
    source.handle(
      source.core.step({
        type: "duplicationRemote",
        nowMs: source.nowMs,
        task: queryTask,
        result: { ok: true, value: { app: {}, partitions: [] } },
      }),
    );
    assert.equal(query(source).duplications[0]?.status, DS_PREPARE);
    source.ok(DuplicationMethod.MODIFY, {
      appName: "t",
      dupid,
      status: DuplicationStatus.DS_REMOVED,
    });
    const before = source.persists.length;
    source.handle(
      source.core.step({
        type: "duplicationRemote",
        nowMs: source.nowMs,
        task,
        result: { ok: true, value: undefined },
      }),
    );
    assert.equal(source.persists.length, before);
    assert.deepEqual(query(source).duplications, []);
  });

  it("a definite failure persisting DS_APP is retried by creating again (idempotent on the remote)", () => {
    const { driver: source } = preparedDup();
    const target = targetCluster();
    source.autoPersist = false;
    runRemoteTasks(source, target);
    const held = source.held.find((p) => p.kind === "FULL_SYNC_DUPLICATION");
    assert.ok(held !== undefined);
    source.fail(held, new TalariaError("ERR_OBJECT_EXIST", "definite"));
    source.autoPersist = true;
    assert.deepEqual(source.core.duplicationRemoteTasks(), [], "after a delay");
    source.tick(1_000);
    runRemoteTasks(source, target);
    assert.equal(query(source).duplications[0]?.status, DS_APP);
  });
});

describe("full duplication: removal and restart", () => {
  it("removes a full duplication in every status", () => {
    const remove = (driver: Driver, dupid: number) => {
      const answer = driver.ok(DuplicationMethod.MODIFY, {
        appName: "t",
        dupid,
        status: DuplicationStatus.DS_REMOVED,
      });
      assert.equal(answer.status, DuplicationStatus.DS_REMOVED);
      assert.deepEqual(query(driver).duplications, []);
      assert.deepEqual(driver.core.duplicationRemoteTasks(), []);
      assert.equal(
        [...driver.store.records.keys()].filter((k) => k.includes(`/duplication/${dupid}`)).length,
        0,
      );
    };
    {
      const { driver } = dupCluster(2);
      const { dupid } = addFull(driver);
      remove(driver, dupid);
    }
    {
      const { driver, dupid } = preparedDup();
      remove(driver, dupid);
    }
    {
      const { driver, dupid } = preparedDup();
      runRemoteTasks(driver, targetCluster());
      assert.equal(query(driver).duplications[0]?.status, DS_APP);
      remove(driver, dupid);
    }
  });

  it("a new leader resumes from the persisted status: prepared, DS_APP", () => {
    const { driver, appId, dupid } = preparedDup({ remoteReplicaCount: 1 });
    const target = targetCluster();
    // The old leader's create reached the remote, but it lost leadership before persisting DS_APP.
    runRemoteTasks(driver, (task) => {
      if (task.kind === "CREATE_FOLLOWER") target.call(MetaMethod.CREATE_APP, task.request);
      return { ok: false, error: new TalariaError("ERR_TIMEOUT", "the answer was lost") };
    });
    assert.ok(target.core.queryConfiguration({ appName: "t" }).partitions.length === 4);
    let next = restart(driver);
    assert.deepEqual(next.core.restoreReport.problems, []);
    assert.deepEqual(next.core.durableState(), driver.core.durableState());
    assert.deepEqual(
      syncOk(next, primaryOf(next, appId, 0)).apps[0]?.duplications[0]?.confirmedDecrees,
      [10, 11, 12, 13],
    );
    const [again] = runRemoteTasks(next, target);
    assert.ok(again?.kind === "CREATE_FOLLOWER" && again.followerAppStatus === "creating");
    assert.equal(query(next).duplications[0]?.status, DS_APP, "the repeated create answers OK");

    next = restart(next);
    assert.equal(query(next).duplications[0]?.fullSync, "create");
    followerBeacons(
      target,
      serving((p) => 10 + p),
    );
    assert.equal(runRemoteTasks(next, target)[0]?.kind, "QUERY_FOLLOWER");
    runRemoteTasks(next, target);
    assert.equal(query(next).duplications[0]?.status, DS_LOG);
    assert.equal(record(next, dupid).status, "DS_LOG");
  });

  it("a new leader in DS_PREPARE before the decrees are persisted asks the primaries again", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addFull(driver);
    reportConfirms(
      driver,
      appId,
      (p) => (p === 0 ? prepared(dupid, () => 5)(p) : undefined),
      () => 9,
    );
    const next = restart(driver);
    assert.deepEqual(
      syncOk(next, primaryOf(next, appId, 0)).apps[0]?.duplications[0]?.confirmedDecrees,
      [-1, -1],
    );
    reportConfirms(
      next,
      appId,
      (p) => (p === 1 ? prepared(dupid, () => 6)(p) : undefined),
      () => 9,
    );
    assert.equal(record(next, dupid).prepared, undefined, "partition 0's report was volatile");
    reportConfirms(
      next,
      appId,
      prepared(dupid, () => 6),
      () => 9,
    );
    assert.equal(record(next, dupid).prepared, true);
  });

  it("restores records without full_sync (Pegasus's) as a create; a prepared one missing a decree is asked again", () => {
    const { driver, appId } = dupCluster(2);
    const root = "/talaria/apps/1/duplication";
    const pegasus = (status: string) =>
      Buffer.from(
        JSON.stringify({
          v: 1,
          remote: "dc2",
          status,
          create_timestamp_ms: 1_717_138_357_000,
          fail_mode: "FAIL_SLOW",
        }),
      );
    driver.store.records.set(`${root}/100`, pegasus("DS_PREPARE"));
    driver.store.records.set(`${root}/101`, pegasus("DS_APP"));
    driver.store.records.set(`${root}/101/0`, Buffer.from("4"));
    driver.store.records.set(`${root}/101/1`, Buffer.from("5"));
    const partial = JSON.parse(pegasus("DS_PREPARE").toString()) as Record<string, unknown>;
    driver.store.records.set(
      `${root}/102`,
      Buffer.from(
        JSON.stringify({ ...partial, remote: "dc3", full_sync: "resync", prepared: true }),
      ),
    );
    driver.store.records.set(`${root}/102/0`, Buffer.from("8"));
    const next = restart(driver);
    const dups = next.core.durableState().duplications;
    assert.deepEqual(
      dups.map((d) => [d.dupid, d.status, d.fullSync, d.prepared, d.confirmedDecrees]),
      [
        [100, DS_PREPARE, "create", false, [-1, -1]],
        [101, DS_APP, "create", false, [4, 5]],
        [102, DS_PREPARE, "resync", false, [8, -1]],
      ],
    );
    assert.equal(appId, 1);
    assert.ok(
      next.core.restoreReport.problems.some((p) => p.path === `${root}/102/1`),
      "the missing decree is reported",
    );
  });
});
