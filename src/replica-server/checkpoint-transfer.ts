/**
 * Copying a checkpoint from the replica server that holds it to a learner: the learner asks for
 * the file list (names, sizes, CRC32C, and the holder's HTTP address when it serves HTTP), then
 * copies each file and checks its CRC32C before the install may use it.
 *
 *  - HTTP bulk path (learner-checkpoint-route.ts, learner-checkpoint-stream.ts): one GET per file
 *    on the holder's HTTP server, full aligned buffers written with `O_DIRECT`. Used when FILES
 *    names `httpAddress` and this server has the stream.
 *  - CHUNK RPC: bounded chunks, CHECKPOINT_CHUNKS_IN_FLIGHT per file in offset order, buffered
 *    writes. Used without an HTTP address, and for the file whose stream failed and every later
 *    one (the stream's file is copied again from its start).
 *
 * A failed or corrupt copy rejects (a CRC32C mismatch is ERR_INVALID_DATA, whichever path copied
 * the file, and is not retried over CHUNK) and the file is removed; the install removes the scratch
 * directory, so nothing partial is installed; the learner asks again.
 *
 * The holder sums each file of a checkpoint once, not on every FILES: a checkpoint held for
 * learners never changes once made (a new one gets a new directory or new files), so a CRC32C is
 * reused while the file has the same identity (device, inode, size, mtime and ctime) and the
 * checkpoint is still held; one no longer held is forgotten on the next FILES. Small files are
 * summed every time (cheap), which keeps the identity check off files that could be rewritten
 * within one timestamp tick.
 */
import type { BigIntStats } from "node:fs";
import { lstat, open, readdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { TalariaError } from "../common/errors.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import { type Gpid, gpidKey } from "../protocol/index.ts";
import type { CheckpointRef } from "../protocol/replica-messages.ts";
import * as v from "../protocol/validate.ts";
import type { Transport } from "../rpc/index.ts";
import { writeFully } from "./follower/file-pump.ts";
import { CheckpointHttpError } from "./follower/index.ts";
import type { LearnerCheckpointMetrics, LearnerTransfer } from "./learner-checkpoint-metrics.ts";
import type { LearnerCheckpointStream } from "./learner-checkpoint-stream.ts";

export const CheckpointMethod = {
  FILES: "replica.checkpoint_files",
  CHUNK: "replica.checkpoint_chunk",
} as const;

/** The HTTP bulk path of learner checkpoints on a replica server's HTTP server. */
export const LEARNER_CHECKPOINT_HTTP_PATH = "/replica/learner-checkpoint";

/** Bytes per chunk request: well under the RPC frame limit. */
export const CHECKPOINT_CHUNK_BYTES = 1024 * 1024;
export const CHECKPOINT_CALL_TIMEOUT_MS = 30_000;
/** CHUNK calls a learner keeps in flight per file (pipelined: the copy is not one round trip per MiB). */
export const CHECKPOINT_CHUNKS_IN_FLIGHT = 4;
/** Longest checkpoint id a request may name. */
export const CHECKPOINT_ID_CHARS_MAX = 256;
/** Most files a FILES reply may list. */
export const CHECKPOINT_FILES_MAX = 64;
/** Most file CRC32Cs a holder keeps for the checkpoints it serves (oldest dropped first). */
export const CHECKPOINT_CRCS_CACHED_MAX = 256;
/** Files smaller than this are summed on every FILES rather than cached. */
export const CHECKPOINT_CRC_CACHED_BYTES_MIN = 1024 * 1024;

export interface CheckpointFile {
  readonly name: string;
  readonly bytes: number;
  readonly crc32c: number;
}

/** The FILES reply; `httpAddress` ("host:port") only when the holder serves the HTTP path. */
export interface CheckpointFilesResponse {
  readonly files: CheckpointFile[];
  readonly httpAddress?: string;
}

/** One file of a held checkpoint (LEARNER_CHECKPOINT_HTTP_PATH's query). */
export interface HeldFileRequest {
  readonly gpid: Gpid;
  readonly id: string;
  readonly file: string;
}

/** The query of a checkpoint file route (dup and learner): each parameter exactly once. */
const FILE_QUERY_KEYS = ["app_id", "partition_index", "id", "file"] as const;
const DECIMAL = /^(0|[1-9]\d{0,9})$/;

/**
 * Decodes `?app_id=&partition_index=&id=&file=` of a checkpoint file route: each parameter exactly
 * once and nothing else, decimal integers, a plain file name; `decodeId` checks the id the route's
 * own way. Bad input is ERR_INVALID_PARAMETERS naming the field (answered 400).
 */
export function decodeCheckpointFileQuery(
  query: URLSearchParams,
  decodeId: (text: string) => string,
): HeldFileRequest {
  for (const key of query.keys()) {
    if (!(FILE_QUERY_KEYS as readonly string[]).includes(key) || query.getAll(key).length !== 1) {
      throw new v.TalariaErrorForField(key, `one of ${FILE_QUERY_KEYS.join(", ")}, once`, key);
    }
  }
  const integer = (key: string): number => {
    const text = query.get(key) ?? "";
    if (!DECIMAL.test(text)) throw new v.TalariaErrorForField(key, "a decimal integer", text);
    return Number(text);
  };
  const id = decodeId(query.get("id") ?? "");
  return {
    gpid: { appId: integer("app_id"), partitionIndex: integer("partition_index") },
    id,
    file: fileName(query.get("file") ?? "", "file"),
  };
}

/** The CRC32C of the whole file at `path`. */
export async function fileCrc32c(path: string): Promise<number> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(CHECKPOINT_CHUNK_BYTES);
    let crc = 0;
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return crc;
      crc = crc32c(buffer.subarray(0, bytesRead), crc);
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** A plain file name from a peer (no directory part), or ERR_INVALID_PARAMETERS. */
export function fileName(value: unknown, field: string): string {
  const name = v.string(value, field, 255);
  if (
    name.length === 0 ||
    name.includes("/") ||
    name.includes("\\") ||
    name === "." ||
    name === ".."
  ) {
    throw new v.TalariaErrorForField(field, "a plain file name", value);
  }
  return name;
}

/** A file's CRC32C computed for FILES, and what it was computed for. */
interface CachedCrc {
  readonly gpid: Gpid;
  readonly id: string;
  /** The checkpoint directory `locate` gave for (gpid, id); the file is in it. */
  readonly dir: string;
  /** The file's identity when it was summed (fileIdentity). */
  readonly identity: string;
  readonly crc32c: Promise<number>;
}

function fileIdentity(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/**
 * How a FILES reply got a file's CRC32C: from the cache (`hit`), summed and cached (`miss`), or
 * summed because the file is below CHECKPOINT_CRC_CACHED_BYTES_MIN (`small`).
 */
export type CrcOutcome = "hit" | "miss" | "small";

/** Serves the checkpoints the replicas this server hosts hold for learners. */
export class CheckpointSource {
  private readonly locate: (gpid: Gpid, id: string) => string | undefined;
  /** "host:port" of this server's HTTP server once it listens (FILES' `httpAddress`). */
  private httpAddress: string | undefined;
  /** By file path; insertion order is age. */
  private readonly crcs = new Map<string, CachedCrc>();
  private readonly sumFile: (path: string) => Promise<number>;

  private readonly onCrc: ((outcome: CrcOutcome) => void) | undefined;

  constructor(
    locate: (gpid: Gpid, id: string) => string | undefined,
    deps: {
      readonly sumFile?: (path: string) => Promise<number>;
      /** Told how each file's CRC32C in a FILES reply was found (metrics). */
      readonly onCrc?: (outcome: CrcOutcome) => void;
    } = {},
  ) {
    this.locate = locate;
    this.sumFile = deps.sumFile ?? fileCrc32c;
    this.onCrc = deps.onCrc;
  }

  /** Names this server's HTTP server in FILES replies, so learners stream the files from it. */
  advertiseHttp(address: string | undefined): void {
    this.httpAddress = address;
  }

  private held(gpid: Gpid, id: string): string {
    const dir = this.locate(gpid, id);
    if (dir === undefined)
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `no checkpoint ${id} of ${gpidKey(gpid)} here`,
      );
    return dir;
  }

  async files(payload: unknown): Promise<CheckpointFilesResponse> {
    const p = v.object(payload, "payload");
    const gpid = v.gpid(p.gpid, "gpid");
    const id = v.string(p.id, "id", CHECKPOINT_ID_CHARS_MAX);
    this.forgetUnheld();
    const dir = this.held(gpid, id);
    const files = await checkpointFiles(dir, undefined, (path, info) =>
      this.crcOf({ gpid, id, dir }, path, info),
    );
    return this.httpAddress === undefined ? { files } : { files, httpAddress: this.httpAddress };
  }

  private crcOf(
    checkpoint: { readonly gpid: Gpid; readonly id: string; readonly dir: string },
    path: string,
    info: BigIntStats,
  ): Promise<number> {
    if (info.size < BigInt(CHECKPOINT_CRC_CACHED_BYTES_MIN)) {
      this.onCrc?.("small");
      return this.sumFile(path);
    }
    const identity = fileIdentity(info);
    const cached = this.crcs.get(path);
    if (
      cached !== undefined &&
      cached.identity === identity &&
      cached.id === checkpoint.id &&
      gpidKey(cached.gpid) === gpidKey(checkpoint.gpid)
    ) {
      this.onCrc?.("hit");
      return cached.crc32c;
    }
    this.onCrc?.("miss");
    const crc = this.sumFile(path);
    const entry: CachedCrc = { ...checkpoint, identity, crc32c: crc };
    this.crcs.delete(path);
    this.crcs.set(path, entry);
    for (const oldest of this.crcs.keys()) {
      if (this.crcs.size <= CHECKPOINT_CRCS_CACHED_MAX) break;
      this.crcs.delete(oldest);
    }
    crc.catch(() => {
      if (this.crcs.get(path) === entry) this.crcs.delete(path);
    });
    return crc;
  }

  /** Drops the CRC32Cs of checkpoints no longer held (evicted, or their replica gone). */
  private forgetUnheld(): void {
    for (const [path, cached] of this.crcs) {
      if (this.locate(cached.gpid, cached.id) !== cached.dir) this.crcs.delete(path);
    }
  }

  async chunk(payload: unknown): Promise<{ data: Buffer }> {
    const p = v.object(payload, "payload");
    const request = {
      gpid: v.gpid(p.gpid, "gpid"),
      id: v.string(p.id, "id", CHECKPOINT_ID_CHARS_MAX),
      file: fileName(p.file, "file"),
    };
    const offset = v.integer(p.offset, "offset", 0);
    const length = v.integer(p.length, "length", 1, CHECKPOINT_CHUNK_BYTES);
    const { path } = await this.heldFile(request);
    return { data: await readFileChunk(path, offset, length) };
  }

  /**
   * Where CHUNK and the HTTP path read `request.file` from, and its size: a regular file directly
   * inside a checkpoint held for learners right now (what FILES lists: no directory, no symbolic
   * link), else ERR_OBJECT_NOT_FOUND.
   */
  async heldFile(request: HeldFileRequest): Promise<{ path: string; bytes: number }> {
    const { gpid, id } = request;
    const path = join(this.held(gpid, id), fileName(request.file, "file"));
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) {
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `no file ${request.file} in checkpoint ${id} of ${gpidKey(gpid)}`,
        { details: { gpid: gpidKey(gpid), id, file: request.file } },
      );
    }
    return { path, bytes: info.size };
  }
}

/** Up to `length` bytes of the file at `path` from `offset` (short only at its end). */
export async function readFileChunk(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, "r").catch((error: unknown) => {
    throw new TalariaError("ERR_OBJECT_NOT_FOUND", `no file ${basename(path)} in the checkpoint`, {
      cause: error,
    });
  });
  try {
    const data = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(data, 0, length, offset);
    return data.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The regular files of `dir` (not directories, not symbolic links; except those `skip` names),
 * sorted, with sizes and CRC32C (from `crcOf`, which sums the file by default).
 */
export async function checkpointFiles(
  dir: string,
  skip: (name: string) => boolean = () => false,
  crcOf: (path: string, info: BigIntStats) => Promise<number> = (path) => fileCrc32c(path),
): Promise<CheckpointFile[]> {
  const names = (await readdir(dir)).sort();
  const files: CheckpointFile[] = [];
  for (const name of names) {
    if (skip(name)) continue;
    const path = join(dir, name);
    const info = await lstat(path, { bigint: true });
    if (info.isFile()) {
      files.push({ name, bytes: Number(info.size), crc32c: await crcOf(path, info) });
    }
  }
  return files;
}

/** A FILES reply, checked field by field; a name listed twice is ERR_INVALID_DATA. */
export function decodeCheckpointFiles(reply: unknown): CheckpointFilesResponse {
  const listing = v.object(reply, "files reply");
  const files = v.array(listing.files, "files", CHECKPOINT_FILES_MAX, (value, field) => {
    const f = v.object(value, field);
    return {
      name: fileName(f.name, `${field}.name`),
      bytes: v.integer(f.bytes, `${field}.bytes`, 0),
      crc32c: v.integer(f.crc32c, `${field}.crc32c`, 0),
    };
  });
  if (new Set(files.map((f) => f.name)).size !== files.length) {
    throw new TalariaError("ERR_INVALID_DATA", "the files reply lists a file twice");
  }
  if (listing.httpAddress === undefined) return { files };
  return { files, httpAddress: v.nodeAddress(listing.httpAddress, "httpAddress") };
}

/** What a learner's fetch uses besides the transport; each part optional. */
export interface CheckpointFetchDeps {
  /** The HTTP bulk path; absent: CHUNK only. */
  readonly http?: LearnerCheckpointStream;
  readonly metrics?: LearnerCheckpointMetrics;
  readonly logger?: Logger;
  /** A monotonic clock in ms, for the copy's time in its log line (default performance.now). */
  readonly nowMs?: () => number;
}

/** Copies checkpoint `ref` of `gpid` into `scratchDir`; resolves to `scratchDir`. */
export async function fetchCheckpoint(
  transport: Transport,
  gpid: Gpid,
  ref: CheckpointRef,
  scratchDir: string,
  deps: CheckpointFetchDeps = {},
): Promise<string> {
  const nowMs = deps.nowMs ?? (() => performance.now());
  const startedMs = nowMs();
  const call = (method: string, payload: unknown) =>
    transport.call(ref.node, method, payload, { timeoutMs: CHECKPOINT_CALL_TIMEOUT_MS });
  const listing = decodeCheckpointFiles(await call(CheckpointMethod.FILES, { gpid, id: ref.id }));
  const { http, metrics } = deps;
  const logger = deps.logger ?? silentLogger;
  const received = { http: 0, chunk: 0 };
  const counted = (transfer: LearnerTransfer) => (bytes: number) => {
    received[transfer] += bytes;
    metrics?.received(transfer, bytes);
  };
  // The HTTP path for this fetch, until it fails once.
  let httpAddress = http === undefined ? undefined : listing.httpAddress;
  for (const file of listing.files) {
    const path = join(scratchDir, file.name);
    try {
      let crc: number | undefined;
      if (http !== undefined && httpAddress !== undefined) {
        try {
          crc = await http.copyFile(httpAddress, { gpid, id: ref.id, file }, path, counted("http"));
        } catch (error) {
          if (!(error instanceof CheckpointHttpError)) throw error;
          metrics?.fellBack();
          logger.warn(
            { err: error, gpid: gpidKey(gpid), checkpoint: ref.id, node: ref.node, httpAddress },
            "learner checkpoint: HTTP path failed, copying with CHUNK for the rest of this fetch",
          );
          httpAddress = undefined;
        }
      }
      crc ??= await copyByChunks(call, { gpid, id: ref.id, file }, path, counted("chunk"));
      if (crc !== file.crc32c) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `checkpoint file ${file.name} failed its CRC32C check`,
          { details: { file: file.name } },
        );
      }
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }
  logger.info(
    {
      gpid: gpidKey(gpid),
      checkpoint: ref.id,
      node: ref.node,
      files: listing.files.length,
      httpBytes: received.http,
      chunkBytes: received.chunk,
      seconds: Math.round((nowMs() - startedMs) / 100) / 10,
    },
    "learner checkpoint copied",
  );
  return scratchDir;
}

type Call = (method: string, payload: unknown) => Promise<unknown>;

/**
 * Copies `request.file` into `path` (created or truncated) with CHUNK calls, up to
 * CHECKPOINT_CHUNKS_IN_FLIGHT in flight, taken in offset order, and fsyncs it; resolves to the
 * CRC32C of what was written. A failure ends the file (the learn is retried); the calls still in
 * flight are left to settle unobserved.
 */
async function copyByChunks(
  call: Call,
  request: { readonly gpid: Gpid; readonly id: string; readonly file: CheckpointFile },
  path: string,
  onBytes: (bytes: number) => void,
): Promise<number> {
  const { gpid, id, file } = request;
  /** Exactly `length` bytes at `offset` (a short reply is continued; an empty one is an error). */
  const fetchRange = async (offset: number, length: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for (let got = 0; got < length; ) {
      const reply = v.object(
        await call(CheckpointMethod.CHUNK, {
          gpid,
          id,
          file: file.name,
          offset: offset + got,
          length: length - got,
        }),
        "chunk reply",
      );
      const data = v.bytes(reply.data, "data");
      if (data.length === 0 || data.length > length - got) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `${file.name}: ${data.length} bytes at ${offset + got} where ${length - got} were asked`,
        );
      }
      parts.push(data);
      got += data.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
  };
  const handle = await open(path, "w");
  const inFlight: Promise<{ ok: true; data: Buffer } | { ok: false; error: unknown }>[] = [];
  let next = 0;
  const refill = () => {
    while (inFlight.length < CHECKPOINT_CHUNKS_IN_FLIGHT && next < file.bytes) {
      const length = Math.min(CHECKPOINT_CHUNK_BYTES, file.bytes - next);
      inFlight.push(
        fetchRange(next, length).then(
          (data) => ({ ok: true as const, data }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
      );
      next += length;
    }
  };
  try {
    let crc = 0;
    for (let offset = 0; offset < file.bytes; ) {
      refill();
      const reply = await inFlight.shift();
      if (reply === undefined) break;
      if (!reply.ok) throw reply.error;
      const data = reply.data;
      await writeFully(handle, data, offset, file.name);
      crc = crc32c(data, crc);
      offset += data.length;
      onBytes(data.length);
    }
    await handle.sync();
    return crc;
  } finally {
    await handle.close();
  }
}
