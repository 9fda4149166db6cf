/**
 * Rebuilds the durable state from the records the runtime read back from the meta store at
 * startup (see layout.ts). A corrupt or unexpected record never stops the meta server: it is
 * skipped and listed in the restore report (and logged), and what depends on it degrades visibly
 * (a missing partition record becomes a partition with no replicas, counted as unwritable).
 *
 * After restore every node named in a configuration is known but has not beaconed: it counts as
 * alive until `fdGraceMs` after the core's first event, so a new meta leader never replaces a
 * primary whose lease, granted by the previous leader, may still run.
 */
import type { Logger } from "../../common/logger.ts";
import type { AppInfo, PartitionConfiguration } from "../../protocol/index.ts";
import { AppStatus } from "../../protocol/index.ts";
import type { DuplicationOptions } from "./duplication/options.ts";
import { decodeOrphanMark, type OrphanMark, orphanMarksPath } from "./duplication/orphan-marks.ts";
import { type DuplicationRecordInput, restoreDuplications } from "./duplication/restore.ts";
import {
  appsPath,
  decodeApp,
  decodeNextAppId,
  decodePartition,
  decodeRemovedApp,
  type MetaRecord,
  nextAppIdPath,
  type RemovedApp,
  removedAppsPath,
} from "./layout.ts";
import { ClusterState, membersOf } from "./state.ts";

export interface RestoreProblem {
  readonly path: string;
  readonly reason: string;
}

export interface RestoreReport {
  readonly apps: number;
  readonly partitions: number;
  readonly nextAppId: number;
  /** Duplications restored (docs/duplication.md, "Restore"). */
  readonly duplications: number;
  /** Records of tables removed for good (layout.ts `removed_apps/`). */
  readonly removedApps: number;
  /** Re-sync marks left on remote tables by removed duplications (`orphan_resync_marks/`). */
  readonly orphanResyncMarks: number;
  /** Records skipped or repaired, in path order. Empty after a clean restore. */
  readonly problems: readonly RestoreProblem[];
}

const idPattern = /^[1-9]\d{0,8}$/;
const indexPattern = /^(0|[1-9]\d{0,5})$/;
/** The child of an app node holding its duplications (duplication/restore.ts). */
const duplicationChild = "duplication";

export function restoreState(
  records: readonly MetaRecord[],
  clusterRoot: string,
  log: Logger,
  duplicationOptions: Pick<DuplicationOptions, "remoteClusters"> = { remoteClusters: {} },
): { state: ClusterState; report: RestoreReport } {
  const problems: RestoreProblem[] = [];
  const problem = (path: string, reason: string): void => {
    problems.push({ path, reason });
    log.warn({ path, reason }, "meta restore: skipped a record");
  };
  const apps = new Map<number, AppInfo>();
  const partitionRecords = new Map<number, Map<number, { path: string; value: Uint8Array }>>();
  const duplicationRecords: DuplicationRecordInput[] = [];
  let storedNextAppId: number | undefined;
  /** Every id that has any record: never handed out again, even if its records are skipped. */
  const seenAppIds = new Set<number>();
  const appsPrefix = `${appsPath(clusterRoot)}/`;
  const removedPrefix = `${removedAppsPath(clusterRoot)}/`;
  const removedApps = new Map<number, RemovedApp>();
  const orphanPrefix = `${orphanMarksPath(clusterRoot)}/`;
  const orphanMarks: OrphanMark[] = [];

  for (const record of [...records].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const { path } = record;
    if (path === nextAppIdPath(clusterRoot)) {
      const decoded = decodeNextAppId(record.value);
      if (decoded.ok) storedNextAppId = decoded.value;
      else problem(path, decoded.reason);
      continue;
    }
    if (path.startsWith(removedPrefix)) {
      const idText = path.slice(removedPrefix.length);
      if (!idPattern.test(idText)) {
        problem(path, "not a table id under removed_apps/");
        continue;
      }
      seenAppIds.add(Number(idText));
      // A skipped record only keeps that table's replicas from being deleted automatically.
      const decoded = decodeRemovedApp(record.value, Number(idText));
      if (decoded.ok) removedApps.set(decoded.value.appId, decoded.value);
      else problem(path, decoded.reason);
      continue;
    }
    if (path.startsWith(orphanPrefix)) {
      const decoded = decodeOrphanMark(path.slice(orphanPrefix.length), record.value);
      if (decoded.ok) orphanMarks.push(decoded.value);
      else problem(path, `${decoded.reason}: a re-sync mark may stay on a remote table`);
      continue;
    }
    if (!path.startsWith(appsPrefix)) continue; // the root, apps/ itself, backup/, bulk_load/ ...
    const [idText, indexText, ...deeper] = path.slice(appsPrefix.length).split("/");
    if (idText === undefined || !idPattern.test(idText)) {
      problem(path, "not a table id under apps/");
      continue;
    }
    const appId = Number(idText);
    seenAppIds.add(appId);
    if (indexText === undefined) {
      const decoded = decodeApp(record.value, appId);
      if (decoded.ok) apps.set(appId, decoded.value);
      else problem(path, decoded.reason);
      continue;
    }
    if (indexText === duplicationChild) {
      duplicationRecords.push({ path, appId, below: deeper, value: record.value });
      continue;
    }
    if (!indexPattern.test(indexText) || deeper.length > 0) {
      problem(path, "not a partition index under a table");
      continue;
    }
    const byIndex = partitionRecords.get(appId) ?? new Map();
    byIndex.set(Number(indexText), record);
    partitionRecords.set(appId, byIndex);
  }

  // Two available tables with one name cannot both be served: keep the older.
  const owners = new Map<string, number>();
  for (const app of [...apps.values()].sort((a, b) => a.appId - b.appId)) {
    if (app.status !== AppStatus.AVAILABLE) continue;
    const owner = owners.get(app.appName);
    if (owner === undefined) owners.set(app.appName, app.appId);
    else {
      apps.delete(app.appId);
      problem(`${appsPrefix}${app.appId}`, `name "${app.appName}" is already used by app ${owner}`);
    }
  }

  const state = new ClusterState();
  let partitionCount = 0;
  for (const [appId, byIndex] of partitionRecords) {
    if (apps.has(appId)) continue;
    for (const { path } of byIndex.values())
      problem(path, `partition of missing or skipped app ${appId}`);
  }
  for (const app of [...apps.values()].sort((a, b) => a.appId - b.appId)) {
    const byIndex = partitionRecords.get(app.appId) ?? new Map();
    const configs: PartitionConfiguration[] = [];
    for (let index = 0; index < app.partitionCount; index += 1) {
      const record = byIndex.get(index);
      const path = `${appsPrefix}${app.appId}/${index}`;
      const decoded =
        record === undefined ? undefined : decodePartition(record.value, app.appId, index);
      if (decoded?.ok === true) {
        configs.push(decoded.value);
        partitionCount += 1;
        continue;
      }
      problem(
        path,
        decoded === undefined
          ? "missing partition record: the partition has no replicas until repaired by hand"
          : `${decoded.reason}: the partition has no replicas until repaired by hand`,
      );
      configs.push({
        gpid: { appId: app.appId, partitionIndex: index },
        ballot: 0,
        secondaries: [],
        maxReplicaCount: app.replicaCount,
        lastCommittedDecree: 0,
        lastDrops: [],
      });
    }
    for (const [index, record] of byIndex)
      if (index >= app.partitionCount)
        problem(record.path, `partition index beyond the table's ${app.partitionCount} partitions`);
    state.apps.set(app.appId, app);
    state.partitions.set(app.appId, configs);
    for (const config of configs)
      for (const node of [...membersOf(config), ...(config.lastDrops ?? [])]) state.node(node);
  }

  for (const dup of restoreDuplications(
    duplicationRecords,
    state.apps,
    duplicationOptions,
    problem,
    (dupid) => state.duplications.raiseDupidFloor(dupid),
  ))
    state.duplications.insert(dup);
  for (const mark of orphanMarks) state.duplications.setOrphanMark(mark);

  for (const removed of [...removedApps.values()].sort((a, b) => a.appId - b.appId)) {
    // Written just before a dropped table's records are deleted, so it may meet a dropped table
    // (the deletion did not happen yet), never an available one: that one is kept, not deleted.
    if (state.apps.get(removed.appId)?.status === AppStatus.AVAILABLE) {
      problem(
        `${removedAppsPath(clusterRoot)}/${removed.appId}`,
        `table ${removed.appId} is available: its replicas are not deleted`,
      );
      continue;
    }
    state.removedApps.set(removed.appId, removed);
  }

  const smallestNextAppId = Math.max(0, ...seenAppIds) + 1;
  if (storedNextAppId === undefined && smallestNextAppId > 1)
    problem(nextAppIdPath(clusterRoot), `missing; using ${smallestNextAppId}`);
  else if (storedNextAppId !== undefined && storedNextAppId < smallestNextAppId)
    problem(
      nextAppIdPath(clusterRoot),
      `${storedNextAppId} is not above every app id; using ${smallestNextAppId}`,
    );
  state.nextAppId = Math.max(storedNextAppId ?? 1, smallestNextAppId);

  problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    state,
    report: {
      apps: state.apps.size,
      partitions: partitionCount,
      nextAppId: state.nextAppId,
      duplications: state.duplications.size,
      removedApps: state.removedApps.size,
      orphanResyncMarks: state.duplications.orphanMarks().length,
      problems,
    },
  };
}
