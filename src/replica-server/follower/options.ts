/**
 * Every bound of the follower checkpoint copy, named once with its default (docs/limits.md,
 * "Full duplication: follower copy"). The copy rate is the config key
 * `[replication] dup_checkpoint_copy_rate_mb`.
 */
import { TalariaError } from "../../common/errors.ts";
import { DUP_CHECKPOINT_CHUNK_BYTES_MAX } from "../../protocol/index.ts";

const MiB = 1024 * 1024;

export const followerCopyDefaults = {
  /** Bytes asked for per CHUNK call (at most DUP_CHECKPOINT_CHUNK_BYTES_MAX). */
  followerCopyChunkBytes: 2 * MiB,
  /**
   * CHUNK calls one copy keeps in flight (memory: this × followerCopyChunkBytes per copy). 16 MiB
   * in flight covers a 30 ms cross-datacenter round trip at ~500 MiB/s.
   */
  followerCopyChunksInFlight: 8,
  /** Local writes one copy keeps outstanding (memory: this × followerCopyChunkBytes more). */
  followerCopyWritesInFlight: 4,
  /**
   * HTTP path: bytes gathered from the socket before one positional write (buffers reused; this
   * × followerCopyWritesInFlight of memory per copy).
   */
  followerCopyHttpWriteBytes: 4 * MiB,
  /** HTTP path: no answer or no body bytes for this long fails the stream (then CHUNK). */
  followerCopyHttpStallMs: 30_000,
  /** Bytes copied between two fsyncs of the data file and the state file (what a crash re-copies). */
  followerCopyStateSyncBytes: 64 * MiB,
  /** Most files an OPEN reply may list. */
  followerCopyFilesMax: 1000,
  /** Partitions one replica server copies at once; the others wait their turn. */
  followerCopiesConcurrentMax: 2,
  /** Deadline of one call to the master cluster (meta query, OPEN, CHUNK). */
  followerCopyCallTimeoutMs: 30_000,
  /** First wait after a failed attempt; doubles up to followerCopyRetryDelayMsMax. */
  followerCopyRetryDelayMsMin: 1000,
  followerCopyRetryDelayMsMax: 60_000,
  /** A progress line is logged at most this often per copy. */
  followerCopyProgressLogMs: 10_000,
} as const;

export type FollowerCopyLimits = { -readonly [K in keyof typeof followerCopyDefaults]: number };

function invalid(option: string, value: number, expected: string): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", `${option} must be ${expected}`, {
    details: { option, value },
  });
}

/** Checks limits given by a caller (tests, bench). */
export function resolveFollowerCopyLimits(
  given: Partial<FollowerCopyLimits> = {},
): FollowerCopyLimits {
  const limits: FollowerCopyLimits = { ...followerCopyDefaults, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(name, value, "a non-negative integer");
    }
  }
  if (
    limits.followerCopyChunkBytes < 1 ||
    limits.followerCopyChunkBytes > DUP_CHECKPOINT_CHUNK_BYTES_MAX
  ) {
    throw invalid(
      "followerCopyChunkBytes",
      limits.followerCopyChunkBytes,
      `in [1, ${DUP_CHECKPOINT_CHUNK_BYTES_MAX}]`,
    );
  }
  if (limits.followerCopyChunksInFlight < 1)
    throw invalid("followerCopyChunksInFlight", limits.followerCopyChunksInFlight, "≥ 1");
  if (limits.followerCopyWritesInFlight < 1)
    throw invalid("followerCopyWritesInFlight", limits.followerCopyWritesInFlight, "≥ 1");
  // At least a response head (checkpoint-http.ts RESPONSE_HEAD_BYTES_MAX): the body bytes that
  // come with the head fit in one buffer.
  if (limits.followerCopyHttpWriteBytes < 16 * 1024 || limits.followerCopyHttpWriteBytes > 64 * MiB)
    throw invalid(
      "followerCopyHttpWriteBytes",
      limits.followerCopyHttpWriteBytes,
      `in [${16 * 1024}, ${64 * MiB}]`,
    );
  if (limits.followerCopyHttpStallMs < 1)
    throw invalid("followerCopyHttpStallMs", limits.followerCopyHttpStallMs, "≥ 1");
  if (limits.followerCopiesConcurrentMax < 1)
    throw invalid("followerCopiesConcurrentMax", limits.followerCopiesConcurrentMax, "≥ 1");
  if (limits.followerCopyRetryDelayMsMax < limits.followerCopyRetryDelayMsMin)
    throw invalid(
      "followerCopyRetryDelayMsMax",
      limits.followerCopyRetryDelayMsMax,
      "≥ followerCopyRetryDelayMsMin",
    );
  return limits;
}
