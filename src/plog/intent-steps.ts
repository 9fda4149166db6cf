/**
 * The steps of a truncation or reset on disk, each idempotent once the intent is durable (see
 * truncation.ts for the design and why it is crash-safe): 1. commitIntent; 2. applyTruncate or
 * applyReset; 3. clearIntent. And recoverIntent, which open runs before scanning to finish a
 * committed intent (steps 2 and 3 again) or to delete a torn one.
 */
import * as path from "node:path";
import { assert } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { encodeSegmentHeader, FORMAT_VERSION, NONCE_BYTES, SEGMENT_FLAG_FLOOR } from "./format.ts";
import { fsOp, isNotFound, type PlogFileHandle, type PlogFs, readAt, writeAt } from "./fs-port.ts";
import {
  decodeIntent,
  encodeIntent,
  INTENT_FILE_NAME,
  type Intent,
  peekIntentVersion,
  type ResetIntent,
  type TruncateIntent,
} from "./intent-file.ts";
import { formatSegmentName, parseSegmentName } from "./segment-name.ts";
import type { RandomBytes } from "./segment-writer.ts";

export interface RewriteIo {
  readonly fs: PlogFs;
  readonly dir: string;
  /** Off only in tests, like the writer's fsync option. */
  readonly fsync: boolean;
}

export interface SegmentFile {
  readonly fileName: string;
  readonly sequence: number;
}

export function corruption(file: string, offset: number, reason: string): TalariaError {
  return new TalariaError("ERR_CORRUPTION", `plog ${file} at offset ${offset}: ${reason}`, {
    details: { file, offset, reason },
  });
}

async function syncDir(io: RewriteIo): Promise<void> {
  if (io.fsync) await fsOp("fsync", io.dir, () => io.fs.syncDir(io.dir));
}

async function unlinkIfPresent(io: RewriteIo, fileName: string): Promise<void> {
  const filePath = path.join(io.dir, fileName);
  await fsOp("unlink", filePath, async () => {
    try {
      await io.fs.unlink(filePath);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  });
}

/** Step 1: the commit point. */
export async function commitIntent(io: RewriteIo, intent: Intent): Promise<void> {
  const filePath = path.join(io.dir, INTENT_FILE_NAME);
  const handle = await fsOp("create", filePath, () => io.fs.open(filePath, "wx"));
  try {
    await fsOp("write", filePath, () => writeAt(handle, encodeIntent(intent), 0));
    if (io.fsync) await fsOp("fdatasync", filePath, () => handle.datasync());
  } finally {
    await fsOp("close", filePath, () => handle.close());
  }
  await syncDir(io);
}

/** Step 3. */
export async function clearIntent(io: RewriteIo): Promise<void> {
  await unlinkIfPresent(io, INTENT_FILE_NAME);
  await syncDir(io);
}

/** Step 2 of a truncation; returns an r+ handle on the cut segment. */
export async function applyTruncate(
  io: RewriteIo,
  intent: TruncateIntent,
  files: readonly SegmentFile[],
): Promise<PlogFileHandle> {
  const later = files.filter((file) => file.sequence > intent.sequence);
  for (const file of later) await unlinkIfPresent(io, file.fileName);
  if (later.length > 0) await syncDir(io);
  const target = files.find((file) => file.sequence === intent.sequence);
  if (target === undefined) {
    throw corruption(INTENT_FILE_NAME, 0, `segment ${intent.sequence} to truncate is missing`);
  }
  const filePath = path.join(io.dir, target.fileName);
  const handle = await fsOp("open", filePath, () => io.fs.open(filePath, "r+"));
  await closeOnFailure(handle, target.fileName, async () => {
    const { size } = await fsOp("stat", filePath, () => handle.stat());
    if (size < intent.offset) {
      throw corruption(
        target.fileName,
        size,
        `shorter than the truncation offset ${intent.offset}`,
      );
    }
    await fsOp("truncate", filePath, () => handle.truncate(intent.offset));
    if (intent.block.length > 0) {
      await fsOp("write", filePath, () => writeAt(handle, intent.block, intent.offset));
    }
    if (io.fsync) await fsOp("fdatasync", filePath, () => handle.datasync());
  });
  return handle;
}

interface FloorSegment {
  readonly handle: PlogFileHandle;
  readonly bytes: number;
  readonly segment: { sequence: number; fileName: string; firstDecree: number; nonce: Buffer };
}

/** Step 2 of a reset; returns the new floor segment, open r+. */
export async function applyReset(
  io: RewriteIo,
  intent: ResetIntent,
  files: readonly SegmentFile[],
  randomBytes: RandomBytes,
): Promise<FloorSegment> {
  // Includes a floor segment an interrupted attempt made.
  for (const file of files) await unlinkIfPresent(io, file.fileName);
  const firstDecree = intent.decree + 1;
  const fileName = formatSegmentName({ sequence: intent.sequence, firstDecree });
  const filePath = path.join(io.dir, fileName);
  const nonce = Buffer.from(randomBytes(NONCE_BYTES));
  assert(nonce.length === NONCE_BYTES, "the random source returns the bytes asked for");
  const header = encodeSegmentHeader({
    formatVersion: FORMAT_VERSION,
    sequence: intent.sequence,
    firstDecree,
    nonce,
    flags: SEGMENT_FLAG_FLOOR,
  });
  const handle = await fsOp("create", filePath, () => io.fs.open(filePath, "wx"));
  await closeOnFailure(handle, fileName, async () => {
    await fsOp("write", filePath, () => writeAt(handle, header, 0));
    if (io.fsync) await fsOp("fdatasync", filePath, () => handle.datasync());
    await syncDir(io);
  });
  return {
    handle,
    bytes: header.length,
    segment: { sequence: intent.sequence, fileName, firstDecree, nonce },
  };
}

/** Runs `work`; if it fails, closes `handle` (best effort: the first error is the one to report). */
export async function closeOnFailure(
  handle: PlogFileHandle,
  fileName: string,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error instanceof TalariaError
      ? error
      : new TalariaError("ERR_FILE_OPERATION_FAILED", `rewriting ${fileName} failed`, {
          cause: error,
        });
  }
}

/** What open did about a leftover intent file. */
export interface IntentReport {
  /** A committed truncation or reset a crash interrupted, finished by this open. */
  readonly finishedIntent?: {
    readonly operation: "truncateAfter" | "resetTo";
    readonly decree: number;
  };
  /** An intent torn before its commit point (the operation never happened), deleted. */
  readonly discardedIntent?: { readonly reason: string; readonly dryRun?: true };
}

/**
 * Open, before the scan: finishes a committed intent (steps 2 and 3, always with fsync) or deletes
 * a torn one. A read-only open cannot finish one and refuses with ERR_INVALID_STATE; a torn one it
 * reports and leaves. Returns whether the directory changed.
 */
export async function recoverIntent(
  io: { fs: PlogFs; dir: string; readOnly: boolean; randomBytes: RandomBytes; logger: Logger },
  entries: readonly string[],
): Promise<{ report: IntentReport; changed: boolean }> {
  if (!entries.includes(INTENT_FILE_NAME)) return { report: {}, changed: false };
  const { fs, dir, readOnly, logger } = io;
  const filePath = path.join(dir, INTENT_FILE_NAME);
  const bytes = await fsOp("read", filePath, async () => {
    const handle = await fs.open(filePath, "r");
    try {
      return await readAt(handle, (await handle.stat()).size, 0);
    } finally {
      await handle.close();
    }
  });
  const version = peekIntentVersion(bytes);
  if (version !== null && version !== FORMAT_VERSION) {
    throw new TalariaError(
      "ERR_INVALID_VERSION",
      `plog ${INTENT_FILE_NAME} has format version ${version}; this build reads only ${FORMAT_VERSION}`,
      { details: { file: INTENT_FILE_NAME, formatVersion: version, supported: FORMAT_VERSION } },
    );
  }
  const decoded = decodeIntent(bytes);
  if (!decoded.ok) {
    if (!decoded.torn) throw corruption(INTENT_FILE_NAME, 0, decoded.reason);
    logger.warn({ dir, reason: decoded.reason, readOnly }, "plog: discarding torn intent");
    if (readOnly) {
      return {
        report: { discardedIntent: { reason: decoded.reason, dryRun: true } },
        changed: false,
      };
    }
    await clearIntent({ fs, dir, fsync: true });
    return { report: { discardedIntent: { reason: decoded.reason } }, changed: true };
  }
  const intent = decoded.value;
  const operation = intent.kind === "truncate" ? "truncateAfter" : "resetTo";
  const decree = intent.kind === "truncate" ? intent.afterDecree : intent.decree;
  if (readOnly) {
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `plog ${dir} has an unfinished ${operation}(${decree}); a writable open finishes it`,
      { details: { dir, operation, decree } },
    );
  }
  logger.warn({ dir, operation, decree }, "plog: finishing interrupted operation");
  const files: SegmentFile[] = [];
  for (const fileName of entries) {
    const name = parseSegmentName(fileName);
    if (name !== null) files.push({ fileName, sequence: name.sequence });
  }
  const rewriteIo = { fs, dir, fsync: true };
  const handle =
    intent.kind === "truncate"
      ? await applyTruncate(rewriteIo, intent, files)
      : (await applyReset(rewriteIo, intent, files, io.randomBytes)).handle;
  await fsOp("close", dir, () => handle.close());
  await clearIntent(rewriteIo);
  return { report: { finishedIntent: { operation, decree } }, changed: true };
}
