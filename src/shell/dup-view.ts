/**
 * How the duplication verbs show duplications: progress (backlog = last committed − confirmed
 * decree, per partition and in total), health, table rows and JSON. Pure.
 *
 * A partition's backlog is known only when both decrees are (-1 = not known: the meta server has
 * not persisted a confirmed decree yet, or has not heard from the primary since it leads). The
 * total counts the known partitions and says how many are unknown. A partition whose shipper
 * stopped by itself (FAIL_FAST gave up, or its log no longer reaches) carries a `failure`. A
 * full sync's progress (DS_PREPARE, DS_APP) is shown by dup-full-sync-view.ts, in an extra
 * `full_sync` column only when a listed duplication runs one.
 */
import { unreachable } from "../common/index.ts";
import {
  type DuplicationDetail,
  DuplicationFailMode,
  type DuplicationFailure,
  type DuplicationPartitionState,
  type DuplicationRemoteClock,
  DuplicationStatus,
  invalidDecree,
} from "../protocol/index.ts";
import {
  anyFullSync,
  fullSyncProgress,
  fullSyncText,
  partitionFullSyncText,
} from "./dup-full-sync-view.ts";
import { formatTimeMs } from "./render.ts";

/** The fail modes by the names the verbs take. */
export const FAIL_MODES: ReadonlyMap<string, DuplicationFailMode> = new Map([
  ["slow", DuplicationFailMode.FAIL_SLOW],
  ["skip", DuplicationFailMode.FAIL_SKIP],
  ["fast", DuplicationFailMode.FAIL_FAST],
]);
export const FAIL_MODE_NAMES: readonly string[] = [...FAIL_MODES.keys()];

/** Largest dupid (int32 on the wire, as in Pegasus). */
export const DUPID_MAX = 2 ** 31 - 1;

/** Mutations committed on the source and not yet confirmed by the remote; undefined: not known. */
export function partitionBacklog(state: DuplicationPartitionState): number | undefined {
  if (state.confirmedDecree === invalidDecree || state.lastCommittedDecree === invalidDecree)
    return undefined;
  // The committed decree is the primary's latest report; the confirmed one may be newer.
  return Math.max(0, state.lastCommittedDecree - state.confirmedDecree);
}

export interface DuplicationProgress {
  /** Σ of the known partitions' backlogs; undefined when no partition's is known. */
  readonly backlog: number | undefined;
  readonly partitionsUnknown: number;
}

export function duplicationProgress(detail: DuplicationDetail): DuplicationProgress {
  let backlog: number | undefined;
  let partitionsUnknown = 0;
  for (const state of detail.partitionStates) {
    const own = partitionBacklog(state);
    if (own === undefined) partitionsUnknown++;
    else backlog = (backlog ?? 0) + own;
  }
  return { backlog, partitionsUnknown };
}

/** "120", "120 (1 of 4 unknown)", or "-" when no partition's backlog is known. */
export function formatBacklog(progress: DuplicationProgress, partitionCount: number): string {
  if (progress.backlog === undefined) return "-";
  if (progress.partitionsUnknown === 0) return String(progress.backlog);
  return `${progress.backlog} (${progress.partitionsUnknown} of ${partitionCount} unknown)`;
}

/** Characters of an error message shown in a table cell or a line. */
export const ERROR_TEXT_CHARS_MAX = 120;

/** `CODE: message` (messages of TalariaErrors already start with their code), cut when long. */
export function errorText(code: string, message: string): string {
  const text = message.startsWith(`${code}:`) ? message : `${code}: ${message}`;
  return text.length > ERROR_TEXT_CHARS_MAX ? `${text.slice(0, ERROR_TEXT_CHARS_MAX)}…` : text;
}

/** "log_truncated at decree 41: ERR_…: …". */
export function failureText(failure: DuplicationFailure): string {
  return `${failure.kind} at decree ${failure.atDecree}: ${errorText(failure.code, failure.message)}`;
}

/** "the remote's clock is 400.0 s ahead (± 5 ms), more than dup_max_clock_skew_seconds". */
export function clockSkewText(clock: DuplicationRemoteClock): string {
  const seconds = (Math.abs(clock.offsetMs) / 1000).toFixed(1);
  return `the remote's clock is ${seconds} s ${clock.offsetMs >= 0 ? "ahead" : "behind"} (± ${clock.uncertaintyMs} ms), more than dup_max_clock_skew_seconds`;
}

/**
 * One line per partition that needs attention: its shipper stopped by itself ("dupid 17
 * partition 2: paused_with_error at decree 41: …"), or it proved the clocks differ by more than
 * the allowed skew.
 */
export function failureLines(detail: DuplicationDetail): string[] {
  return detail.partitionStates.flatMap((state, pidx) => [
    ...(state.failure === undefined
      ? []
      : [`dupid ${detail.dupid} partition ${pidx}: ${failureText(state.failure)}`]),
    ...(state.remoteClock?.skewExceeded === true
      ? [`dupid ${detail.dupid} partition ${pidx}: ${clockSkewText(state.remoteClock)}`]
      : []),
  ]);
}

/** Why a duplication needs attention, for `dups -u`. */
export type UnhealthyReason =
  | "paused"
  | "not_started"
  | "failed"
  | "lagging"
  | "progress_unknown"
  | "clock_skew";

/**
 * The reasons a duplication is unhealthy (none: healthy). `lagGap`: the backlog from which it is
 * lagging. `failed`: a partition's shipper stopped by itself (under FAIL_FAST the meta server
 * then pauses the whole duplication, so it is paused too).
 */
export function unhealthyReasons(detail: DuplicationDetail, lagGap: number): UnhealthyReason[] {
  const reasons: UnhealthyReason[] = [];
  switch (detail.status) {
    case DuplicationStatus.DS_LOG:
      break;
    case DuplicationStatus.DS_PAUSE:
      reasons.push("paused");
      break;
    case DuplicationStatus.DS_INIT:
    case DuplicationStatus.DS_PREPARE:
    case DuplicationStatus.DS_APP:
      reasons.push("not_started");
      break;
    case DuplicationStatus.DS_REMOVED:
      // Never listed by the meta server; nothing ships for it.
      reasons.push("not_started");
      break;
    default:
      unreachable(detail.status, "duplication status");
  }
  if (detail.partitionStates.some((state) => state.failure !== undefined)) reasons.push("failed");
  const progress = duplicationProgress(detail);
  if (progress.backlog !== undefined && progress.backlog >= lagGap) reasons.push("lagging");
  if (progress.partitionsUnknown > 0 && detail.status !== DuplicationStatus.DS_INIT)
    reasons.push("progress_unknown");
  if (detail.partitionStates.some((state) => state.remoteClock?.skewExceeded === true))
    reasons.push("clock_skew");
  return reasons;
}

export const DUPLICATION_HEADER = [
  "dupid",
  "status",
  "fail_mode",
  "remote_cluster",
  "remote_app_name",
  "created_at",
  "backlog",
] as const;

/** The duplication table's header: with a `full_sync` column when one of `details` runs one. */
export function duplicationHeader(details: readonly DuplicationDetail[]): string[] {
  return [...DUPLICATION_HEADER, ...(anyFullSync(details) ? ["full_sync"] : [])];
}

export function duplicationRow(detail: DuplicationDetail, withFullSync = false): string[] {
  return [
    String(detail.dupid),
    detail.status,
    detail.failMode,
    detail.remoteClusterName,
    detail.remoteAppName,
    formatTimeMs(detail.createdAtMs),
    formatBacklog(duplicationProgress(detail), detail.partitionStates.length),
    ...(withFullSync ? [fullSyncText(detail) || "-"] : []),
  ];
}

export const PARTITION_HEADER = [
  "pidx",
  "confirmed_decree",
  "last_committed_decree",
  "backlog",
  "failure",
] as const;

/** The partition table's header: with `full_sync` when `withFullSync`. */
export function partitionHeader(withFullSync: boolean): string[] {
  return [...PARTITION_HEADER.slice(0, -1), ...(withFullSync ? ["full_sync"] : []), "failure"];
}

/** One row per partition; the `full_sync` cell (before `failure`) when `withFullSync`. */
export function partitionRows(detail: DuplicationDetail, withFullSync = false): string[][] {
  return detail.partitionStates.map((state, pidx) => [
    String(pidx),
    String(state.confirmedDecree),
    String(state.lastCommittedDecree),
    String(partitionBacklog(state) ?? "-"),
    ...(withFullSync ? [partitionFullSyncText(detail, state) || "-"] : []),
    state.failure === undefined ? "" : failureText(state.failure),
  ]);
}

/** A duplication in JSON: the meta server's detail, with the backlog per partition and in total. */
export function duplicationJson(detail: DuplicationDetail): unknown {
  const progress = duplicationProgress(detail);
  return {
    ...detail,
    partitionStates: detail.partitionStates.map((state, partitionIndex) => ({
      partitionIndex,
      ...state,
      backlog: partitionBacklog(state) ?? null,
    })),
    backlog: progress.backlog ?? null,
    partitionsUnknown: progress.partitionsUnknown,
    partitionsFailed: detail.partitionStates.filter((state) => state.failure !== undefined).length,
    ...(detail.fullSync === undefined ? {} : { fullSyncProgress: fullSyncProgress(detail) }),
  };
}
