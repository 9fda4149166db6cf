/**
 * Copies the rest of one checkpoint file from the master: CHUNK calls and local writes overlap.
 *
 *   fetch:  up to `followerCopyChunksInFlight` CHUNKs in flight, in offset order, each admitted
 *           by the server's token bucket;
 *   check:  replies are taken in offset order and fed to the running CRC32C;
 *   write:  positional writes, up to `followerCopyWritesInFlight` outstanding;
 *   sync:   every `followerCopyStateSyncBytes`, once the writes up to that point are done, an
 *           fdatasync and then the state file (copy-state.ts) record the synced prefix. At most
 *           one sync runs at a time, and the copy goes on while it runs.
 *
 * Invariant: the state never names a prefix longer than what an fdatasync that started after
 * every write of that prefix completed has covered. Every write and sync started is awaited before
 * the file is closed, whatever happens.
 */
import { type FileHandle, open } from "node:fs/promises";
import { crc32c } from "@node-rs/crc32";
import type { Logger } from "../../common/logger.ts";
import type { CopiedFile } from "./copy-state.ts";
import type { FollowerCopyLimits } from "./options.ts";
import type { TokenBucket } from "./token-bucket.ts";

export interface FilePump {
  /** Where the file is copied to. */
  readonly path: string;
  /** Its entry in the state: `doneBytes` / `doneCrc32c` move forward at each sync point. */
  readonly file: CopiedFile;
  /** CHUNK: exactly `length` bytes at `offset` (validated by the caller). */
  readonly fetch: (offset: number, length: number) => Promise<Buffer>;
  readonly bucket: TokenBucket;
  readonly limits: FollowerCopyLimits;
  /** Writes the state file as it is now. */
  readonly saveState: () => Promise<void>;
  /** Bytes received (negative: bytes dropped because the local file was gone). */
  readonly onBytes: (bytes: number) => void;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

type Settled = { ok: true; data: Buffer } | { ok: false; error: unknown };

function settle(promise: Promise<Buffer>): Promise<Settled> {
  return promise.then(
    (data) => ({ ok: true, data }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** `promise`, or a rejection as soon as `signal` aborts (the work itself is not cancelled). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The sync rule both transfers share: every `everyBytes` written (short of the file's end), once
 * the writes started so far are done, an fdatasync and then the state file record the synced
 * prefix — one sync at a time, the copy going on meanwhile. So the state never names a prefix
 * that an fdatasync started after its writes has not covered. Never rejects: a failure goes to
 * `onError` (and the next syncs are skipped once `failed()` says so).
 */
export class PrefixSyncer {
  private unsynced = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly handle: FileHandle,
    private readonly file: CopiedFile,
    private readonly everyBytes: number,
    private readonly saveState: () => Promise<void>,
    private readonly failed: () => boolean,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** `bytes` more were handed to `writes`; the file is now `done` bytes long with CRC `crc`. */
  wrote(bytes: number, done: number, crc: number, writes: Iterable<Promise<void>>): void {
    this.unsynced += bytes;
    if (this.unsynced < this.everyBytes || done >= this.file.bytes) return;
    this.unsynced = 0;
    const written = Promise.all([...writes]);
    this.chain = this.chain
      .then(async () => {
        await written;
        if (this.failed()) return;
        await this.handle.datasync();
        this.file.doneBytes = done;
        this.file.doneCrc32c = crc;
        await this.saveState();
      })
      .catch(this.onError);
  }

  /** Resolves once every sync started so far is over (or failed, reported to onError). */
  settled(): Promise<void> {
    return this.chain;
  }
}

/**
 * Opens the local copy of `pump.file` for writing at its synced prefix (the caller truncates to
 * it); a partly copied file that is gone restarts from 0.
 */
export async function openTarget(
  pump: Pick<FilePump, "path" | "file" | "onBytes" | "logger">,
): Promise<FileHandle> {
  const { file } = pump;
  if (file.doneBytes > 0) {
    try {
      return await open(pump.path, "r+");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      pump.logger.warn(
        { file: file.name },
        "follower copy: a partly copied file is gone, copying it again",
      );
      pump.onBytes(-file.doneBytes);
      file.doneBytes = 0;
      file.doneCrc32c = 0;
    }
  }
  return open(pump.path, "w");
}

/** Writes all of `data` at `offset` of `handle`; a short write is an error naming `what`. */
export async function writeFully(
  handle: FileHandle,
  data: Buffer,
  offset: number,
  what: string,
): Promise<void> {
  const { bytesWritten } = await handle.write(data, 0, data.length, offset);
  if (bytesWritten !== data.length) {
    throw new Error(`short write to ${what}: ${bytesWritten} of ${data.length} bytes at ${offset}`);
  }
}

/**
 * Copies `file` from `file.doneBytes` to its end and fsyncs it. Resolves to the CRC32C of the
 * whole file (the caller compares it with the master's); the state is not marked complete here.
 */
export async function pumpFile(pump: FilePump): Promise<number> {
  const { file, limits, signal } = pump;
  const handle = await openTarget(pump);
  const writes = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  const syncer = new PrefixSyncer(
    handle,
    file,
    limits.followerCopyStateSyncBytes,
    pump.saveState,
    () => failure !== undefined,
    fail,
  );
  try {
    // The file may hold more than the state says (written after the last sync): cut it back.
    await handle.truncate(file.doneBytes);
    let crc = file.doneCrc32c;
    let done = file.doneBytes;
    let next = done;
    const inFlight: { offset: number; length: number; reply: Promise<Settled> }[] = [];
    while (done < file.bytes) {
      while (inFlight.length < limits.followerCopyChunksInFlight && next < file.bytes) {
        const length = Math.min(limits.followerCopyChunkBytes, file.bytes - next);
        await pump.bucket.take(length, signal);
        inFlight.push({ offset: next, length, reply: settle(pump.fetch(next, length)) });
        next += length;
      }
      const head = inFlight.shift();
      if (head === undefined) break;
      const reply = await abortable(head.reply, signal);
      if (!reply.ok) throw reply.error;
      if (failure !== undefined) throw failure.error;
      crc = crc32c(reply.data, crc);
      while (writes.size >= limits.followerCopyWritesInFlight) await Promise.race(writes);
      const write: Promise<void> = writeFully(
        handle,
        reply.data.subarray(0, head.length),
        head.offset,
        file.name,
      )
        .catch(fail)
        .finally(() => writes.delete(write));
      writes.add(write);
      done += head.length;
      pump.onBytes(head.length);
      syncer.wrote(head.length, done, crc, writes);
    }
    await Promise.all([...writes]);
    await syncer.settled();
    if (failure !== undefined) throw failure.error;
    await handle.sync();
    return crc;
  } finally {
    await Promise.allSettled([...writes]);
    await syncer.settled();
    await handle.close();
  }
}
