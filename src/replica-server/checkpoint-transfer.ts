/**
 * Copying a checkpoint from the replica server that holds it to a learner: the learner asks for
 * the file list (names, sizes, CRC32C), then pulls each file in bounded chunks and checks its
 * CRC32C before the install may use it. A failed or corrupt copy rejects; the learner asks again.
 */
import { open, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { TalariaError } from "../common/errors.ts";
import { type Gpid, gpidKey } from "../protocol/index.ts";
import type { CheckpointRef } from "../protocol/replica-messages.ts";
import * as v from "../protocol/validate.ts";
import type { Transport } from "../rpc/index.ts";

export const CheckpointMethod = {
  FILES: "replica.checkpoint_files",
  CHUNK: "replica.checkpoint_chunk",
} as const;

/** Bytes per chunk request: well under the RPC frame limit. */
export const CHECKPOINT_CHUNK_BYTES = 1024 * 1024;
export const CHECKPOINT_CALL_TIMEOUT_MS = 30_000;
/** CHUNK calls a learner keeps in flight per file (pipelined: the copy is not one round trip per MiB). */
export const CHECKPOINT_CHUNKS_IN_FLIGHT = 4;
const FILES_MAX = 64;

export interface CheckpointFile {
  readonly name: string;
  readonly bytes: number;
  readonly crc32c: number;
}

async function fileCrc(path: string): Promise<number> {
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

/** Serves the checkpoints of the replicas this server hosts. */
export class CheckpointSource {
  private readonly locate: (gpid: Gpid, id: string) => string | undefined;

  constructor(locate: (gpid: Gpid, id: string) => string | undefined) {
    this.locate = locate;
  }

  private dir(payload: Record<string, unknown>): string {
    const gpid = v.gpid(payload.gpid, "gpid");
    const id = v.string(payload.id, "id", 256);
    const dir = this.locate(gpid, id);
    if (dir === undefined)
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `no checkpoint ${id} of ${gpidKey(gpid)} here`,
      );
    return dir;
  }

  async files(payload: unknown): Promise<{ files: CheckpointFile[] }> {
    return { files: await checkpointFiles(this.dir(v.object(payload, "payload"))) };
  }

  async chunk(payload: unknown): Promise<{ data: Buffer }> {
    const p = v.object(payload, "payload");
    const path = join(this.dir(p), fileName(p.file, "file"));
    const offset = v.integer(p.offset, "offset", 0);
    const length = v.integer(p.length, "length", 1, CHECKPOINT_CHUNK_BYTES);
    return { data: await readFileChunk(path, offset, length) };
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

/** The regular files of `dir` (except those `skip` names), sorted, with sizes and CRC32C. */
export async function checkpointFiles(
  dir: string,
  skip: (name: string) => boolean = () => false,
): Promise<CheckpointFile[]> {
  const names = (await readdir(dir)).sort();
  const files: CheckpointFile[] = [];
  for (const name of names) {
    if (skip(name)) continue;
    const path = join(dir, name);
    const info = await stat(path);
    if (info.isFile()) files.push({ name, bytes: info.size, crc32c: await fileCrc(path) });
  }
  return files;
}

/** Copies checkpoint `ref` of `gpid` into `scratchDir`; resolves to `scratchDir`. */
export async function fetchCheckpoint(
  transport: Transport,
  gpid: Gpid,
  ref: CheckpointRef,
  scratchDir: string,
): Promise<string> {
  const call = (method: string, payload: unknown) =>
    transport.call(ref.node, method, payload, { timeoutMs: CHECKPOINT_CALL_TIMEOUT_MS });
  const listing = v.object(await call(CheckpointMethod.FILES, { gpid, id: ref.id }), "files reply");
  const files = v.array(listing.files, "files", FILES_MAX, (value, field) => {
    const f = v.object(value, field);
    return {
      name: fileName(f.name, `${field}.name`),
      bytes: v.integer(f.bytes, `${field}.bytes`, 0),
      crc32c: v.integer(f.crc32c, `${field}.crc32c`, 0),
    };
  });
  /** Exactly `length` bytes at `offset` (a short reply is continued; an empty one is an error). */
  const fetchRange = async (name: string, offset: number, length: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for (let got = 0; got < length; ) {
      const reply = v.object(
        await call(CheckpointMethod.CHUNK, {
          gpid,
          id: ref.id,
          file: name,
          offset: offset + got,
          length: length - got,
        }),
        "chunk reply",
      );
      const data = v.bytes(reply.data, "data");
      if (data.length === 0 || data.length > length - got) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `${name}: ${data.length} bytes at ${offset + got} where ${length - got} were asked`,
        );
      }
      parts.push(data);
      got += data.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
  };
  for (const file of files) {
    const handle = await open(join(scratchDir, file.name), "wx");
    // Up to CHECKPOINT_CHUNKS_IN_FLIGHT CHUNKs in flight, taken in offset order; a failure ends the
    // file (the learn is retried), and the calls still in flight are left to settle unobserved.
    const inFlight: Promise<{ ok: true; data: Buffer } | { ok: false; error: unknown }>[] = [];
    let next = 0;
    const refill = () => {
      while (inFlight.length < CHECKPOINT_CHUNKS_IN_FLIGHT && next < file.bytes) {
        const length = Math.min(CHECKPOINT_CHUNK_BYTES, file.bytes - next);
        inFlight.push(
          fetchRange(file.name, next, length).then(
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
        await handle.write(data, 0, data.length, offset);
        crc = crc32c(data, crc);
        offset += data.length;
      }
      if (crc !== file.crc32c) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `checkpoint file ${file.name} failed its CRC32C check`,
          { details: { file: file.name } },
        );
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  return scratchDir;
}
