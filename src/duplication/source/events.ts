/**
 * The source core's inputs (events) and outputs (actions), etcd-raft style: the runtime feeds
 * events to `DuplicationSourceCore.step`, performs the actions it returns in order, and feeds the
 * outcome of each I/O action back as an event carrying the action's id. Ids of actions the core
 * has since abandoned (pause, re-route, restart) are ignored when their outcome arrives.
 */
import type { DuplicateEntry, Mutation } from "../../codec/mutation.ts";
import type { FailMode } from "./options.ts";

/** An error as data: whatever a remote or a disk said, reduced to a code and a message. */
export interface DuplicationError {
  /** A TalariaError code when the failure carried one, else a local label (ERR_UNKNOWN). */
  readonly code: string;
  readonly message: string;
}

/** The duplication status meta assigns, as the source side acts on it (DS_LOG / DS_PAUSE / DS_REMOVED). */
export type RunStatus = "start" | "pause" | "remove";

/** What the dead-letter store keeps of a load or request that FAIL_SKIP gave up on. */
export interface DeadLetterRecord {
  /** "ship": a request the remote kept refusing; "load": plog decrees that could not be read. */
  readonly kind: "ship" | "load";
  /** The source decrees the letter covers (inclusive). */
  readonly fromDecree: number;
  readonly toDecree: number;
  /** "ship": the target partition it was routed to, by `targetPartitionCount`; -1 for "load". */
  readonly targetPartition: number;
  readonly targetPartitionCount: number;
  /** "ship": the entries, timetags included; "load": none (the mutations could not be read). */
  readonly entries: readonly DuplicateEntry[];
  readonly error: DuplicationError;
  readonly attempts: number;
}

export type SourceEvent =
  /** Time passes (the runtime's monotonic clock): retries and delayed loads come due. */
  | { readonly type: "TICK"; readonly nowMs: number }
  /**
   * The replica's log as of now: the last committed (applied) decree, plog bytes held above the
   * confirmed decree, and whether the table receives a re-sync from a remote cluster (its writes
   * fill the log but are never this duplication's to ship: the byte bound waits meanwhile).
   * `resyncReceivedThroughDecree`: the last decree of this log known to hold a received re-sync's
   * writes; the byte bound also waits until the confirmed decree passed it, so a re-sync received
   * while this duplication re-synced or stalled itself does not count once its writes stop.
   */
  | {
      readonly type: "LOG_STATE";
      readonly committedDecree: number;
      readonly retainedBytes: number;
      readonly receivingResync?: boolean;
      readonly resyncReceivedThroughDecree?: number;
    }
  /**
   * A LOAD's mutations (decoded, decree order) and their payload bytes. `wallNowMs`: the source's
   * wall clock at the load; a batch whose first write is older than the age bound by its own
   * timestamp is not shipped (the duplication falls out of its log instead).
   */
  | {
      readonly type: "BATCH_LOADED";
      readonly loadId: number;
      readonly mutations: readonly Mutation[];
      readonly bytes: number;
      readonly wallNowMs?: number;
    }
  /** A LOAD failed; `truncated` when the plog no longer holds `fromDecree` (retrying cannot help). */
  | {
      readonly type: "LOAD_FAILED";
      readonly loadId: number;
      readonly error: DuplicationError;
      readonly truncated: boolean;
    }
  | { readonly type: "SHIP_ACKED"; readonly shipId: number }
  /** A SHIP failed; `partitionCount` when the remote table has a different partition count. */
  | {
      readonly type: "SHIP_FAILED";
      readonly shipId: number;
      readonly error: DuplicationError;
      readonly partitionCount?: number;
    }
  | { readonly type: "DEAD_LETTERED"; readonly deadLetterId: number }
  | {
      readonly type: "DEAD_LETTER_FAILED";
      readonly deadLetterId: number;
      readonly error: DuplicationError;
    }
  /** Meta persisted this confirmed decree for the partition (duplication sync reply). */
  | { readonly type: "CONFIRMED"; readonly confirmedDecree: number }
  /** Meta's assignment changed (duplication sync reply) or the remote table was looked up again. */
  | {
      readonly type: "CONFIGURE";
      readonly targetPartitionCount?: number;
      readonly failMode?: FailMode;
      readonly status?: RunStatus;
    };

export type SourceAction =
  /** Read committed mutations `fromDecree..toDecree` from the plog, about `bytesMax` payload bytes. */
  | {
      readonly type: "LOAD";
      readonly loadId: number;
      readonly fromDecree: number;
      readonly toDecree: number;
      readonly bytesMax: number;
    }
  /** Send one DUPLICATE request to a partition of the remote table (one in flight per partition). */
  | {
      readonly type: "SHIP";
      readonly shipId: number;
      readonly targetPartition: number;
      /** The count the entries were routed by; the remote must still have it. */
      readonly targetPartitionCount: number;
      readonly entries: readonly DuplicateEntry[];
      readonly bytes: number;
      readonly fromDecree: number;
      readonly toDecree: number;
    }
  /** FAIL_SKIP gave up: store this durably, then report DEAD_LETTERED. */
  | {
      readonly type: "DEAD_LETTER";
      readonly deadLetterId: number;
      readonly letter: DeadLetterRecord;
    }
  /** Every entry up to `lastDecree` is acknowledged by the remote: report it to meta as confirmed. */
  | { readonly type: "PROGRESS"; readonly lastDecree: number }
  /** FAIL_FAST stopped the duplication: report the error to meta; it resumes on pause → start. */
  | {
      readonly type: "PAUSED_WITH_ERROR";
      readonly error: DuplicationError;
      readonly atDecree: number;
    }
  /**
   * The duplication fell out of the log (a bound was passed, or the plog lost decrees it needs):
   * it stops and releases its log hold; it needs a full re-sync.
   */
  | {
      readonly type: "LOG_TRUNCATED";
      readonly reason: LogTruncatedReason;
      readonly firstMissingDecree: number;
      readonly message: string;
    };

export type LogTruncatedReason = "retained_bytes" | "retained_seconds" | "log_gone";
