/**
 * The re-sync marks removed duplications leave on remote tables (orphan-marks.ts): recorded in
 * the removal's change, removed by a new meta leader too, dormant while their duplication still
 * owns them, and first in line before another re-sync marks the same remote table.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import type { MetaResult } from "../../../src/meta/core/index.ts";
import { DuplicationMethod, DuplicationStatus, MetaMethod } from "../../../src/protocol/index.ts";
import {
  addStarted,
  query,
  reportConfirms,
  restart,
  runRemoteTasks,
} from "./duplication-harness.ts";
import type { Driver } from "./harness.ts";
import {
  MARK,
  markRemote,
  remoteEnvs,
  resyncPrepared,
  truncated,
  truncatedDup,
} from "./resync-harness.ts";

const { DS_PREPARE, DS_APP, DS_LOG, DS_REMOVED } = DuplicationStatus;
const ORPHANS = "/talaria/orphan_resync_marks";

const unreachable = (): MetaResult => ({
  ok: false,
  error: new TalariaError("ERR_TIMEOUT", "no answer"),
});

function orphanRecords(driver: Driver): Record<string, unknown>[] {
  return [...driver.store.records]
    .filter(([path]) => path.startsWith(`${ORPHANS}/`))
    .map(([path, value]) => ({
      path,
      ...(JSON.parse(Buffer.from(value).toString("utf8")) as Record<string, unknown>),
    }));
}

/** A re-sync of t that marked dc2's t (DS_APP), then removed while dc2 cannot be reached. */
function removedWhileMarked() {
  const cluster = truncatedDup();
  const { driver, appId, dupid } = cluster;
  resyncPrepared(driver, appId, dupid);
  const remote = markRemote(driver, dupid);
  driver.ok(DuplicationMethod.MODIFY, { appName: "t", dupid, status: DS_REMOVED });
  assert.deepEqual(
    runRemoteTasks(driver, unreachable).map((t) => t.kind),
    ["UNMARK_RESYNC"],
  );
  return { ...cluster, remote };
}

describe("orphan re-sync marks", () => {
  it("are recorded by the removal and removed by a new meta leader", () => {
    const { driver, appId, dupid, remote } = removedWhileMarked();
    assert.deepEqual(orphanRecords(driver), [
      {
        path: `${ORPHANS}/${appId}.${dupid}`,
        v: 1,
        remote: "dc2",
        remote_app_name: "t",
        env: MARK,
      },
    ]);
    assert.equal(driver.persists.at(-1)?.kind, "REMOVE_DUPLICATION");
    assert.deepEqual(
      driver.persists.slice(-2).map((p) => [p.part, p.parts, p.writes.map((w) => w.op)]),
      [
        [1, 2, ["set"]],
        [2, 2, ["deleteTree"]],
      ],
      "the record first, then the duplication's deletion",
    );
    assert.equal(driver.core.orphanResyncMarks().length, 1);

    const next = restart(driver);
    assert.deepEqual(next.core.restoreReport.problems, []);
    assert.equal(next.core.restoreReport.orphanResyncMarks, 1);
    assert.deepEqual(next.core.durableState(), driver.core.durableState());
    assert.equal(remoteEnvs(remote)[MARK], String(dupid), "still marked");
    assert.deepEqual(
      runRemoteTasks(next, remote).map((t) => [t.kind, t.request]),
      [["UNMARK_RESYNC", { appName: "t", keys: [MARK] }]],
    );
    assert.deepEqual(remoteEnvs(remote), {});
    assert.equal(next.persists.at(-1)?.kind, "FORGET_ORPHAN_MARK");
    assert.deepEqual(orphanRecords(next), []);
    assert.deepEqual(next.core.orphanResyncMarks(), []);
    next.tick(120_000);
    assert.deepEqual(next.core.duplicationRemoteTasks(), []);
  });

  it("count a remote table that is gone as done", () => {
    const { driver, remote } = removedWhileMarked();
    remote.ok(MetaMethod.DROP_APP, { appName: "t" });
    driver.tick(60_000);
    assert.deepEqual(
      runRemoteTasks(driver, remote).map((t) => t.kind),
      ["UNMARK_RESYNC"],
    );
    assert.deepEqual(orphanRecords(driver), []);
  });

  it("keep their record when its deletion fails, and try again", () => {
    const { driver, remote } = removedWhileMarked();
    driver.tick(60_000);
    driver.autoPersist = false;
    runRemoteTasks(driver, remote);
    const [forget] = driver.held;
    assert.equal(forget?.kind, "FORGET_ORPHAN_MARK");
    assert.deepEqual(driver.core.duplicationRemoteTasks(), [], "not while it is deleted");
    assert.ok(forget !== undefined);
    driver.fail(forget, new TalariaError("ERR_OBJECT_EXIST", "injected"));
    driver.autoPersist = true;
    assert.equal(orphanRecords(driver).length, 1);
    assert.deepEqual(
      runRemoteTasks(driver, remote).map((t) => t.kind),
      ["UNMARK_RESYNC"],
    );
    assert.deepEqual(orphanRecords(driver), []);
  });

  it("of an expired dropped table are recorded with its removal and survive a leader change", () => {
    const { driver, appId, dupid, nodes: all } = truncatedDup();
    resyncPrepared(driver, appId, dupid);
    const remote = markRemote(driver, dupid);
    driver.ok(MetaMethod.DROP_APP, { appName: "t", reserveSeconds: 0 });
    for (let i = 0; i < 30 && driver.store.records.has(`/talaria/apps/${appId}`); i++) {
      driver.tick(1_000);
      driver.beaconAll(all, 30);
    }
    assert.equal(driver.store.records.has(`/talaria/apps/${appId}`), false, "table removed");
    assert.deepEqual(
      orphanRecords(driver).map((r) => r.path),
      [`${ORPHANS}/${appId}.${dupid}`],
    );
    const next = restart(driver);
    assert.deepEqual(next.core.restoreReport.problems, []);
    assert.deepEqual(
      runRemoteTasks(next, remote).map((t) => t.kind),
      ["UNMARK_RESYNC"],
    );
    assert.deepEqual(remoteEnvs(remote), {});
    assert.deepEqual(orphanRecords(next), []);
  });

  it("are dormant while their duplication survived the removal's first part", () => {
    const { driver, appId, dupid } = truncatedDup();
    resyncPrepared(driver, appId, dupid);
    const remote = markRemote(driver, dupid);
    driver.autoPersist = false;
    driver.send({
      method: DuplicationMethod.MODIFY,
      body: { appName: "t", dupid, status: DS_REMOVED },
    });
    // The record is written; the meta server dies before the duplication's deletion.
    const [first] = driver.held;
    assert.deepEqual(
      first?.writes.map((w) => w.op),
      ["set"],
    );
    driver.store.apply(first?.writes ?? []);
    const next = restart(driver);
    assert.equal(query(next).duplications[0]?.status, DS_APP, "the removal never happened");
    assert.equal(next.core.orphanResyncMarks().length, 1);
    assert.deepEqual(next.core.duplicationRemoteTasks(), [], "the duplication owns its mark");
    // It finishes its re-sync itself; then the record goes (removing the env again is a no-op).
    reportConfirms(
      next,
      appId,
      (p) => ({
        dupid,
        confirmedDecree: 20,
        resyncProgress: { sentBytes: 7 + p, totalBytes: 7 + p, done: true },
      }),
      () => 30,
    );
    assert.deepEqual(
      runRemoteTasks(next, remote).map((t) => t.kind),
      ["UNMARK_RESYNC"],
    );
    assert.equal(query(next).duplications[0]?.status, DS_LOG);
    assert.deepEqual(remoteEnvs(remote), {});
    assert.deepEqual(
      runRemoteTasks(next, remote).map((t) => t.kind),
      ["UNMARK_RESYNC"],
    );
    assert.deepEqual(orphanRecords(next), []);
  });

  it("go first: a new duplication's re-sync marks the same remote table only after", () => {
    const { driver, appId, remote, dupid: removedDupid } = removedWhileMarked();
    const { dupid } = addStarted(driver, appId, () => 30);
    assert.notEqual(dupid, removedDupid);
    driver.tick(5_000);
    reportConfirms(
      driver,
      appId,
      (p) => (p === 0 ? { dupid, confirmedDecree: 30, failure: truncated } : undefined),
      () => 40,
    );
    resyncPrepared(driver, appId, dupid, 40);
    const waiting = query(driver).duplications[0];
    assert.equal(waiting?.status, DS_PREPARE);
    assert.match(waiting?.remoteError?.message ?? "", /waiting until the re-sync mark/);
    assert.equal(waiting?.remoteError?.failures, 0);
    // Only the old mark's removal is due, never the new mark before it went through.
    assert.deepEqual(
      runRemoteTasks(driver, unreachable).map((t) => [t.kind, t.dupid]),
      [["UNMARK_RESYNC", removedDupid]],
    );
    driver.tick(60_000);
    assert.equal(query(driver).duplications[0]?.status, DS_PREPARE);
    assert.deepEqual(
      runRemoteTasks(driver, remote).map((t) => [t.kind, t.dupid]),
      [["UNMARK_RESYNC", removedDupid]],
    );
    assert.deepEqual(remoteEnvs(remote), {});
    assert.deepEqual(
      runRemoteTasks(driver, remote).map((t) => [t.kind, t.dupid]),
      [["MARK_RESYNC", dupid]],
    );
    assert.equal(remoteEnvs(remote)[MARK], String(dupid));
    assert.equal(query(driver).duplications[0]?.status, DS_APP);
    assert.equal(query(driver).duplications[0]?.remoteError, undefined);
  });
});
