/**
 * Settings of one duplication's source side (one per duplication and primary partition). Every
 * bound is named here with its default and why; the replica server fills them from `[replication]`
 * (config key in brackets).
 */
import { TalariaError } from "../../common/errors.ts";
import { formatLimits } from "../../common/limits.ts";
import { DuplicationFailMode } from "../../protocol/index.ts";

/** Pegasus `duplication_fail_mode`, as meta assigns it (protocol/duplication-messages.ts). */
export const FailMode = DuplicationFailMode;
export type FailMode = DuplicationFailMode;

export function isFailMode(value: unknown): value is FailMode {
  return value === "FAIL_SLOW" || value === "FAIL_SKIP" || value === "FAIL_FAST";
}

/*
 * Fail modes, as the source side applies them to BOTH plog read failures and shipping failures:
 * FAIL_SLOW retries forever with capped exponential backoff (retryDelayMsMin..Max); FAIL_SKIP,
 * after skipAfterFailures tries, dead-letters what fails and moves on; FAIL_FAST, after
 * failFastAfterFailures tries, pauses the duplication with the error recorded.
 */

export interface SourceOptions {
  /** This cluster's id in `[duplication-group]` (1..127): stamped on every shipped entry. */
  readonly sourceClusterId: number;
  /** Payload bytes of plog read per batch [duplicate_log_batch_bytes]; 0 = one mutation a batch. */
  readonly batchBytes?: number;
  /**
   * Most batches in flight at once (4): the next batch is loaded while earlier ones ship, and a
   * target partition moves on without waiting for the others. 1 = Pegasus's one batch at a time.
   */
  readonly pipelineBatchesMax?: number;
  /** Most entry bytes in one DUPLICATE request [dup_max_allowed_write_size]. */
  readonly requestBytesMax?: number;
  /** Most entries in one DUPLICATE request: the remote's `multiOpCountMax` (1,000). */
  readonly requestEntriesMax?: number;
  /** Wait before reading the plog again after it returned nothing [dup_no_mutation_load_delay_ms]. */
  readonly noMutationLoadDelayMs?: number;
  /** First retry delay after a failed load or ship (100 ms); doubles per consecutive failure... */
  readonly retryDelayMsMin?: number;
  /** ...up to this (10 s): a dead remote costs one request per 10 s per stream. */
  readonly retryDelayMsMax?: number;
  /** FAIL_SKIP: consecutive failures of one load or request before it is dead-lettered (10). */
  readonly skipAfterFailures?: number;
  /** FAIL_FAST: consecutive failures of one load or request before the duplication pauses (1). */
  readonly failFastAfterFailures?: number;
  /** Most plog bytes held above the confirmed decree [dup_max_retained_log_bytes]. */
  readonly retainedLogBytesMax?: number;
  /** Oldest unconfirmed mutation the plog holds, in ms [dup_max_retained_log_seconds × 1000]. */
  readonly retainedLogMsMax?: number;
  /** A backlog with no progress for this long is flagged stalled [dup_stalled_after_ms]. */
  readonly stalledAfterMs?: number;
  /** Deadline of one DUPLICATE request, the client's retries included [dup_ship_timeout_ms]. */
  readonly shipTimeoutMs?: number;
  /**
   * Most the remote's wall clock may differ from ours, in ms [dup_max_clock_skew_seconds × 1000]:
   * a DUPLICATE answer that proves more is flagged (remote-clock.ts). Shipping does not change.
   */
  readonly maxClockSkewMs?: number;
  /**
   * Full re-sync only (resync-reader.ts): the "log" is a checkpoint read as DUPLICATE entries
   * carrying each record's own timetag; ship them instead of skipping them (false).
   */
  readonly shipDuplicateEntries?: boolean;
}

export type ResolvedSourceOptions = Required<SourceOptions>;

const MiB = 1024 * 1024;

export const sourceDefaults = {
  // 256 KiB, not Pegasus's 4 KiB: a plog read costs about the same for 4 KiB as for much more
  // (it seeks by scanning block headers), so small batches cap catch-up (bench:dup: ≈6×).
  batchBytes: 256 * 1024,
  pipelineBatchesMax: 4,
  requestBytesMax: MiB,
  requestEntriesMax: 1000,
  noMutationLoadDelayMs: 100,
  retryDelayMsMin: 100,
  retryDelayMsMax: 10_000,
  skipAfterFailures: 10,
  failFastAfterFailures: 1,
  retainedLogBytesMax: 4 * 1024 * MiB,
  retainedLogMsMax: 43_200_000,
  stalledAfterMs: 60_000,
  shipTimeoutMs: 10_000,
  maxClockSkewMs: 300_000,
  shipDuplicateEntries: false,
} as const satisfies Omit<ResolvedSourceOptions, "sourceClusterId">;

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `duplication option ${name} = ${value} is not an integer in [${min}, ${max}]`,
      { details: { option: name, value } },
    );
  }
  return value;
}

export function resolveSourceOptions(options: SourceOptions): ResolvedSourceOptions {
  const d = sourceDefaults;
  const max = Number.MAX_SAFE_INTEGER;
  const retryDelayMsMin = integerIn(
    "retryDelayMsMin",
    options.retryDelayMsMin ?? d.retryDelayMsMin,
    1,
    max,
  );
  return {
    sourceClusterId: integerIn(
      "sourceClusterId",
      options.sourceClusterId,
      1,
      formatLimits.clusterIdMax,
    ),
    batchBytes: integerIn("batchBytes", options.batchBytes ?? d.batchBytes, 0, max),
    pipelineBatchesMax: integerIn(
      "pipelineBatchesMax",
      options.pipelineBatchesMax ?? d.pipelineBatchesMax,
      1,
      64,
    ),
    requestBytesMax: integerIn(
      "requestBytesMax",
      options.requestBytesMax ?? d.requestBytesMax,
      1,
      max,
    ),
    requestEntriesMax: integerIn(
      "requestEntriesMax",
      options.requestEntriesMax ?? d.requestEntriesMax,
      1,
      max,
    ),
    noMutationLoadDelayMs: integerIn(
      "noMutationLoadDelayMs",
      options.noMutationLoadDelayMs ?? d.noMutationLoadDelayMs,
      0,
      max,
    ),
    retryDelayMsMin,
    retryDelayMsMax: integerIn(
      "retryDelayMsMax",
      options.retryDelayMsMax ?? d.retryDelayMsMax,
      retryDelayMsMin,
      max,
    ),
    skipAfterFailures: integerIn(
      "skipAfterFailures",
      options.skipAfterFailures ?? d.skipAfterFailures,
      1,
      max,
    ),
    failFastAfterFailures: integerIn(
      "failFastAfterFailures",
      options.failFastAfterFailures ?? d.failFastAfterFailures,
      1,
      max,
    ),
    retainedLogBytesMax: integerIn(
      "retainedLogBytesMax",
      options.retainedLogBytesMax ?? d.retainedLogBytesMax,
      1,
      max,
    ),
    retainedLogMsMax: integerIn(
      "retainedLogMsMax",
      options.retainedLogMsMax ?? d.retainedLogMsMax,
      1,
      max,
    ),
    stalledAfterMs: integerIn("stalledAfterMs", options.stalledAfterMs ?? d.stalledAfterMs, 1, max),
    shipTimeoutMs: integerIn("shipTimeoutMs", options.shipTimeoutMs ?? d.shipTimeoutMs, 1, max),
    maxClockSkewMs: integerIn("maxClockSkewMs", options.maxClockSkewMs ?? d.maxClockSkewMs, 0, max),
    shipDuplicateEntries: options.shipDuplicateEntries === true,
  };
}

/** Capped exponential backoff after `failures` consecutive failures (>= 1). */
export function retryDelayMs(options: ResolvedSourceOptions, failures: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  return Math.min(options.retryDelayMsMax, options.retryDelayMsMin * 2 ** exponent);
}
