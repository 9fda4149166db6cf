/**
 * Opening a plog: scan every segment, check every block, rebuild the index, repair a torn tail.
 *
 * A crash can only tear the end of the log: a flush writes and syncs one segment before the next
 * is created, so all segments but the last are complete. Hence:
 * - a bad block in the last segment with no valid block anywhere after it is a torn tail: it is
 *   logged, reported in OpenReport and truncated exactly at the bad block (ftruncate + fdatasync);
 * - a bad block with a valid block after it, or any bad block in an earlier segment, is
 *   corruption: open throws ERR_CORRUPTION naming file and offset. A record is never skipped;
 * - blocks whose checksums pass but whose decrees go backwards are corruption wherever they are;
 * - a last segment left with no block (zero-length, torn header, header only) is removed, and the
 *   next flush creates a segment with the same sequence; unless it is a floor segment (format.ts),
 *   which is how an empty log remembers its first decree: that one is kept;
 * - a floor segment anywhere but first is corruption;
 * - before any of this, a leftover `plog.intent` is dealt with (intent-steps.ts): a committed
 *   truncation or reset is finished, a torn intent deleted; a read-only open refuses a committed
 *   one (ERR_INVALID_STATE), since the log is not readable until it is finished;
 * - a segment of another format version is refused with ERR_INVALID_VERSION, never repaired;
 * - a read-only open (options.readOnly) changes nothing on disk: no directory is created, files are
 *   opened "r", and a torn tail or empty last segment is detected and reported exactly as above
 *   but left in place; the index stops before the bad point, so reads never see past it;
 * - a complete segment header that fails its checks is corruption unless it is all zeros (a file
 *   extended but never written): without the nonce it holds, nothing after it can be checked, so
 *   "no valid block follows" would prove nothing.
 *
 * Telling torn from corrupt rests on the forward scan never mistaking payload bytes for a block;
 * blocks are sealed to their segment's nonce and offset for exactly that (format.ts).
 */
import * as path from "node:path";
import { TalariaError } from "../common/errors.ts";
import { findValidBlockAfter, readBlock } from "./block-reader.ts";
import { DecreeRuns } from "./decree-runs.ts";
import {
  decodeSegmentHeader,
  FORMAT_VERSION,
  peekFormatVersion,
  SEGMENT_FLAG_FLOOR,
  SEGMENT_HEADER_BYTES,
} from "./format.ts";
import { fsOp, isNotFound, type PlogFileHandle, type PlogFs, readAt } from "./fs-port.ts";
import { INTENT_FILE_NAME } from "./intent-file.ts";
import { type IntentReport, recoverIntent } from "./intent-steps.ts";
import type { ResolvedPrivateLogOptions } from "./options.ts";
import { parseSegmentName, type SegmentName } from "./segment-name.ts";
import { Segment, SegmentTable } from "./segment-table.ts";
import type { RandomBytes } from "./segment-writer.ts";

export interface TruncationReport {
  readonly file: string;
  readonly offset: number;
  /** Bytes from `offset` to the end of the file: cut, or (dryRun) that a writable open would cut. */
  readonly bytesDropped: number;
  readonly reason: string;
  /** Set by a read-only open: nothing was cut; the log's records end before `offset`. */
  readonly dryRun?: true;
}

export interface OpenReport extends IntentReport {
  /** Segments kept. */
  readonly segments: number;
  readonly truncated?: TruncationReport;
  /** A last segment that held no block and was deleted. */
  readonly removedEmptySegment?: string;
  /** Read-only open: a last segment that holds no block, left in place (a writable open deletes it). */
  readonly emptyLastSegment?: string;
  /** Set by a read-only open: nothing on disk was changed. */
  readonly readOnly?: true;
  /** Files in the directory that are not segments; left alone. */
  readonly ignoredFiles: readonly string[];
}

export interface RecoveredLog {
  readonly table: SegmentTable;
  /** Open (r+) handle on the last segment, null when there is no segment or the open is read-only. */
  readonly activeHandle: PlogFileHandle | null;
  readonly nextSequence: number;
  readonly report: OpenReport;
  /** Decrees of the records kept. */
  readonly runs: DecreeRuns;
}

interface ScanFailure {
  readonly offset: number;
  readonly reason: string;
}

function corruption(file: string, offset: number, reason: string, extra = {}): TalariaError {
  return new TalariaError("ERR_CORRUPTION", `plog ${file} at offset ${offset}: ${reason}`, {
    details: { file, offset, reason, ...extra },
  });
}

async function scanSegment(
  handle: PlogFileHandle,
  { file, name }: { file: string; name: SegmentName },
  fileBytes: number,
  previous: { lastDecree: number; isFirst: boolean },
  runs: DecreeRuns,
  { indexIntervalBytes }: { indexIntervalBytes: number },
): Promise<{ segment: Segment | null; failure: ScanFailure | null }> {
  const headerBytes = await readAt(handle, SEGMENT_HEADER_BYTES, 0);
  const version = peekFormatVersion(headerBytes);
  if (version !== null && version !== FORMAT_VERSION) {
    throw new TalariaError(
      "ERR_INVALID_VERSION",
      `plog ${file} has format version ${version}; this build reads only ${FORMAT_VERSION}`,
      { details: { file, formatVersion: version, supported: FORMAT_VERSION } },
    );
  }
  const header = decodeSegmentHeader(headerBytes);
  if (!header.ok) {
    if (headerBytes.length === SEGMENT_HEADER_BYTES && headerBytes.some((byte) => byte !== 0)) {
      throw corruption(file, 0, `${header.reason}; the blocks after it cannot be checked`);
    }
    return { segment: null, failure: { offset: 0, reason: header.reason } };
  }
  if (header.value.sequence !== name.sequence || header.value.firstDecree !== name.firstDecree) {
    throw corruption(file, 0, "segment header disagrees with the file name");
  }
  if (header.value.firstDecree <= previous.lastDecree) {
    throw corruption(
      file,
      0,
      `segment starts at decree ${header.value.firstDecree}, not after ${previous.lastDecree}`,
    );
  }
  const isFloor = ((header.value.flags ?? 0) & SEGMENT_FLAG_FLOOR) !== 0;
  if (isFloor && !previous.isFirst) throw corruption(file, 0, "floor segment is not the first");
  const segment = new Segment({
    sequence: name.sequence,
    fileName: file,
    firstDecree: name.firstDecree,
    nonce: header.value.nonce,
    indexIntervalBytes,
    isFloor,
  });
  // Bounded by the file size: every iteration consumes at least one block header.
  while (segment.durableBytes < fileBytes) {
    const offset = segment.durableBytes;
    const block = await readBlock(handle, offset, fileBytes, segment.nonce);
    if (!block.ok) return { segment, failure: { offset, reason: block.reason } };
    const { firstDecree, lastDecree } = block.value.header;
    const inOrder =
      segment.blockCount === 0
        ? firstDecree === segment.firstDecree || (isFloor && firstDecree > segment.firstDecree)
        : firstDecree > segment.lastDecree;
    if (!inOrder) {
      throw corruption(file, offset, `block decrees ${firstDecree}..${lastDecree} out of order`);
    }
    segment.addBlock({
      offset,
      bytes: block.value.bytes,
      firstDecree,
      lastDecree,
      recordCount: block.value.header.recordCount,
    });
    for (const record of block.value.records) runs.push(record.decree);
  }
  return { segment, failure: null };
}

/**
 * The directories whose entries a recursive mkdir of `dir` added, outermost first: the parent of
 * every directory from `firstCreated` down to `dir`.
 */
function parentsOfCreated(dir: string, firstCreated: string): string[] {
  const top = path.resolve(firstCreated);
  const parents: string[] = [];
  // Bounded by the depth of `dir`: each step goes one level up, stopping at `top` or the root.
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const parent = path.dirname(current);
    parents.push(parent);
    if (current === top || parent === current) break;
  }
  return parents.reverse();
}

/** Lists `dir`; a missing directory is ERR_OBJECT_NOT_FOUND (only a read-only open meets one). */
async function listDir(fs: PlogFs, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (isNotFound(error)) {
      throw new TalariaError("ERR_OBJECT_NOT_FOUND", `plog directory ${dir} does not exist`, {
        details: { dir },
        cause: error,
      });
    }
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `readdir ${dir} failed`, {
      details: { op: "readdir", path: dir },
      cause: error,
    });
  }
}

export async function recoverLog(
  options: ResolvedPrivateLogOptions,
  fs: PlogFs,
  randomBytes: RandomBytes,
): Promise<RecoveredLog> {
  const { dir, logger, readOnly } = options;
  if (!readOnly) {
    const created = await fsOp("mkdir", dir, () => fs.mkdir(dir));
    if (created !== undefined) {
      // A crash must not lose the new directory's entry (nor those of parents mkdir created).
      for (const parent of parentsOfCreated(dir, created)) {
        await fsOp("fsync", parent, () => fs.syncDir(parent));
      }
    }
  }
  let entries = await listDir(fs, dir);
  const intent = await recoverIntent({ fs, dir, readOnly, randomBytes, logger }, entries);
  if (intent.changed) entries = await listDir(fs, dir);
  const ignoredFiles: string[] = [];
  const named: { file: string; name: SegmentName }[] = [];
  for (const file of entries) {
    const name = parseSegmentName(file);
    // Left only by a read-only open, and reported as discardedIntent.
    if (file === INTENT_FILE_NAME) continue;
    if (name === null) ignoredFiles.push(file);
    else named.push({ file, name });
  }
  if (ignoredFiles.length > 0)
    logger.warn({ dir, ignoredFiles }, "plog: ignoring non-segment files");
  named.sort((a, b) => a.name.sequence - b.name.sequence);
  for (let i = 1; i < named.length; i++) {
    const previous = named[i - 1];
    const current = named[i];
    if (previous !== undefined && current !== undefined) {
      if (current.name.sequence !== previous.name.sequence + 1) {
        throw corruption(
          current.file,
          0,
          `segment sequence ${previous.name.sequence + 1} is missing`,
        );
      }
    }
  }

  const table = new SegmentTable();
  const runs = new DecreeRuns();
  let truncated: TruncationReport | undefined;
  let emptyLast: string | undefined;
  let activeHandle: PlogFileHandle | null = null;
  let nextSequence = (named[named.length - 1]?.name.sequence ?? 0) + 1;
  for (const [i, entry] of named.entries()) {
    const isLast = i === named.length - 1;
    const filePath = path.join(dir, entry.file);
    const writable = isLast && !readOnly;
    const handle = await fsOp("open", filePath, () => fs.open(filePath, writable ? "r+" : "r"));
    let keepHandle = false;
    try {
      const fileBytes = (await fsOp("stat", filePath, () => handle.stat())).size;
      const previous = { lastDecree: table.last()?.lastDecree ?? 0, isFirst: table.length === 0 };
      const scan = await fsOp("read", filePath, () =>
        scanSegment(handle, entry, fileBytes, previous, runs, options),
      );
      let keptBytes = fileBytes;
      if (scan.failure !== null && fileBytes > 0) {
        const { offset, reason } = scan.failure;
        if (!isLast) throw corruption(entry.file, offset, `${reason} (segment is not the last)`);
        // Without a segment header there is no nonce, and no block can be valid.
        const nonce = scan.segment?.nonce;
        const next =
          nonce === undefined
            ? null
            : await fsOp("read", filePath, () =>
                findValidBlockAfter(handle, offset + 1, fileBytes, nonce),
              );
        if (next !== null) {
          throw corruption(
            entry.file,
            offset,
            `${reason} (valid block follows at offset ${next})`,
            {
              nextValidOffset: next,
            },
          );
        }
        const torn = { file: entry.file, offset, bytesDropped: fileBytes - offset, reason };
        truncated = readOnly ? { ...torn, dryRun: true } : torn;
        logger.warn(
          { dir, ...truncated },
          readOnly
            ? "plog: torn tail found; read-only, left in place"
            : "plog: truncating torn tail",
        );
        keptBytes = offset;
      }
      if (scan.segment === null || (scan.segment.blockCount === 0 && !scan.segment.isFloor)) {
        if (!isLast) throw corruption(entry.file, 0, "segment holds no block but is not the last");
        emptyLast = entry.file;
        nextSequence = entry.name.sequence;
        continue;
      }
      if (keptBytes < fileBytes && !readOnly) {
        await fsOp("truncate", filePath, () => handle.truncate(keptBytes));
        await fsOp("fdatasync", filePath, () => handle.datasync());
      }
      table.push(scan.segment);
      keepHandle = writable;
      if (writable) activeHandle = handle;
    } finally {
      if (!keepHandle) await fsOp("close", filePath, () => handle.close());
    }
  }
  if (emptyLast !== undefined && !readOnly) {
    const removedPath = path.join(dir, emptyLast);
    await fsOp("unlink", removedPath, () => fs.unlink(removedPath));
    await fsOp("fsync", dir, () => fs.syncDir(dir));
    logger.warn({ dir, file: emptyLast }, "plog: removed last segment that held no block");
  } else if (emptyLast !== undefined) {
    logger.warn({ dir, file: emptyLast }, "plog: last segment holds no block; read-only, left");
  }
  const report: OpenReport = {
    ...intent.report,
    segments: table.length,
    ignoredFiles,
    ...(truncated === undefined ? {} : { truncated }),
    ...(emptyLast === undefined
      ? {}
      : readOnly
        ? { emptyLastSegment: emptyLast }
        : { removedEmptySegment: emptyLast }),
    ...(readOnly ? { readOnly: true } : {}),
  };
  return { table, activeHandle, nextSequence, report, runs };
}
