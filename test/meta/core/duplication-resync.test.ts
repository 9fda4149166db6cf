/**
 * `resync_duplication` on the meta core: validation, then DS_PREPARE ("resync") → checkpoint
 * decrees persisted (prepared) → the remote table marked (app env) → DS_APP → every current
 * primary sent its checkpoint → the mark removed → DS_LOG, or DS_PAUSE when it was paused;
 * failures cleared, nothing confirmed during the full sync, removal and a new leader mid-way.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import type { MetaResult } from "../../../src/meta/core/index.ts";
import { DuplicationMethod, DuplicationStatus, MetaMethod } from "../../../src/protocol/index.ts";
import {
  dupCluster,
  primaryOf,
  query,
  reportConfirms,
  reportFromPrimaries,
  restart,
  runRemoteTasks,
  sendAdd,
  syncOk,
} from "./duplication-harness.ts";
import {
  allSent,
  MARK,
  markRemote,
  prepared,
  RESYNC,
  record,
  remoteEnvs,
  remoteWithTable,
  resyncPrepared,
  sending,
  truncatedDup,
} from "./resync-harness.ts";

const { DS_PREPARE, DS_APP, DS_LOG, DS_PAUSE, DS_REMOVED } = DuplicationStatus;

describe("resync_duplication: validation", () => {
  it("needs an existing duplication in DS_LOG or DS_PAUSE with no change in flight", () => {
    const { driver, appId } = dupCluster(2);
    const code = (body: { appName: string; dupid: number }) => driver.errorCode(RESYNC, body);
    assert.equal(code({ appName: "nope", dupid: 1 }), "ERR_APP_NOT_EXIST");
    assert.equal(code({ appName: "t", dupid: 1 }), "ERR_OBJECT_NOT_FOUND");
    sendAdd(driver, { waitMs: 0 });
    const init = query(driver).duplications[0]?.dupid ?? 0;
    assert.equal(code({ appName: "t", dupid: init }), "ERR_INVALID_STATE", "DS_INIT");
    reportFromPrimaries(driver, appId, init, () => 3);
    const full = driver.ok(DuplicationMethod.ADD, {
      appName: "t",
      remoteClusterName: "dc3",
      isDuplicatingCheckpoint: true,
    });
    const error = driver.call(RESYNC, { appName: "t", dupid: full.dupid });
    assert.ok(!error.ok);
    assert.equal(error.error.code, "ERR_INVALID_STATE", "already copying");
    assert.equal(error.error.details.status, DS_PREPARE);
    driver.autoPersist = false;
    driver.send({
      method: DuplicationMethod.MODIFY,
      body: { appName: "t", dupid: init, status: DS_PAUSE },
    });
    assert.equal(code({ appName: "t", dupid: init }), "ERR_BUSY");
    driver.release();
    driver.autoPersist = true;
    assert.ok(
      driver.call(RESYNC, { appName: "t", dupid: init }).ok,
      "a paused one may be re-synced",
    );
    const disabled = dupCluster(1, { enabled: false });
    assert.equal(
      disabled.driver.errorCode(RESYNC, { appName: "t", dupid: 1 }),
      "ERR_OPERATION_DISABLED",
    );
  });
});

describe("resync_duplication: the flow", () => {
  it("re-syncs a log_truncated duplication into DS_LOG from the checkpoint decrees", () => {
    const {
      driver,
      appId,
      dupid,
      nodes: all,
    } = truncatedDup({ fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    let alive = all;
    /** Time passes with beacons from the live nodes (failure detection is 10 s here). */
    const pass = (ms: number) => {
      for (let t = 0; t < ms; t += 1_000) {
        driver.tick(1_000);
        driver.beaconAll(alive, 30);
      }
    };
    const answer = driver.ok(RESYNC, { appName: "t", dupid });
    assert.deepEqual(answer, { appId, dupid, status: DS_PREPARE, failMode: "FAIL_SLOW" });
    assert.equal(driver.persists.at(-1)?.kind, "RESYNC_DUPLICATION");
    assert.deepEqual(
      [
        record(driver, dupid).status,
        record(driver, dupid).full_sync,
        record(driver, dupid).freezed,
      ],
      ["DS_PREPARE", "resync", false],
    );
    const detail = query(driver).duplications[0];
    assert.equal(detail?.fullSync, "resync");
    assert.deepEqual(
      detail?.partitionStates.map((s) => [s.confirmedDecree, s.failure, s.checkpointPrepared]),
      [
        [-1, undefined, false],
        [-1, undefined, false],
      ],
      "failures cleared; the primaries are asked for their checkpoint decrees",
    );
    const entry = syncOk(driver, primaryOf(driver, appId, 0)).apps[0]?.duplications[0];
    assert.deepEqual([entry?.fullSync, entry?.confirmedDecrees], ["resync", [-1, -1]]);

    // Nothing is confirmed during the full sync; the user cannot start or pause it.
    const progressWrites = () =>
      driver.persists.filter((p) => p.kind === "DUPLICATION_PROGRESS").length;
    const writes = progressWrites();
    pass(10_000);
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      () => 12,
      () => true,
      () => 30,
    );
    pass(10_000);
    assert.equal(progressWrites(), writes);
    for (const status of [DS_LOG, DS_PAUSE])
      assert.equal(
        driver.errorCode(DuplicationMethod.MODIFY, { appName: "t", dupid, status }),
        "ERR_INVALID_PARAMETERS",
      );
    driver.ok(DuplicationMethod.MODIFY, { appName: "t", dupid, failMode: "FAIL_SKIP" });
    assert.equal(
      record(driver, dupid).full_sync,
      "resync",
      "a fail-mode change keeps the full sync",
    );

    // Checkpoints prepared: partition 0's is below its persisted decree, which never goes down.
    reportConfirms(
      driver,
      appId,
      prepared(dupid, (p) => (p === 0 ? 6 : 20)),
      () => 30,
    );
    assert.deepEqual(
      [query(driver).duplications[0]?.status, record(driver, dupid).prepared],
      [DS_PREPARE, true],
      "prepared: the remote table is marked next",
    );
    // The mark fails once (retried after a delay, shown in query), then goes through.
    const failedTasks = runRemoteTasks(driver, () => ({
      ok: false,
      error: new TalariaError("ERR_TIMEOUT", "no answer"),
    }));
    assert.equal(failedTasks.length, 1);
    assert.deepEqual(driver.core.duplicationRemoteTasks(), [], "not again at once");
    assert.match(query(driver).duplications[0]?.remoteError?.message ?? "", /ERR_TIMEOUT/);
    pass(10_000);
    const remote = markRemote(driver, dupid);
    assert.equal(query(driver).duplications[0]?.status, DS_APP, "marked: the primaries send");
    assert.equal(query(driver).duplications[0]?.remoteError, undefined);
    assert.deepEqual(driver.core.duplicationRemoteTasks(), []);
    assert.deepEqual(
      syncOk(driver, primaryOf(driver, appId, 0)).apps[0]?.duplications[0]?.confirmedDecrees,
      [8, 20],
    );
    assert.equal(
      driver.errorCode(DuplicationMethod.MODIFY, { appName: "t", dupid, status: DS_LOG }),
      "ERR_BUSY",
    );
    assert.equal(driver.errorCode(RESYNC, { appName: "t", dupid }), "ERR_INVALID_STATE");

    // The primaries send their checkpoints.
    reportConfirms(
      driver,
      appId,
      sending(
        dupid,
        (p) => (p === 0 ? 8 : 20),
        (p) => ({ sentBytes: p === 0 ? 50 : 100, totalBytes: 100, done: p === 1 }),
      ),
      () => 30,
    );
    assert.deepEqual(
      query(driver).duplications[0]?.partitionStates.map((s) => s.copy),
      [
        { doneBytes: 50, totalBytes: 100, done: false },
        { doneBytes: 100, totalBytes: 100, done: true },
      ],
    );
    // Partition 1's primary dies: its "done" no longer counts, its successor sends again.
    const old = primaryOf(driver, appId, 1);
    alive = all.filter((n) => n !== old);
    pass(12_000);
    assert.notEqual(primaryOf(driver, appId, 1), old);
    reportConfirms(
      driver,
      appId,
      sending(
        dupid,
        (p) => (p === 0 ? 8 : 20),
        (p) => ({ sentBytes: p === 0 ? 100 : 10, totalBytes: 100, done: p === 0 }),
      ),
      () => 30,
    );
    assert.equal(query(driver).duplications[0]?.status, DS_APP);
    reportConfirms(
      driver,
      appId,
      sending(
        dupid,
        (p) => (p === 0 ? 8 : 20),
        () => ({ sentBytes: 100, totalBytes: 100, done: true }),
      ),
      () => 30,
    );
    // Every checkpoint sent: the mark is removed before the duplication goes back to DS_LOG.
    assert.equal(query(driver).duplications[0]?.status, DS_APP);
    assert.deepEqual(
      runRemoteTasks(driver, remote).map((t) => [t.kind, t.request]),
      [["UNMARK_RESYNC", { appName: "t", keys: [MARK] }]],
    );
    assert.equal(remoteEnvs(remote)[MARK], undefined, "the mark is gone");
    const done = query(driver).duplications[0];
    assert.equal(done?.status, DS_LOG);
    assert.equal(done?.fullSync, undefined);
    assert.equal(done?.failMode, "FAIL_SKIP");
    assert.deepEqual(
      done?.partitionStates.map((s) => [s.confirmedDecree, s.copy]),
      [
        [8, undefined],
        [20, undefined],
      ],
    );
    assert.equal(driver.persists.at(-1)?.kind, "FULL_SYNC_DUPLICATION");
    assert.equal(record(driver, dupid).full_sync, undefined);
    // Shipping then moves the confirmed decrees on as before.
    pass(10_000);
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      () => 25,
      () => true,
      () => 30,
    );
    assert.deepEqual(
      query(driver).duplications[0]?.partitionStates.map((s) => s.confirmedDecree),
      [25, 25],
    );
  });

  it("a paused duplication goes back to DS_PAUSE, also across a new leader", () => {
    const { driver, appId, dupid } = truncatedDup();
    driver.ok(DuplicationMethod.MODIFY, { appName: "t", dupid, status: DS_PAUSE });
    driver.ok(RESYNC, { appName: "t", dupid });
    assert.equal(record(driver, dupid).freezed, true);
    reportConfirms(
      driver,
      appId,
      prepared(dupid, () => 20),
      () => 30,
    );
    const remote = markRemote(driver, dupid);
    const next = restart(driver);
    assert.deepEqual(next.core.restoreReport.problems, []);
    assert.deepEqual(next.core.durableState(), driver.core.durableState());
    assert.equal(query(next).duplications[0]?.status, DS_APP);
    allSent(next, appId, dupid);
    assert.equal(query(next).duplications[0]?.status, DS_APP, "the new leader removes the mark");
    assert.deepEqual(
      runRemoteTasks(next, remote).map((t) => t.kind),
      ["UNMARK_RESYNC"],
    );
    assert.equal(query(next).duplications[0]?.status, DS_PAUSE);
    assert.deepEqual(remoteEnvs(remote), {});
  });

  it("a leader change between prepared and marked marks again; a mark already gone ends it", () => {
    const { driver, appId, dupid } = truncatedDup();
    resyncPrepared(driver, appId, dupid);
    const next = restart(driver);
    assert.equal(query(next).duplications[0]?.status, DS_PREPARE);
    const remote = markRemote(next, dupid);
    assert.equal(query(next).duplications[0]?.status, DS_APP);
    allSent(next, appId, dupid);
    // The remote table was dropped meanwhile: nothing keeps a mark, the re-sync ends.
    remote.ok(MetaMethod.DROP_APP, { appName: "t" });
    const [unmark] = runRemoteTasks(next, remote);
    assert.equal(unmark?.kind, "UNMARK_RESYNC");
    assert.equal(query(next).duplications[0]?.status, DS_LOG);
  });

  it("a dropped table's re-sync mark is removed once the table expires", () => {
    const { driver, appId, dupid, nodes: all } = truncatedDup();
    resyncPrepared(driver, appId, dupid);
    const remote = markRemote(driver, dupid);
    driver.ok(MetaMethod.DROP_APP, { appName: "t", reserveSeconds: 0 });
    assert.deepEqual(driver.core.duplicationRemoteTasks(), [], "dropped: nothing runs");
    for (let i = 0; i < 30 && driver.core.duplicationRemoteTasks().length === 0; i++) {
      driver.tick(1_000);
      driver.beaconAll(all, 30);
    }
    assert.deepEqual(
      runRemoteTasks(driver, remote).map((t) => [t.kind, t.request]),
      [["UNMARK_RESYNC", { appName: "t", keys: [MARK] }]],
    );
    assert.deepEqual(remoteEnvs(remote), {});
  });

  it("removes a re-syncing duplication in DS_PREPARE and in DS_APP, and its mark after it", () => {
    for (const stage of ["preparing", "prepared", DS_APP] as const) {
      const { driver, appId, dupid } = truncatedDup();
      driver.ok(RESYNC, { appName: "t", dupid });
      const remote = remoteWithTable();
      if (stage !== "preparing")
        reportConfirms(
          driver,
          appId,
          prepared(dupid, () => 20),
          () => 30,
        );
      if (stage === DS_APP) markRemote(driver, dupid, remote);
      assert.equal(query(driver).duplications[0]?.status, stage === DS_APP ? DS_APP : DS_PREPARE);
      const removed = driver.ok(DuplicationMethod.MODIFY, {
        appName: "t",
        dupid,
        status: DS_REMOVED,
      });
      assert.equal(removed.status, DS_REMOVED);
      assert.deepEqual(query(driver).duplications, []);
      const reply = syncOk(driver, primaryOf(driver, appId, 0));
      assert.deepEqual(reply.apps, [], "the replicas release it");
      // Once prepared the remote may carry the mark (a MARK may be in flight): it is removed,
      // retried after a failure, and not again once it went through.
      const orphan = stage === "preparing" ? [] : ["UNMARK_RESYNC"];
      const fail = (): MetaResult => ({
        ok: false,
        error: new TalariaError("ERR_TIMEOUT", "no answer"),
      });
      assert.deepEqual(
        runRemoteTasks(driver, fail).map((t) => [t.kind, t.key]),
        orphan.map((kind) => [kind, `${appId}.dup${dupid}`]),
      );
      assert.deepEqual(driver.core.duplicationRemoteTasks(), [], "after a delay");
      driver.tick(10_000);
      remote.ok(MetaMethod.SET_APP_ENVS, { appName: "t", envs: { [MARK]: String(dupid) } });
      assert.deepEqual(
        runRemoteTasks(driver, remote).map((t) => t.kind),
        orphan,
      );
      assert.equal(remoteEnvs(remote)[MARK], stage === "preparing" ? String(dupid) : undefined);
      driver.tick(60_000);
      assert.deepEqual(driver.core.duplicationRemoteTasks(), []);
    }
  });
});
