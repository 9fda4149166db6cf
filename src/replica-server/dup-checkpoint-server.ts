/**
 * Serving dup checkpoints to follower primaries of another cluster (DupCheckpointMethod OPEN and
 * CHUNK, protocol/dup-checkpoint-messages.ts; notes §3.8).
 *
 *  - OPEN {gpid}: only the partition's primary answers. It names the newest kept dup checkpoint
 *    whose decree is at least the start decree of every "create" duplication of the table in
 *    DS_PREPARE / DS_APP (shipping resumes after that decree, so nothing falls between the
 *    checkpoint and the log). When none qualifies, one is made in the background and the answer
 *    is ERR_BUSY: ask again.
 *  - CHUNK {gpid, id, file, offset, length}: up to `length` (≤ DUP_CHECKPOINT_CHUNK_BYTES_MAX)
 *    bytes of a listed file. Any server still keeping the checkpoint answers — after a primary
 *    change a follower may finish the files it started; ERR_OBJECT_NOT_FOUND once it is gone.
 *
 *  - GET DUP_CHECKPOINT_HTTP_PATH (dupCheckpointRoute): the same files in bulk over the replica
 *    server's HTTP server, streamed from disk without msgpack framing; OPEN names its address
 *    (`httpAddress`) once the HTTP server listens. Same rules as CHUNK: any server keeping the
 *    checkpoint answers, 404 once it is gone; the range is checked by the router (416).
 *
 * Every field of a request is checked before anything is read: a peer's bad message answers
 * ERR_INVALID_PARAMETERS for that request only.
 */

import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { newestCovering, type OpenFloor } from "../duplication/index.ts";
import type { FileBody, Route } from "../http/index.ts";
import {
  DUP_CHECKPOINT_CHUNK_BYTES_MAX,
  DUP_CHECKPOINT_NO_FULL_DUPLICATION,
  type DupCheckpointChunkRequest,
  type DupCheckpointChunkResponse,
  type DupCheckpointOpenRequest,
  type DupCheckpointOpenResponse,
} from "../protocol/dup-checkpoint-messages.ts";
import { DUP_CHECKPOINT_HTTP_PATH, type Gpid, gpidKey } from "../protocol/index.ts";
import { ReplicaStatus } from "../protocol/partition-config.ts";
import * as v from "../protocol/validate.ts";
import {
  decodeCheckpointFileQuery,
  fileName,
  type HeldFileRequest,
  readFileChunk,
} from "./checkpoint-transfer.ts";
import { type DupCheckpointStore, decreeOfId } from "./dup-checkpoint-store.ts";
import type { FullSyncMetrics } from "./full-sync-metrics.ts";

/** Longest checkpoint id accepted (`dup-` and a decree). */
const ID_CHARS_MAX = 32;

export function decodeDupCheckpointOpen(payload: unknown): DupCheckpointOpenRequest {
  const p = v.object(payload, "payload");
  return { gpid: v.gpid(p.gpid, "gpid") };
}

export function decodeDupCheckpointChunk(payload: unknown): DupCheckpointChunkRequest {
  const p = v.object(payload, "payload");
  const id = v.string(p.id, "id", ID_CHARS_MAX);
  if (decreeOfId(id) === undefined) throw new v.TalariaErrorForField("id", "dup-<decree>", id);
  return {
    gpid: v.gpid(p.gpid, "gpid"),
    id,
    file: fileName(p.file, "file"),
    offset: v.integer(p.offset, "offset", 0),
    length: v.integer(p.length, "length", 1, DUP_CHECKPOINT_CHUNK_BYTES_MAX),
  };
}

export type DupCheckpointFileRequest = HeldFileRequest;

/** The query of DUP_CHECKPOINT_HTTP_PATH (decodeCheckpointFileQuery), with a `dup-<decree>` id. */
export function decodeDupCheckpointHttpQuery(query: URLSearchParams): DupCheckpointFileRequest {
  return decodeCheckpointFileQuery(query, (text) => {
    const id = v.string(text, "id", ID_CHARS_MAX);
    if (decreeOfId(id) === undefined) throw new v.TalariaErrorForField("id", "dup-<decree>", id);
    return id;
  });
}

/** What the server needs of the replica server's full-sync state. */
export interface DupCheckpointHost {
  /** The hosted replica's status, or undefined when the partition is not here. */
  status(gpid: Gpid): ReplicaStatus | undefined;
  /** The OPEN floor from the latest duplication sync; undefined before the first one. */
  openFloor(gpid: Gpid): OpenFloor | undefined;
  /** The partition's dup checkpoint store. */
  store(gpid: Gpid): Promise<DupCheckpointStore>;
  /** Starts making a checkpoint covering `floor` in the background (no-op while one is made). */
  prepare(gpid: Gpid, floor: number): void;
}

function notHere(gpid: Gpid, what: string): TalariaError {
  return new TalariaError("ERR_OBJECT_NOT_FOUND", `${what} of ${gpidKey(gpid)} is not here`, {
    details: { gpid: gpidKey(gpid) },
  });
}

function busy(gpid: Gpid, reason: string): TalariaError {
  return new TalariaError("ERR_BUSY", `dup checkpoint of ${gpidKey(gpid)}: ${reason}; ask again`, {
    retriable: true,
    details: { gpid: gpidKey(gpid), reason },
  });
}

export class DupCheckpointServer {
  /** "host:port" of this server's HTTP server, once it listens (OPEN's `httpAddress`). */
  private httpAddress: string | undefined;

  constructor(
    private readonly host: DupCheckpointHost,
    private readonly logger: Logger,
    private readonly metrics?: FullSyncMetrics,
  ) {}

  /** Names this server's HTTP server in OPEN replies, so followers stream files from it. */
  advertiseHttp(address: string | undefined): void {
    this.httpAddress = address;
  }

  async open(payload: unknown): Promise<DupCheckpointOpenResponse> {
    const { gpid } = decodeDupCheckpointOpen(payload);
    const status = this.host.status(gpid);
    if (status === undefined) throw notHere(gpid, "partition");
    if (status !== ReplicaStatus.PRIMARY) {
      throw new TalariaError("ERR_INVALID_STATE", `not the primary of ${gpidKey(gpid)}`, {
        retriable: true,
        details: { gpid: gpidKey(gpid), status },
      });
    }
    const floor = this.host.openFloor(gpid);
    if (floor === undefined) throw busy(gpid, "duplications not synced yet");
    if (floor.kind === "none") {
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `no full duplication of table ${gpid.appId} needs a checkpoint of ${gpidKey(gpid)}`,
        { details: { gpid: gpidKey(gpid), reason: DUP_CHECKPOINT_NO_FULL_DUPLICATION } },
      );
    }
    if (floor.kind === "pending") throw busy(gpid, "start decree not chosen yet");
    const store = await this.host.store(gpid);
    const checkpoint = newestCovering(store.list(), floor.decree);
    if (checkpoint === undefined) {
      this.host.prepare(gpid, floor.decree);
      throw busy(gpid, `making a checkpoint covering decree ${floor.decree}`);
    }
    const files = await store.files(checkpoint);
    this.metrics?.opened(gpidKey(gpid));
    this.logger.info(
      {
        gpid: gpidKey(gpid),
        dupCheckpoint: checkpoint.id,
        files: files.length,
        floor: floor.decree,
      },
      "dup checkpoint opened by a follower",
    );
    return {
      id: checkpoint.id,
      decree: checkpoint.decree,
      files,
      ...(this.httpAddress === undefined ? {} : { httpAddress: this.httpAddress }),
    };
  }

  /** The file DUP_CHECKPOINT_HTTP_PATH streams, checked like a CHUNK request. */
  async httpFile(query: URLSearchParams): Promise<FileBody> {
    const request = decodeDupCheckpointHttpQuery(query);
    const { gpid } = request;
    const { checkpoint, file } = await this.keptFile(request);
    const key = gpidKey(gpid);
    return {
      kind: "file",
      path: join(checkpoint.path, file.name),
      bytes: file.bytes,
      onSent: (bytes) => this.metrics?.served(key, bytes),
    };
  }

  private async keptFile(request: DupCheckpointFileRequest) {
    const { gpid } = request;
    if (this.host.status(gpid) === undefined) throw notHere(gpid, "partition");
    const store = await this.host.store(gpid);
    const checkpoint = store.get(request.id);
    if (checkpoint === undefined) throw notHere(gpid, `checkpoint ${request.id}`);
    const file = (await store.files(checkpoint)).find((f) => f.name === request.file);
    if (file === undefined) throw notHere(gpid, `file ${request.file} of ${request.id}`);
    return { checkpoint, file };
  }

  async chunk(payload: unknown): Promise<DupCheckpointChunkResponse> {
    const request = decodeDupCheckpointChunk(payload);
    const { gpid } = request;
    const { checkpoint, file } = await this.keptFile(request);
    if (request.offset > file.bytes) {
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `offset ${request.offset} is past the end of ${request.file} (${file.bytes} bytes)`,
        { details: { field: "offset" } },
      );
    }
    const length = Math.min(request.length, file.bytes - request.offset);
    const data =
      length === 0
        ? Buffer.alloc(0)
        : await readFileChunk(join(checkpoint.path, file.name), request.offset, length);
    this.metrics?.served(gpidKey(gpid), data.length);
    return { data };
  }
}

/**
 * DUP_CHECKPOINT_HTTP_PATH on a replica server's HTTP server: `server()` is its dup checkpoint
 * server, undefined when duplication is off (404, ERR_OPERATION_DISABLED).
 */
export function dupCheckpointRoute(server: () => DupCheckpointServer | undefined): Route {
  return {
    path: DUP_CHECKPOINT_HTTP_PATH,
    description:
      "a dup checkpoint file for a follower copy (?app_id=&partition_index=&id=&file=, Range: bytes=<start>-)",
    handler: async (query) => {
      const dup = server();
      if (dup === undefined) {
        throw new TalariaError("ERR_OPERATION_DISABLED", "duplication is not enabled here");
      }
      return dup.httpFile(query);
    },
  };
}
