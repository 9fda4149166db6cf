/**
 * Reading records back (replay on restart, duplication, learning). Reads go through their own file
 * handles, so they run alongside appends; they only look at durable bytes of each segment. Blocks
 * are parsed out of a read-ahead window (READ_WINDOW_BYTES, or one whole block when larger), so a
 * read of many small group-commit blocks costs one file read per window instead of two per block
 * (duplication reads the log's tail all the time: measured 17–163 reads for 6 records before).
 * Payloads are copied out of the window so a caller holding a small record pins nothing else.
 *
 * Invariant: records come back in decree order, all >= fromDecree and <= toDecree, the first one
 * being the first durable record >= fromDecree.
 */
import * as path from "node:path";
import { assert } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";
import {
  BLOCK_HEADER_BYTES,
  type BlockHeader,
  type Decoded,
  decodeBlockBody,
  decodeBlockHeader,
  type LogRecord,
} from "./format.ts";
import { fsOp, isNotFound, type PlogFileHandle, type PlogFs, readAt } from "./fs-port.ts";
import type { Segment } from "./segment-table.ts";

export interface ReadRange {
  readonly fromDecree: number;
  /** Inclusive; the caller caps it at the durable decree. */
  readonly toDecree: number;
  /** Stop once the payload bytes returned reach this; at least one record is always returned. */
  readonly bytesMax: number;
}

function damaged(file: string, offset: number, reason: string): TalariaError {
  return new TalariaError("ERR_CORRUPTION", `plog ${file} at offset ${offset}: ${reason} on read`, {
    details: { file, offset, reason },
  });
}

async function openForRead(fs: PlogFs, dir: string, segment: Segment): Promise<PlogFileHandle> {
  const filePath = path.join(dir, segment.fileName);
  try {
    return await fs.open(filePath, "r");
  } catch (error) {
    if (isNotFound(error)) {
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `segment ${segment.fileName} was garbage-collected during the read`,
        { details: { file: segment.fileName }, cause: error },
      );
    }
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `open ${filePath} failed`, {
      details: { op: "open", path: filePath },
      cause: error,
    });
  }
}

/** Bytes read ahead per file read. */
export const READ_WINDOW_BYTES = 256 * 1024;

/** A segment's durable bytes, read a window at a time. */
class SegmentWindow {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: PlogFileHandle,
    private readonly fileBytes: number,
  ) {}

  /** Up to `length` bytes at `offset` (fewer only at the end of the durable bytes). */
  async bytes(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.fileBytes);
    if (offset < this.windowStart || end > this.windowStart + this.window.length) {
      const want = Math.min(Math.max(length, READ_WINDOW_BYTES), this.fileBytes - offset);
      this.window = await readAt(this.handle, Math.max(0, want), offset);
      this.windowStart = offset;
    }
    return this.window.subarray(offset - this.windowStart, end - this.windowStart);
  }

  async header(offset: number, nonce: Buffer): Promise<Decoded<BlockHeader>> {
    const decoded = decodeBlockHeader(await this.bytes(offset, BLOCK_HEADER_BYTES), {
      nonce,
      offset,
    });
    if (!decoded.ok) return decoded;
    if (offset + BLOCK_HEADER_BYTES + decoded.value.bodyBytes > this.fileBytes)
      return { ok: false, reason: "partial block body" };
    return decoded;
  }

  async body(offset: number, header: BlockHeader, nonce: Buffer): Promise<Decoded<LogRecord[]>> {
    const body = await this.bytes(offset + BLOCK_HEADER_BYTES, header.bodyBytes);
    return decodeBlockBody(header, body, nonce);
  }
}

/** `segments` is a snapshot starting at the segment that may hold `range.fromDecree`. */
export async function readRecords(
  fs: PlogFs,
  dir: string,
  segments: readonly Segment[],
  range: ReadRange,
): Promise<LogRecord[]> {
  const { fromDecree, toDecree, bytesMax } = range;
  assert(fromDecree <= toDecree && bytesMax >= 1, "read range is valid");
  const records: LogRecord[] = [];
  let payloadBytes = 0;
  for (const segment of segments) {
    if (segment.firstDecree > toDecree) break;
    if (segment.lastDecree < fromDecree) continue;
    const handle = await openForRead(fs, dir, segment);
    const filePath = path.join(dir, segment.fileName);
    try {
      // The durable size when the read starts: appends that become durable meanwhile grow
      // segment.durableBytes, but this read ends where its window does (toDecree was capped at
      // the durable decree when it started, so it needs nothing past here).
      const durableBytes = segment.durableBytes;
      const window = new SegmentWindow(handle, durableBytes);
      let offset = segment.seekOffset(fromDecree);
      // Bounded by the segment's durable size: each step moves past one block.
      while (offset < durableBytes) {
        const header = await fsOp("read", filePath, () => window.header(offset, segment.nonce));
        if (!header.ok) throw damaged(segment.fileName, offset, header.reason);
        const blockBytes = BLOCK_HEADER_BYTES + header.value.bodyBytes;
        if (header.value.firstDecree > toDecree) return records;
        if (header.value.lastDecree >= fromDecree) {
          const body = await fsOp("read", filePath, () =>
            window.body(offset, header.value, segment.nonce),
          );
          if (!body.ok) throw damaged(segment.fileName, offset, body.reason);
          for (const record of body.value) {
            if (record.decree < fromDecree) continue;
            if (record.decree > toDecree) return records;
            const bytes = record.payload.length;
            if (records.length > 0 && payloadBytes + bytes > bytesMax) return records;
            records.push({ decree: record.decree, payload: Buffer.from(record.payload) });
            payloadBytes += bytes;
            if (payloadBytes >= bytesMax) return records;
          }
        }
        offset += blockBytes;
      }
    } finally {
      await fsOp("close", filePath, () => handle.close());
    }
  }
  return records;
}
