/**
 * How the duplication verbs show a full sync (full duplication or re-sync, DS_PREPARE and DS_APP):
 * in DS_PREPARE how many partitions have prepared their checkpoint, in DS_APP how many bytes are
 * copied (follower primaries pulling checkpoints, "create") or sent (re-sync) out of the total,
 * and how many partitions are done. Pure.
 */
import {
  type DuplicationDetail,
  type DuplicationPartitionState,
  DuplicationStatus,
} from "../protocol/index.ts";

export interface FullSyncProgress {
  readonly mode: string;
  readonly status: DuplicationStatus;
  readonly partitionCount: number;
  /** DS_PREPARE: partitions whose checkpoint is prepared. */
  readonly partitionsPrepared: number;
  /** DS_APP: partitions whose copy is done. */
  readonly partitionsDone: number;
  /** DS_APP: Σ over partitions (0 while not known). */
  readonly doneBytes: number;
  readonly totalBytes: number;
  /** DS_APP: doneBytes / totalBytes in %, one decimal; null while the total is not known. */
  readonly percent: number | null;
}

/** The full sync's progress; undefined when none runs. */
export function fullSyncProgress(detail: DuplicationDetail): FullSyncProgress | undefined {
  if (detail.fullSync === undefined) return undefined;
  const states = detail.partitionStates;
  let doneBytes = 0;
  let totalBytes = 0;
  for (const state of states) {
    doneBytes += state.copy?.doneBytes ?? 0;
    totalBytes += state.copy?.totalBytes ?? 0;
  }
  const app = detail.status === DuplicationStatus.DS_APP;
  return {
    mode: detail.fullSync,
    status: detail.status,
    partitionCount: states.length,
    partitionsPrepared: app
      ? states.length
      : states.filter((state) => state.checkpointPrepared === true).length,
    partitionsDone: states.filter((state) => state.copy?.done === true).length,
    doneBytes,
    totalBytes,
    percent: app && totalBytes > 0 ? Math.floor((doneBytes * 1000) / totalBytes) / 10 : null,
  };
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** "512 B", "1.5 MiB", "2.0 GiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** "1.0 MiB/4.0 MiB (25.0%)", or "-/-" while nothing is known. */
function bytesText(doneBytes: number, totalBytes: number): string {
  if (totalBytes === 0) return doneBytes === 0 ? "-/-" : `${formatBytes(doneBytes)}/-`;
  const percent = Math.floor((doneBytes * 1000) / totalBytes) / 10;
  return `${formatBytes(doneBytes)}/${formatBytes(totalBytes)} (${percent.toFixed(1)}%)`;
}

/**
 * The duplication's full-sync cell: "create: prepared 3/4", "create: copied 1.0 MiB/4.0 MiB
 * (25.0%), 1/4 done", "resync: sent …"; "" when none runs.
 */
export function fullSyncText(detail: DuplicationDetail): string {
  const progress = fullSyncProgress(detail);
  if (progress === undefined) return "";
  const { mode, partitionCount } = progress;
  const remoteError = detail.remoteError;
  // failures 0: not a failed call but what the step waits for (a removed duplication's mark).
  const error =
    remoteError === undefined
      ? ""
      : remoteError.failures === 0
        ? `; ${remoteError.message}`
        : `; remote meta failed ${remoteError.failures}x, retrying: ${remoteError.message}`;
  if (progress.status === DuplicationStatus.DS_PREPARE)
    return `${mode}: prepared ${progress.partitionsPrepared}/${partitionCount}${error}`;
  const verb = mode === "resync" ? "sent" : "copied";
  const done = `${progress.partitionsDone}/${partitionCount} done`;
  // Copies quicker than a poll finish before any size is seen: no "-/-" beside "4/4 done".
  if (progress.totalBytes === 0 && progress.partitionsDone === partitionCount)
    return `${mode}: ${verb}, ${done}${error}`;
  return `${mode}: ${verb} ${bytesText(progress.doneBytes, progress.totalBytes)}, ${done}${error}`;
}

/** A partition's full-sync cell: "prepared" / "preparing", "done" or its bytes; "" when none. */
export function partitionFullSyncText(
  detail: DuplicationDetail,
  state: DuplicationPartitionState,
): string {
  if (detail.fullSync === undefined) return "";
  if (detail.status === DuplicationStatus.DS_PREPARE)
    return state.checkpointPrepared === true ? "prepared" : "preparing";
  if (state.copy === undefined) return "-";
  if (state.copy.done) return "done";
  return bytesText(state.copy.doneBytes, state.copy.totalBytes);
}

/** Whether any of the duplications runs a full sync (their tables get a full_sync column). */
export function anyFullSync(details: readonly DuplicationDetail[]): boolean {
  return details.some((detail) => detail.fullSync !== undefined);
}
