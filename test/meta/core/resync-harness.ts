/**
 * Helpers for the re-sync tests of the meta core: table t (2 partitions) on dc1 duplicating to
 * dc2, a remote core holding the remote table, and the primaries' re-sync reports.
 */
import assert from "node:assert/strict";
import {
  type DuplicationConfirm,
  type DuplicationFailure,
  DuplicationMethod,
  type ResyncProgress,
} from "../../../src/protocol/index.ts";
import {
  addStarted,
  dupCluster,
  query,
  reportConfirms,
  reportFromPrimaries,
  runRemoteTasks,
  targetCluster,
} from "./duplication-harness.ts";
import type { Driver } from "./harness.ts";

export const RESYNC = DuplicationMethod.RESYNC;
/** The app env the source cluster's re-syncs mark the remote table with (dupOptions: dc1). */
export const MARK = "duplication.resync_from.dc1";

/** The remote cluster dc2 with the duplication's remote table t. */
export function remoteWithTable(): Driver {
  const remote = targetCluster();
  remote.createApp("t", 2, 3);
  return remote;
}

export function remoteEnvs(remote: Driver): Record<string, string> {
  const app = [...remote.core.durableState().apps.values()].find((a) => a.appName === "t");
  assert.ok(app !== undefined);
  return { ...app.envs };
}

/** Every primary reports its checkpoint (decree 20) sent whole. */
export function allSent(driver: Driver, appId: number, dupid: number): void {
  reportConfirms(
    driver,
    appId,
    sending(
      dupid,
      () => 20,
      () => ({ sentBytes: 7, totalBytes: 7, done: true }),
    ),
    () => 30,
  );
}

/** Starts a re-sync and has every primary report its checkpoint (`decree`, 20) prepared. */
export function resyncPrepared(driver: Driver, appId: number, dupid: number, decree = 20): void {
  driver.ok(RESYNC, { appName: "t", dupid });
  reportConfirms(
    driver,
    appId,
    prepared(dupid, () => decree),
    () => decree + 10,
  );
}

/** Marks the remote table (DS_PREPARE prepared → DS_APP), asserting the task. */
export function markRemote(driver: Driver, dupid: number, remote = remoteWithTable()): Driver {
  const tasks = runRemoteTasks(driver, remote);
  assert.deepEqual(
    tasks.map((t) => [t.kind, t.request]),
    [["MARK_RESYNC", { appName: "t", envs: { [MARK]: String(dupid) } }]],
  );
  assert.equal(remoteEnvs(remote)[MARK], String(dupid));
  return remote;
}

export const truncated: DuplicationFailure = {
  kind: "log_truncated",
  code: "ERR_OBJECT_NOT_FOUND",
  message: "the log no longer holds decree 9",
  atDecree: 9,
};

export function record(driver: Driver, dupid: number): Record<string, unknown> {
  const value = driver.store.records.get(`/talaria/apps/1/duplication/${dupid}`);
  assert.ok(value !== undefined);
  return JSON.parse(Buffer.from(value).toString("utf8")) as Record<string, unknown>;
}

export const prepared =
  (dupid: number, decree: (p: number) => number) =>
  (p: number): DuplicationConfirm => ({
    dupid,
    confirmedDecree: decree(p),
    checkpointPrepared: true,
  });

export const sending =
  (dupid: number, decree: (p: number) => number, progress: (p: number) => ResyncProgress) =>
  (p: number): DuplicationConfirm => ({
    dupid,
    confirmedDecree: decree(p),
    resyncProgress: progress(p),
  });

/** Table t (2 partitions) duplicating to dc2 in DS_LOG with confirmed decrees 8, partition 0 truncated. */
export function truncatedDup(core = {}) {
  const cluster = dupCluster(2, {}, core);
  const { driver, appId } = cluster;
  const { dupid } = addStarted(driver, appId, () => 5);
  driver.tick(5_000);
  reportFromPrimaries(driver, appId, dupid, () => 8);
  reportConfirms(
    driver,
    appId,
    (p) => (p === 0 ? { dupid, confirmedDecree: 8, failure: truncated } : undefined),
    () => 30,
  );
  assert.deepEqual(query(driver).duplications[0]?.partitionStates[0]?.failure, truncated);
  return { ...cluster, dupid };
}
