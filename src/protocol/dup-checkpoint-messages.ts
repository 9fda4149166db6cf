/**
 * Full duplication: a follower primary pulls its partition's checkpoint straight from a replica
 * server of the master cluster (notes §3.8). Two calls, both answered by the master partition's
 * primary:
 *  - OPEN names a checkpoint of the master partition that covers at least the start decree of
 *    every full duplication of the table in DS_PREPARE / DS_APP (made on demand when none does;
 *    ERR_BUSY while it is being made: ask again). Checkpoints kept for followers live on disk
 *    under a stable id, so a follower resumes the same files after either side restarts; when the
 *    id is gone (ERR_OBJECT_NOT_FOUND on CHUNK) the follower opens again and starts over.
 *  - CHUNK returns up to `length` bytes of one file at `offset` (short only at the end of file).
 *  - The same bytes in bulk, without msgpack framing: `GET DUP_CHECKPOINT_HTTP_PATH` on the
 *    master replica server's HTTP server (OPEN's `httpAddress`), query `app_id`,
 *    `partition_index`, `id`, `file`, header `Range: bytes=<start>-`: 206 and the file from
 *    `start` to its end; 404 when the checkpoint or file is not kept there (as CHUNK's
 *    ERR_OBJECT_NOT_FOUND, any server keeping it answers), 416 for a range outside the file.
 * Errors: ERR_OBJECT_NOT_FOUND (partition or checkpoint not here), ERR_INVALID_STATE (not the
 * primary), ERR_BUSY, ERR_INVALID_PARAMETERS (bad request).
 */
import type { Gpid } from "./ids.ts";

/**
 * `details.reason` of OPEN's ERR_OBJECT_NOT_FOUND when the master table has no full duplication in
 * DS_PREPARE / DS_APP (removed, or never added): asking again will not help until one is added.
 */
export const DUP_CHECKPOINT_NO_FULL_DUPLICATION = "no_full_duplication";

export const DupCheckpointMethod = {
  OPEN: "replica.dup_checkpoint_open",
  CHUNK: "replica.dup_checkpoint_chunk",
} as const;

export interface DupCheckpointOpenRequest {
  /** The master partition (master app id). */
  readonly gpid: Gpid;
}

export interface DupCheckpointFile {
  /** A plain file name (no directory part). */
  readonly name: string;
  readonly bytes: number;
  readonly crc32c: number;
}

export interface DupCheckpointOpenResponse {
  /** Stable while the checkpoint exists, across restarts of the master. */
  readonly id: string;
  /** The last decree the checkpoint holds. */
  readonly decree: number;
  readonly files: readonly DupCheckpointFile[];
  /**
   * "host:port" of the answering server's HTTP server, which streams the files
   * (DUP_CHECKPOINT_HTTP_PATH); absent when it serves no HTTP (then only CHUNK).
   */
  readonly httpAddress?: string;
}

/** The HTTP route streaming a dup checkpoint file (query and Range: see the header). */
export const DUP_CHECKPOINT_HTTP_PATH = "/replica/dup-checkpoint";

export interface DupCheckpointChunkRequest {
  readonly gpid: Gpid;
  readonly id: string;
  readonly file: string;
  readonly offset: number;
  /** At most DUP_CHECKPOINT_CHUNK_BYTES_MAX. */
  readonly length: number;
}

export interface DupCheckpointChunkResponse {
  readonly data: Uint8Array;
}

/** Largest chunk one CHUNK call may ask for (well under the RPC frame limit). */
export const DUP_CHECKPOINT_CHUNK_BYTES_MAX = 4 * 1024 * 1024;
