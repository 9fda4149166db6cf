/**
 * What one duplication's source core counts (cumulative since it was created) and reports about
 * itself. The runtime exports them as metrics (metrics.ts); names follow docs/duplication.md.
 */
import type { DuplicationError, LogTruncatedReason } from "./events.ts";
import type { FailMode } from "./options.ts";
import type { RemoteClockReading } from "./remote-clock.ts";

export interface SourceStats {
  /** Entries the remote acknowledged (a re-shipped entry counts again). */
  shippedEntries: number;
  /** Encoded entry bytes the remote acknowledged. */
  shippedBytes: number;
  shippedRequests: number;
  /** DUPLICATE requests that failed (any reason, retried or not). */
  failedShips: number;
  /** Decrees meta confirmed (sum of confirmed-decree increases). */
  confirmedMutations: number;
  plogReadBytes: number;
  plogReadMutations: number;
  loadFailures: number;
  /**
   * Plog reads that found nothing although the replica had committed more (the next read waits
   * dup_no_mutation_load_delay_ms): each one delays shipping.
   */
  emptyLoads: number;
  /** Entries written to the dead-letter store by FAIL_SKIP. */
  deadLetteredEntries: number;
  /** Dead letters written (requests given up on, and unreadable plog decrees skipped). */
  deadLetters: number;
  deadLetterWriteFailures: number;
  /** DUPLICATE updates read from the plog and not forwarded. */
  skippedDuplicateUpdates: number;
  /** Batches re-routed because the remote table's partition count changed. */
  reroutes: number;
}

export function emptySourceStats(): SourceStats {
  return {
    shippedEntries: 0,
    shippedBytes: 0,
    shippedRequests: 0,
    failedShips: 0,
    confirmedMutations: 0,
    plogReadBytes: 0,
    plogReadMutations: 0,
    loadFailures: 0,
    emptyLoads: 0,
    deadLetteredEntries: 0,
    deadLetters: 0,
    deadLetterWriteFailures: 0,
    skippedDuplicateUpdates: 0,
    reroutes: 0,
  };
}

/**
 * Where the core is:
 *  - idle: waiting for committed mutations (or for a retry delay) before the next LOAD;
 *  - loading: one LOAD in flight;
 *  - shipping: batches in flight (up to pipelineBatchesMax; the next may be loading meanwhile),
 *    at most one request per target partition;
 *  - skipping: FAIL_SKIP is dead-lettering an unreadable decree before moving past it;
 *  - paused: by meta (DS_PAUSE) or by FAIL_FAST (`pausedWithError`); holds its log;
 *  - log_truncated: fell out of the log; stopped, holds nothing, needs a full re-sync;
 *  - removed: the duplication was removed; stopped, holds nothing.
 */
export type SourcePhase =
  | "idle"
  | "loading"
  | "shipping"
  | "skipping"
  | "paused"
  | "log_truncated"
  | "removed";

export interface SourceSnapshot {
  readonly phase: SourcePhase;
  /** Every entry up to here is acknowledged by the remote (reported to meta as confirmed). */
  readonly lastDecree: number;
  /** What meta persisted: a new primary resumes after it; the plog is held above it. */
  readonly confirmedDecree: number;
  readonly committedDecree: number;
  /** committedDecree − confirmedDecree: what the log holds for this duplication. */
  readonly backlog: number;
  /**
   * committedDecree − lastDecree: what the remote does not have yet. The backlog trails it by the
   * duplication sync and meta's persist period (seconds), so this is the one to read for lag.
   */
  readonly unshipped: number;
  /** Mutations pending and no progress for stalledAfterMs (while running). */
  readonly stalled: boolean;
  readonly targetPartitionCount: number;
  readonly failMode: FailMode;
  /** The decrees of the batches being shipped (first of the oldest to last of the newest). */
  readonly batch?: { readonly fromDecree: number; readonly toDecree: number };
  /** Batches loaded and not yet completed (≤ pipelineBatchesMax). */
  readonly batchesInFlight: number;
  readonly inFlightRequests: number;
  /** The most recent load or ship failure. */
  readonly lastError?: DuplicationError;
  /** Set while FAIL_FAST holds the duplication paused. */
  readonly pausedWithError?: DuplicationError;
  readonly logTruncated?: {
    readonly reason: LogTruncatedReason;
    readonly firstMissingDecree: number;
  };
  /** The remote's wall clock at the last acknowledged request (runtime only; remote-clock.ts). */
  readonly remoteClock?: RemoteClockReading;
  readonly stats: Readonly<SourceStats>;
}
