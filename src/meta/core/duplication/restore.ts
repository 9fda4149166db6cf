/**
 * Rebuilds the duplications from the records under `<root>/apps/<appId>/duplication/` (layout.ts)
 * once the tables are restored. As in Pegasus (notes §2.6) corrupt records never stop the meta
 * server; each is skipped and reported:
 *
 * | record                                                     | effect                        |
 * |------------------------------------------------------------|-------------------------------|
 * | child of `duplication/` that is not an int32 dupid          | skipped                       |
 * | duplication JSON invalid, unknown status / fail mode        | skipped with its progress     |
 * | status DS_REMOVED (never written by Talaria)                | skipped with its progress     |
 * | duplication of a missing or skipped table                   | skipped                       |
 * | confirmed decree not a decimal, or beyond the partitions    | that partition's decree is -1 |
 * | confirmed decree missing outside DS_INIT                    | reported; the decree is -1    |
 * | DS_PREPARE `prepared` with a confirmed decree missing        | not prepared: asked again     |
 *
 * A partition whose confirmed decree is -1 outside DS_INIT gets it from its primary's next
 * report (its current decree: writes before it may not have been shipped, hence the report).
 * Pegasus drops a duplication whose remote cluster is no longer configured; Talaria keeps it (so
 * replicas keep holding its log) and reports it: it cannot ship until `[pegasus.clusters]` names
 * the remote again.
 */
import type { AppInfo } from "../../../protocol/index.ts";
import { DuplicationStatus, invalidDecree } from "../../../protocol/index.ts";
import { Duplication } from "./duplication.ts";
import { decodeDuplication, decodeProgress, dupidMax } from "./layout.ts";
import type { DuplicationOptions } from "./options.ts";

export interface DuplicationRecordInput {
  readonly path: string;
  readonly appId: number;
  /** The path segments below `duplication/` (empty for that node itself). */
  readonly below: readonly string[];
  readonly value: Uint8Array;
}

const dupidPattern = /^[1-9]\d{0,9}$/;
const indexPattern = /^(0|[1-9]\d{0,5})$/;

export function restoreDuplications(
  records: readonly DuplicationRecordInput[],
  apps: ReadonlyMap<number, AppInfo>,
  options: Pick<DuplicationOptions, "remoteClusters">,
  problem: (path: string, reason: string) => void,
  /** Called with the largest dupid a table's `duplication` node says was ever issued. */
  onDupidFloor: (dupid: number) => void = () => {},
): Duplication[] {
  const dupRecords = new Map<string, DuplicationRecordInput & { dupid: number }>();
  const progress = new Map<string, Map<number, DuplicationRecordInput>>();
  for (const record of records) {
    const [dupidText, indexText, ...deeper] = record.below;
    if (dupidText === undefined) {
      // The `duplication` node itself: the largest dupid ever issued for the table (or empty).
      const text = Buffer.from(record.value).toString("utf8");
      if (dupidPattern.test(text) && Number(text) <= dupidMax) onDupidFloor(Number(text));
      else if (text !== "") problem(record.path, "not a duplication id");
      continue;
    }
    if (!dupidPattern.test(dupidText) || Number(dupidText) > dupidMax) {
      problem(record.path, "not a duplication id under duplication/");
      continue;
    }
    const key = `${record.appId}/${dupidText}`;
    if (indexText === undefined) {
      dupRecords.set(key, { ...record, dupid: Number(dupidText) });
      continue;
    }
    if (!indexPattern.test(indexText) || deeper.length > 0) {
      problem(record.path, "not a partition index under a duplication");
      continue;
    }
    const byIndex = progress.get(key) ?? new Map<number, DuplicationRecordInput>();
    byIndex.set(Number(indexText), record);
    progress.set(key, byIndex);
  }

  const restored: Duplication[] = [];
  for (const [key, record] of [...dupRecords].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const app = apps.get(record.appId);
    if (app === undefined) {
      problem(record.path, `duplication of missing or skipped app ${record.appId}`);
      continue;
    }
    const decoded = decodeDuplication(record.value);
    if (!decoded.ok) {
      problem(record.path, decoded.reason);
      continue;
    }
    const fields = decoded.value;
    if (fields.status === DuplicationStatus.DS_REMOVED) {
      problem(record.path, "status DS_REMOVED: a removal that did not finish; skipped");
      continue;
    }
    if (options.remoteClusters[fields.remoteClusterName] === undefined)
      problem(
        record.path,
        `remote cluster ${fields.remoteClusterName} is not in [pegasus.clusters]: kept, but it cannot ship until it is`,
      );
    const decrees: number[] = Array.from({ length: app.partitionCount }, () => invalidDecree);
    const byIndex = progress.get(key) ?? new Map<number, DuplicationRecordInput>();
    progress.delete(key);
    for (const [index, progressRecord] of byIndex) {
      if (index >= app.partitionCount) {
        problem(progressRecord.path, `partition index beyond the table's ${app.partitionCount}`);
        continue;
      }
      const value = decodeProgress(progressRecord.value);
      if (value.ok) decrees[index] = value.value;
      else problem(progressRecord.path, `${value.reason}: the confirmed decree is not known`);
    }
    const asking =
      fields.status === DuplicationStatus.DS_INIT ||
      (fields.status === DuplicationStatus.DS_PREPARE && !fields.prepared);
    if (!asking)
      for (const [index, decree] of decrees.entries())
        if (decree === invalidDecree && byIndex.get(index) === undefined)
          problem(
            `${record.path}/${index}`,
            fields.status === DuplicationStatus.DS_PREPARE
              ? "missing checkpoint decree: the primaries are asked for their checkpoints again"
              : "missing confirmed decree: the primary's next report sets it (writes before it may not be shipped)",
          );
    const prepared = fields.prepared && decrees.every((decree) => decree !== invalidDecree);
    restored.push(
      new Duplication(
        {
          appId: record.appId,
          dupid: record.dupid,
          partitionCount: app.partitionCount,
          remoteClusterName: fields.remoteClusterName,
          remoteAppName: fields.remoteAppName ?? app.appName,
          remoteReplicaCount:
            fields.remoteReplicaCount === 0 ? app.replicaCount : fields.remoteReplicaCount,
          createdAtMs: fields.createdAtMs,
          freezed: fields.freezed,
          status: fields.status,
          failMode: fields.failMode,
          fullSync: fields.fullSync,
          prepared,
        },
        decrees,
      ),
    );
  }
  for (const byIndex of progress.values())
    for (const record of byIndex.values())
      problem(record.path, "confirmed decree of a missing or skipped duplication");
  return restored;
}
