/**
 * The duplication sync's two halves (Pegasus `meta_duplication_service::duplication_sync`, notes
 * §2.7): taking in what a replica server's primaries report, and building the reply.
 *
 * A report counts only when the sender is the partition's primary at the current ballot of its
 * configuration (anything else is stale: ignored). Per duplication it carries a confirmed decree:
 * - in DS_INIT it is the primary's start decree, kept with the node and ballot it came under;
 * - in DS_PREPARE, until the checkpoint decrees are persisted, it is the decree C the primary's
 *   checkpoint covers, kept (with node and ballot) once `checkpointPrepared` says it is durable;
 *   C must be ≥ 1 (an empty partition commits an empty write first);
 * - in DS_APP of a re-sync, `resyncProgress` is the primary's progress, kept with node and ballot;
 *   nothing else is taken during a full sync (nothing ships, so nothing is confirmed);
 * - in DS_LOG and DS_PAUSE it raises the partition's reported decree (never lowers it: stale or
 *   lower reports are ignored); the caller persists it, throttled per partition.
 * A confirmed decree above the partition's last committed decree is impossible and ignored.
 * Whether the partition receives a re-sync (`receivingResync`) is kept for every duplication of
 * its table, confirmed or not: the reply lists it so every replica holds the table's tombstones.
 */
import { unreachable } from "../../../common/assert.ts";
import type { Logger } from "../../../common/logger.ts";
import type {
  DuplicationSyncApp,
  DuplicationSyncRequest,
  DuplicationSyncResponse,
} from "../../../protocol/index.ts";
import { AppStatus, DuplicationStatus, FullSyncMode } from "../../../protocol/index.ts";
import { type ClusterState, membersOf } from "../state.ts";
import type { Duplication } from "./duplication.ts";
import type { DuplicationOptions } from "./options.ts";
import type { DuplicationRegistry } from "./registry.ts";
import { syncEntryOf } from "./views.ts";

export interface SyncTouched {
  /** Partitions whose reported confirmed decree went up. */
  readonly progress: { readonly dup: Duplication; readonly partitionIndex: number }[];
  /** DS_INIT duplications that got a start decree. */
  readonly starting: Duplication[];
  /** DS_PREPARE duplications that got a prepared checkpoint decree. */
  readonly preparing: Duplication[];
  /** DS_APP re-syncs that got progress. */
  readonly resyncing: Duplication[];
  /** Duplications a partition's shipper paused under FAIL_FAST. */
  readonly failed: Duplication[];
}

export function applySyncReports(
  state: ClusterState,
  registry: DuplicationRegistry,
  request: DuplicationSyncRequest,
  log: Logger,
): SyncTouched {
  const touched: SyncTouched = {
    progress: [],
    starting: [],
    preparing: [],
    resyncing: [],
    failed: [],
  };
  const touch = (list: Duplication[], dup: Duplication): void => {
    if (!list.includes(dup)) list.push(dup);
  };
  for (const report of request.partitions) {
    const { appId, partitionIndex } = report.gpid;
    if (state.apps.get(appId)?.status !== AppStatus.AVAILABLE) continue;
    const config = state.partition(appId, partitionIndex);
    if (config?.primary !== request.node || config.ballot !== report.ballot) continue;
    for (const dup of registry.ofApp(appId)) {
      const progress = dup.partitions[partitionIndex];
      if (progress !== undefined) progress.receivingResync = report.receivingResync === true;
    }
    for (const confirm of report.confirms) {
      const dup = registry.get(appId, confirm.dupid);
      const progress = dup?.partitions[partitionIndex];
      if (dup === undefined || progress === undefined) continue;
      progress.lastCommittedDecree = report.lastCommittedDecree;
      progress.checkpointPrepared = confirm.checkpointPrepared === true;
      progress.failure = confirm.failure;
      progress.remoteClock = confirm.remoteClock;
      if (confirm.failure?.kind === "paused_with_error" && !touched.failed.includes(dup))
        touched.failed.push(dup);
      if (confirm.confirmedDecree > report.lastCommittedDecree) {
        log.warn(
          {
            gpid: `${appId}.${partitionIndex}`,
            dupid: dup.dupid,
            confirmedDecree: confirm.confirmedDecree,
            lastCommittedDecree: report.lastCommittedDecree,
          },
          "duplication sync: confirmed decree above the last committed one; ignored",
        );
        continue;
      }
      const reporter = { node: request.node, ballot: report.ballot };
      switch (dup.status) {
        case DuplicationStatus.DS_INIT:
          progress.start = { decree: confirm.confirmedDecree, ...reporter };
          touch(touched.starting, dup);
          break;
        case DuplicationStatus.DS_PREPARE:
          if (dup.prepared) break;
          if (confirm.checkpointPrepared === true && confirm.confirmedDecree >= 1) {
            progress.start = { decree: confirm.confirmedDecree, ...reporter };
            touch(touched.preparing, dup);
          } else {
            // The current primary has no durable checkpoint (yet): nothing counts for it.
            progress.start = undefined;
          }
          break;
        case DuplicationStatus.DS_APP: {
          const sent = confirm.resyncProgress;
          if (dup.fullSync !== FullSyncMode.RESYNC || sent === undefined) break;
          progress.copy = {
            doneBytes: sent.sentBytes,
            totalBytes: sent.totalBytes,
            done: sent.done,
            by: reporter,
          };
          touch(touched.resyncing, dup);
          break;
        }
        case DuplicationStatus.DS_LOG:
        case DuplicationStatus.DS_PAUSE:
          if (confirm.confirmedDecree <= progress.reportedDecree) break;
          progress.reportedDecree = confirm.confirmedDecree;
          touched.progress.push({ dup, partitionIndex });
          break;
        case DuplicationStatus.DS_REMOVED:
          break;
        default:
          unreachable(dup.status, "duplication status");
      }
    }
  }
  return touched;
}

/**
 * Every duplication (committed, DS_REMOVED never) of every available table of which `node`
 * hosts a replica, primary or secondary: secondaries learn the log hold from it too.
 */
const { DS_LOG, DS_PAUSE } = DuplicationStatus;

export function syncReply(
  state: ClusterState,
  registry: DuplicationRegistry,
  options: DuplicationOptions,
  node: string,
): DuplicationSyncResponse {
  const apps: DuplicationSyncApp[] = [];
  let initializing = false;
  for (const app of state.availableApps()) {
    const dups = registry.ofApp(app.appId);
    if (dups.length === 0) continue;
    const partitions = state.partitions.get(app.appId) ?? [];
    if (!partitions.some((config) => membersOf(config).includes(node))) continue;
    // Short syncs while start or checkpoint decrees are collected and while a full sync runs.
    if (dups.some((dup) => dup.status !== DS_LOG && dup.status !== DS_PAUSE)) initializing = true;
    apps.push({
      appId: app.appId,
      partitionCount: app.partitionCount,
      duplications: dups.map((dup) => syncEntryOf(dup, options)),
    });
  }
  return {
    apps,
    nextSyncDelayMs: initializing ? options.initSyncPeriodMs : options.syncPeriodMs,
  };
}
