/**
 * Full duplication on a source primary (DS_PREPARE, DS_APP): the decisions, as pure functions of
 * what the duplication sync listed, the replica's decrees and the dup checkpoints kept. The
 * replica server (replica-server/full-sync-source.ts) performs them.
 *
 * The start decree C of a partition (Pegasus `min_checkpoint_decree`, ref §2.4):
 *  - while meta lists -1 for the partition, the primary picks C = its last applied decree, once
 *    per primary term, and reports it; an active primary has applied its activation mutation (an
 *    EMPTY write, the Pegasus #2069 fix), so C ≥ 1;
 *  - once meta lists a decree, that is C (a new primary takes it over: it holds every decree meta
 *    can have persisted).
 * A dup checkpoint covers C when its decree ≥ C; the log after C is held, so the remote gets
 * everything up to C from the checkpoint and the rest from the log (writes in (C, checkpoint
 * decree] arrive twice, which last-write-wins makes harmless).
 */
import type {
  DuplicationConfirm,
  DuplicationFailure,
  DuplicationStatus,
  FullSyncMode,
  ResyncProgress,
} from "../../protocol/duplication-messages.ts";

/** What the plan reads of a listed duplication (DuplicationSyncEntry). */
export interface ListedDuplication {
  readonly dupid: number;
  readonly status: DuplicationStatus;
  readonly fullSync?: FullSyncMode;
  readonly confirmedDecrees: readonly number[];
}

/** The statuses in which a duplication copies data (checkpoint, then follower copy or re-sync). */
export function isFullSyncStatus(status: DuplicationStatus): boolean {
  return status === "DS_PREPARE" || status === "DS_APP";
}

/** The start decree a primary picks, or undefined while it has applied nothing (activating). */
export function chooseFullSyncStart(lastAppliedDecree: number): number | undefined {
  return lastAppliedDecree >= 1 ? lastAppliedDecree : undefined;
}

/** The partition's start decree C: meta's listed decree, else this term's pick (if any). */
export function fullSyncDecree(listed: number, picked: number | undefined): number | undefined {
  return listed >= 0 ? listed : picked;
}

/** The first decree the log must keep for this duplication (everything while C is unknown). */
export function fullSyncHoldFrom(listed: number, picked: number | undefined): number {
  const decree = fullSyncDecree(listed, picked);
  return decree === undefined ? 1 : decree + 1;
}

/** The newest checkpoint whose decree is at least `floor`. */
export function newestCovering<T extends { readonly decree: number }>(
  kept: readonly T[],
  floor: number,
): T | undefined {
  let best: T | undefined;
  for (const checkpoint of kept) {
    if (checkpoint.decree >= floor && (best === undefined || checkpoint.decree > best.decree))
      best = checkpoint;
  }
  return best;
}

/** Whether the table's dup checkpoints must stay: a listed duplication still copies data. */
export function keepsDupCheckpoints(dups: readonly ListedDuplication[]): boolean {
  return dups.some((dup) => isFullSyncStatus(dup.status));
}

export type OpenFloor =
  /** No "create" duplication of the table copies data: nothing to serve. */
  | { readonly kind: "none" }
  /** One does, but this primary does not know its start decree yet: ask again. */
  | { readonly kind: "pending" }
  /** Answer with a checkpoint whose decree is at least this. */
  | { readonly kind: "floor"; readonly decree: number };

/**
 * The least decree a checkpoint answered to a follower's OPEN must hold: the start decree of
 * every "create" duplication of the table in DS_PREPARE / DS_APP (shipping resumes after it, so
 * a checkpoint at or above it misses nothing).
 */
export function openFloor(
  dups: readonly ListedDuplication[],
  partitionIndex: number,
  pickedOf: (dupid: number) => number | undefined,
): OpenFloor {
  let floor: number | undefined;
  let pending = false;
  for (const dup of dups) {
    if (!isFullSyncStatus(dup.status) || dup.fullSync !== "create") continue;
    const decree = fullSyncDecree(dup.confirmedDecrees[partitionIndex] ?? -1, pickedOf(dup.dupid));
    if (decree === undefined) pending = true;
    else floor = Math.max(floor ?? 0, decree);
  }
  if (pending) return { kind: "pending" };
  return floor === undefined ? { kind: "none" } : { kind: "floor", decree: floor };
}

/** A re-sync's state as the primary reports it. */
export interface ResyncReport {
  readonly progress: ResyncProgress;
  readonly failure?: DuplicationFailure;
}

/**
 * What a primary reports for a duplication in DS_PREPARE / DS_APP: its start decree, whether a
 * durable checkpoint covers it, and (re-sync) how far the sending got. Nothing while it has no
 * start decree.
 */
export function fullSyncConfirm(
  dupid: number,
  decree: number | undefined,
  newestCheckpointDecree: number | undefined,
  resync: ResyncReport | undefined,
): DuplicationConfirm | undefined {
  if (decree === undefined) return undefined;
  const prepared = newestCheckpointDecree !== undefined && newestCheckpointDecree >= decree;
  return {
    dupid,
    confirmedDecree: decree,
    checkpointPrepared: prepared,
    ...(resync === undefined ? {} : { resyncProgress: resync.progress }),
    ...(resync?.failure === undefined ? {} : { failure: resync.failure }),
  };
}
