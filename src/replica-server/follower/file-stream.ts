/**
 * Copies the rest of one checkpoint file over an HTTP bulk path — the follower's of the master's,
 * and a learner's of its primary's (learner-checkpoint-stream.ts: no rate limit, no state file) —
 * one GET from the synced prefix to the end of the file, the socket read straight into reused
 * buffers of `followerCopyHttpWriteBytes` (checkpoint-http.ts), each written with one positional
 * write.
 *
 *   receive: every socket read takes its bytes from the server's token bucket; when the bucket
 *            asks to wait, reading stops for that long (TCP then pushes back on the master);
 *   write:   a full buffer gets its CRC32C folded into the running one and is written at its
 *            offset — with `O_DIRECT` from aligned buffers where the file system takes it
 *            (direct-writes.ts: no page-cache copy), buffered otherwise and for the last partial
 *            buffer; at most `followerCopyWritesInFlight` buffers are being written, and reading
 *            stops while none is free;
 *   sync:    the same rule as file-pump.ts — every `followerCopyStateSyncBytes`, once the writes up
 *            to that point are done, an fdatasync and then the state file record the synced
 *            prefix, one sync at a time, the copy going on meanwhile.
 *
 * Invariants: the CRC32C covers exactly the bytes written, in file order; the state never names a
 * prefix that an fdatasync started after its writes has not covered; every write and sync started
 * is awaited before the file is closed. A failure of the transfer rejects with CheckpointHttpError
 * (the caller falls back to CHUNK from the synced prefix); a local failure (disk) rejects with its
 * own error; an abort with the signal's reason.
 */
import type { FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32c } from "@node-rs/crc32";
import type { Logger } from "../../common/logger.ts";
import type { BodySink, BodyTransfer } from "./checkpoint-http.ts";
import type { CopiedFile } from "./copy-state.ts";
import { alignedBuffers, directAligned, openDirect } from "./direct-writes.ts";
import { openTarget, PrefixSyncer, writeFully } from "./file-pump.ts";
import type { FollowerCopyLimits } from "./options.ts";
import type { TokenBucket } from "./token-bucket.ts";

export interface FileStream {
  /** Where the file is copied to. */
  readonly path: string;
  /** Its entry in the state: `doneBytes` / `doneCrc32c` move forward at each sync point. */
  readonly file: CopiedFile;
  /** Starts the GET of the file from `start` into `sink` (CheckpointHttpClient.get, bound). */
  readonly get: (start: number, sink: BodySink) => BodyTransfer;
  readonly bucket: TokenBucket;
  readonly limits: Pick<
    FollowerCopyLimits,
    "followerCopyHttpWriteBytes" | "followerCopyWritesInFlight" | "followerCopyStateSyncBytes"
  >;
  /** Writes the state file as it is now. */
  readonly saveState: () => Promise<void>;
  /** Bytes written (negative: bytes dropped because the local file was gone). */
  readonly onBytes: (bytes: number) => void;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/**
 * Copies `file` from `file.doneBytes` to its end and fsyncs it. Resolves to the CRC32C of the
 * whole file (the caller compares it with the master's); the state is not marked complete here.
 */
export async function streamFile(stream: FileStream): Promise<number> {
  const { file, limits, signal } = stream;
  const handle = await openTarget(stream);
  const writes = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  let transfer: BodyTransfer | undefined;
  /** The O_DIRECT handle (closed at the end), and whether writes still go through it. */
  let direct: FileHandle | undefined;
  let useDirect = false;
  const syncer = new PrefixSyncer(
    handle,
    file,
    limits.followerCopyStateSyncBytes,
    stream.saveState,
    () => failure !== undefined,
    (error) => {
      fail(error);
      transfer?.destroy(error);
    },
  );
  /**
   * Writes all of `data` at `offset`: direct when aligned; buffered otherwise, or for good after a
   * direct write failed (the range is then written again, buffered). A short write is an error.
   */
  const writeAt = async (data: Buffer, offset: number): Promise<void> => {
    if (useDirect && direct !== undefined && directAligned(offset, data.length)) {
      try {
        await writeFully(direct, data, offset, `${file.name} (O_DIRECT)`);
        return;
      } catch (error) {
        if (useDirect) {
          useDirect = false;
          stream.logger.warn(
            { err: error, file: file.name },
            "checkpoint stream: an O_DIRECT write failed; buffered writes from here on",
          );
        }
      }
    }
    await writeFully(handle, data, offset, file.name);
  };
  try {
    await handle.truncate(file.doneBytes);
    let crc = file.doneCrc32c;
    let done = file.doneBytes;
    if (done < file.bytes) {
      // One buffer being filled plus at most followerCopyWritesInFlight being written, so a
      // filled buffer always has a successor: the read after a stop lands in it.
      const buffersMax = limits.followerCopyWritesInFlight + 1;
      // Direct writes only pay off (and are only possible) for whole buffers.
      if (file.bytes - done >= limits.followerCopyHttpWriteBytes)
        direct = await openDirect(stream.path);
      const aligned =
        direct === undefined
          ? undefined
          : await alignedBuffers(
              dirname(stream.path),
              buffersMax,
              limits.followerCopyHttpWriteBytes,
            );
      useDirect = aligned !== undefined;
      const newBuffer = () =>
        aligned?.pop() ?? Buffer.allocUnsafe(limits.followerCopyHttpWriteBytes);
      const free: Buffer[] = [];
      let allocated = 1;
      let current: Buffer = newBuffer();
      let filled = 0;
      /** Why reading is stopped: too many writes outstanding, the token bucket. */
      const held = { writes: false, bucket: false };
      const resumeIfFree = () => {
        if (!held.writes && !held.bucket) transfer?.resume();
      };

      /** CRC, write and (every followerCopyStateSyncBytes) sync the first `length` bytes. */
      const submit = (buffer: Buffer, length: number) => {
        const data = buffer.subarray(0, length);
        crc = crc32c(data, crc);
        const write: Promise<void> = writeAt(data, done)
          .catch(fail)
          .finally(() => {
            writes.delete(write);
            free.push(buffer);
            if (failure !== undefined) {
              transfer?.destroy(failure.error);
            } else if (held.writes && writes.size < limits.followerCopyWritesInFlight) {
              held.writes = false;
              resumeIfFree();
            }
          });
        writes.add(write);
        done += length;
        stream.onBytes(length);
        syncer.wrote(length, done, crc, writes);
      };

      const sink: BodySink = {
        view: () => current.subarray(filled),
        landed: (bytes) => {
          filled += bytes;
          let goOn = true;
          const waitMs = stream.bucket.reserve(bytes);
          if (waitMs > 0) {
            held.bucket = true;
            goOn = false;
            stream.bucket.wait(waitMs, signal).then(
              () => {
                held.bucket = false;
                resumeIfFree();
              },
              () => {}, // aborted: the transfer is destroyed by the same signal
            );
          }
          if (filled === current.length) {
            submit(current, filled);
            filled = 0;
            const next = free.pop();
            if (next !== undefined) {
              current = next;
            } else {
              // Invariant: writes.size ≤ followerCopyWritesInFlight < buffers.
              allocated++;
              if (allocated > limits.followerCopyWritesInFlight + 1) {
                throw new Error("follower copy: more write buffers than the bound");
              }
              current = newBuffer();
            }
            if (writes.size >= limits.followerCopyWritesInFlight) {
              held.writes = true;
              goOn = false;
            }
          }
          return goOn;
        },
      };
      transfer = stream.get(done, sink);
      try {
        await transfer.done;
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (failure !== undefined) throw failure.error;
        throw error;
      }
      if (failure !== undefined) throw failure.error;
      if (filled > 0) submit(current, filled);
      if (done !== file.bytes) {
        throw new Error(`file stream of ${file.name} ended at ${done} of ${file.bytes} bytes`);
      }
    }
    await Promise.all([...writes]);
    await syncer.settled();
    if (failure !== undefined) throw failure.error;
    await handle.sync();
    return crc;
  } finally {
    transfer?.destroy(new Error("file stream closed"));
    await Promise.allSettled([...writes]);
    await syncer.settled();
    await direct?.close();
    await handle.close();
  }
}
