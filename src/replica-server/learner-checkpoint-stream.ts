/**
 * A learner's copy of one checkpoint file over its primary's HTTP bulk path
 * (LEARNER_CHECKPOINT_HTTP_PATH): the follower copy's machinery (follower/checkpoint-http.ts,
 * follower/file-stream.ts) — one GET per file, the socket read straight into reused buffers, full
 * aligned buffers written with `O_DIRECT` where the file system takes it (buffered otherwise),
 * CRC32C of exactly the bytes written, an fsync at the end.
 *
 * Unlike a follower copy there is no rate limit (CHUNK has none either) and nothing to resume: the
 * copy lands in the install's scratch directory, which is removed whatever happens, so the file is
 * always written from 0 and no state file is kept. A failure of the transfer rejects with
 * CheckpointHttpError (the caller goes on with CHUNK), a local failure with its own error, and
 * `close()` ends the copies in flight (ERR_INVALID_STATE: the replica server is closing).
 */
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Gpid } from "../protocol/index.ts";
import { type CheckpointFile, LEARNER_CHECKPOINT_HTTP_PATH } from "./checkpoint-transfer.ts";
import { streamFile } from "./follower/file-stream.ts";
import {
  CheckpointHttpClient,
  resolveFollowerCopyLimits,
  systemBucketDeps,
  TokenBucket,
} from "./follower/index.ts";

const MiB = 1024 * 1024;

/** Every bound of the learner's HTTP copy, named once with its default (docs/limits.md). */
export const learnerHttpCopyDefaults = {
  /**
   * Body bytes gathered from the socket before one positional write (reused buffers; memory per
   * learning replica: (learnerHttpWritesInFlight + 1) × this).
   */
  learnerHttpWriteBytes: 4 * MiB,
  /** Local writes one learner keeps outstanding. */
  learnerHttpWritesInFlight: 4,
  /** No answer or no body bytes for this long fails the stream (the learn goes on with CHUNK). */
  learnerHttpStallMs: 30_000,
} as const;

export type LearnerHttpCopyLimits = {
  -readonly [K in keyof typeof learnerHttpCopyDefaults]: number;
};

export interface LearnerFileRequest {
  readonly gpid: Gpid;
  /** The checkpoint id (CheckpointRef.id). */
  readonly id: string;
  readonly file: CheckpointFile;
}

export class LearnerCheckpointStream {
  private readonly client: CheckpointHttpClient;
  private readonly limits: Parameters<typeof streamFile>[0]["limits"];
  private readonly stallMs: number;
  /** No rate limit: a learner copies as fast as CHUNK would, only cheaper. */
  private readonly bucket = new TokenBucket(0, 1, systemBucketDeps);
  private readonly closing = new AbortController();

  constructor(
    options: { readonly limits?: Partial<LearnerHttpCopyLimits> },
    private readonly deps: { readonly logger: Logger },
  ) {
    const limits = { ...learnerHttpCopyDefaults, ...options.limits };
    // The follower's checks of the same bounds (write size, writes in flight, stall).
    const checked = resolveFollowerCopyLimits({
      followerCopyHttpWriteBytes: limits.learnerHttpWriteBytes,
      followerCopyWritesInFlight: limits.learnerHttpWritesInFlight,
      followerCopyHttpStallMs: limits.learnerHttpStallMs,
    });
    this.limits = {
      followerCopyHttpWriteBytes: checked.followerCopyHttpWriteBytes,
      followerCopyWritesInFlight: checked.followerCopyWritesInFlight,
      // Nothing to resume: no prefix syncs, one fsync when the file is complete.
      followerCopyStateSyncBytes: Number.MAX_SAFE_INTEGER,
    };
    this.stallMs = checked.followerCopyHttpStallMs;
    this.client = new CheckpointHttpClient({ path: LEARNER_CHECKPOINT_HTTP_PATH });
  }

  /**
   * Copies `request.file` from the HTTP server `address` into `path` (created or truncated) and
   * fsyncs it; resolves to the CRC32C of what was written (the caller compares it). `onBytes` is
   * told of each write.
   */
  copyFile(
    address: string,
    request: LearnerFileRequest,
    path: string,
    onBytes: (bytes: number) => void,
  ): Promise<number> {
    const { gpid, id, file } = request;
    const signal = this.closing.signal;
    const ref = { gpid, id, file: file.name, bytes: file.bytes };
    return streamFile({
      path,
      file: { ...file, doneBytes: 0, doneCrc32c: 0 },
      get: (start, sink) =>
        this.client.get(address, ref, start, { stallMs: this.stallMs, signal }, sink),
      bucket: this.bucket,
      limits: this.limits,
      saveState: async () => {},
      onBytes,
      logger: this.deps.logger,
      signal,
    });
  }

  /** Ends the copies in flight; later ones fail at once. */
  close(): void {
    this.closing.abort(
      new TalariaError(
        "ERR_INVALID_STATE",
        "learner checkpoint copy: the replica server is closing",
      ),
    );
    this.client.close();
  }
}
