/**
 * Which tables' replicas on this server must keep every tombstone: those with a duplication that
 * fell out of its log.
 *
 * Such a duplication is cured by a re-sync, which sends the records of a fresh checkpoint — and
 * a delete the remote never received reaches it only as the tombstone in that checkpoint. The
 * sweeper collects tombstones after `tombstone_retention_seconds`, so without a hold an operator
 * who re-syncs later than `tombstone_retention_seconds − dup_max_retained_log_seconds` after the
 * alarm (12 h with the defaults) would leave deleted keys alive on the remote. While a table is
 * held its sweeper collects nothing (storage/sweep.ts).
 *
 * A re-sync also carries, as its checkpoint's records, older versions of keys the remote deleted
 * while the delete had not reached the source yet (both directions of a two-way duplication out
 * at once). The remote's tombstones must outlive them, so the receiving table is held too.
 *
 * Rules, fed every duplication sync reply:
 *  - a duplication holds its table's tombstones from the first reply that lists a partition of it
 *    as `logTruncated`, shows it re-syncing (DS_PREPARE or DS_APP, `fullSync: "resync"`: until
 *    every record of its checkpoints reached the remote), or lists a partition as
 *    `receivingResync` (the table receives a re-sync from the duplication's remote, or another);
 *  - it lets go once no reply has shown any of these for `TOMBSTONE_HOLD_RELEASE_MS` — long
 *    enough that the gap of a meta leader change (the new leader learns the truncation from the
 *    primary's next report) does not release it — or at once when it is no longer listed;
 *  - until the first reply, every table is held: a restarted server does not know yet.
 */
import {
  DuplicationStatus,
  type DuplicationSyncApp,
  type DuplicationSyncEntry,
  logTruncatedPartitions,
  receivingResyncPartitions,
} from "../protocol/duplication-messages.ts";

/** How long a duplication keeps holding tombstones after the last reply that gave it a cause. */
export const TOMBSTONE_HOLD_RELEASE_MS = 60_000;

interface Hold {
  readonly appId: number;
  readonly dupid: number;
  lastCauseMs: number;
}

/** Why a duplication holds its table's tombstones. */
export type TombstoneHoldCause = "log_truncated" | "resync" | "receiving_resync";

/** A hold that started (with its cause) or ended with a reply (for the log). */
export interface TombstoneHoldChange {
  readonly appId: number;
  readonly dupid: number;
  readonly held: boolean;
  readonly cause?: TombstoneHoldCause;
}

/** What in a reply makes `dup` hold its table's tombstones, if anything. */
export function holdCauseOf(dup: DuplicationSyncEntry): TombstoneHoldCause | undefined {
  if (logTruncatedPartitions(dup).length > 0) return "log_truncated";
  const { DS_PREPARE, DS_APP } = DuplicationStatus;
  if ((dup.status === DS_PREPARE || dup.status === DS_APP) && dup.fullSync === "resync")
    return "resync";
  if (receivingResyncPartitions(dup).length > 0) return "receiving_resync";
  return undefined;
}

export class TombstoneHolds {
  private readonly holds = new Map<string, Hold>();
  private synced = false;

  constructor(private readonly releaseMs = TOMBSTONE_HOLD_RELEASE_MS) {}

  /** Takes one sync reply's listing; returns the holds it started and ended. */
  update(apps: readonly DuplicationSyncApp[], nowMs: number): TombstoneHoldChange[] {
    this.synced = true;
    const changes: TombstoneHoldChange[] = [];
    const listed = new Set<string>();
    for (const app of apps) {
      for (const dup of app.duplications) {
        const key = `${app.appId}/${dup.dupid}`;
        listed.add(key);
        const cause = holdCauseOf(dup);
        const hold = this.holds.get(key);
        if (cause !== undefined && hold === undefined) {
          this.holds.set(key, { appId: app.appId, dupid: dup.dupid, lastCauseMs: nowMs });
          changes.push({ appId: app.appId, dupid: dup.dupid, held: true, cause });
        } else if (cause !== undefined && hold !== undefined) {
          hold.lastCauseMs = nowMs;
        }
      }
    }
    for (const [key, hold] of this.holds) {
      if (listed.has(key) && nowMs - hold.lastCauseMs < this.releaseMs) continue;
      this.holds.delete(key);
      changes.push({ appId: hold.appId, dupid: hold.dupid, held: false });
    }
    return changes;
  }

  /** Whether `appId`'s replicas must collect no tombstone now. */
  held(appId: number): boolean {
    if (!this.synced) return true;
    for (const hold of this.holds.values()) if (hold.appId === appId) return true;
    return false;
  }

  /** The tables held now (each once). */
  heldApps(): number[] {
    return [...new Set([...this.holds.values()].map((hold) => hold.appId))];
  }
}
