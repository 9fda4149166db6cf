/**
 * On-disk layout of the private log (plog). All integers are little-endian; a u64 holds a decree,
 * which must be a safe integer (< 2^53), so readers reject a high word above 2^21 - 1.
 *
 * A segment file `plog.<sequence, 8 digits>.<firstDecree>` is a segment header followed by blocks:
 *
 *   segment header (24 bytes)
 *     0  u32  magic          SEGMENT_MAGIC ("TPLS")
 *     4  u16  formatVersion  FORMAT_VERSION
 *     6  u16  reserved       0
 *     8  u32  sequence       equals the sequence in the file name
 *     12 u64  firstDecree    decree of the first record in the segment; equals the file name's
 *     20 u32  headerCrc      CRC32C of bytes [0, 20)
 *
 *   block header (36 bytes), then `bodyBytes` of body
 *     0  u32  magic          BLOCK_MAGIC ("TPLB")
 *     4  u32  bodyBytes
 *     8  u32  recordCount    >= 1
 *     12 u64  firstDecree    decree of the first record in the body
 *     20 u64  lastDecree     decree of the last record in the body
 *     28 u32  bodyCrc        CRC32C of the body
 *     32 u32  headerCrc      CRC32C of bytes [0, 32)
 *
 *   body = recordCount records, back to back, nothing after the last one
 *     0  u64  decree
 *     8  u32  payloadBytes
 *     12 payload
 *
 * Invariants a valid log keeps (checked on open and on every read):
 * - decrees strictly increase across records, blocks and segments (gaps allowed);
 * - a block header is trusted only after its own CRC passes, so a corrupted length is caught
 *   before the body is read; the body is trusted only after its CRC passes;
 * - a segment holds at least one block unless it is the last one (and then only transiently).
 *
 * Decoders return a result, never throw: the recovery scan decides whether a bad block is a torn
 * tail or corruption from where it sits, not from what is wrong with it.
 */
import { crc32c } from "@node-rs/crc32";
import { assert } from "../common/assert.ts";

export const FORMAT_VERSION = 1;
/** "TPLS" read as a little-endian u32. */
export const SEGMENT_MAGIC = 0x534c5054;
/** "TPLB" read as a little-endian u32. */
export const BLOCK_MAGIC = 0x424c5054;
export const SEGMENT_HEADER_BYTES = 24;
export const BLOCK_HEADER_BYTES = 36;
export const RECORD_HEADER_BYTES = 12;
/** Format limit: the u32 length fields. */
export const BLOCK_BODY_BYTES_MAX = 0xffff_ffff;

const TWO_POW_32 = 0x1_0000_0000;
/** High word of Number.MAX_SAFE_INTEGER. */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

export interface LogRecord {
  readonly decree: number;
  readonly payload: Buffer;
}

export interface SegmentHeader {
  readonly formatVersion: number;
  readonly sequence: number;
  readonly firstDecree: number;
}

export interface BlockHeader {
  readonly bodyBytes: number;
  readonly recordCount: number;
  readonly firstDecree: number;
  readonly lastDecree: number;
  readonly bodyCrc: number;
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

function fail<T>(reason: string): Decoded<T> {
  return { ok: false, reason };
}

export function isDecree(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1;
}

function writeU64(buffer: Buffer, value: number, offset: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field out of range: ${value}`);
  buffer.writeUInt32LE(value >>> 0, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

/** Returns -1 when the value is not a safe integer. */
function readU64(buffer: Buffer, offset: number): number {
  const high = buffer.readUInt32LE(offset + 4);
  if (high > SAFE_HIGH_WORD_MAX) return -1;
  return high * TWO_POW_32 + buffer.readUInt32LE(offset);
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  assert(header.formatVersion === FORMAT_VERSION, "only the current format version is written");
  assert(Number.isInteger(header.sequence) && header.sequence >= 1, "sequence starts at 1");
  assert(header.sequence <= 0xffff_ffff, "sequence fits in u32");
  assert(isDecree(header.firstDecree), "segment first decree is a decree");
  const buffer = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buffer.writeUInt32LE(SEGMENT_MAGIC, 0);
  buffer.writeUInt16LE(header.formatVersion, 4);
  buffer.writeUInt16LE(0, 6);
  buffer.writeUInt32LE(header.sequence, 8);
  writeU64(buffer, header.firstDecree, 12);
  buffer.writeUInt32LE(crc32c(buffer.subarray(0, 20)), 20);
  return buffer;
}

export function decodeSegmentHeader(buffer: Buffer): Decoded<SegmentHeader> {
  if (buffer.length < SEGMENT_HEADER_BYTES) return fail("partial segment header");
  if (buffer.readUInt32LE(0) !== SEGMENT_MAGIC) return fail("bad segment magic");
  if (buffer.readUInt32LE(20) !== crc32c(buffer.subarray(0, 20))) {
    return fail("segment header checksum mismatch");
  }
  const formatVersion = buffer.readUInt16LE(4);
  if (formatVersion !== FORMAT_VERSION) return fail(`unknown format version ${formatVersion}`);
  const firstDecree = readU64(buffer, 12);
  if (!isDecree(firstDecree)) return fail("segment first decree out of range");
  return { ok: true, value: { formatVersion, sequence: buffer.readUInt32LE(8), firstDecree } };
}

/** Encodes records (strictly increasing decrees, at least one) as one block: header + body. */
export function encodeBlock(records: readonly LogRecord[]): Buffer {
  assert(records.length >= 1, "a block holds at least one record");
  let bodyBytes = 0;
  for (const record of records) bodyBytes += RECORD_HEADER_BYTES + record.payload.length;
  assert(bodyBytes <= BLOCK_BODY_BYTES_MAX, "block body fits the u32 length field");
  const block = Buffer.allocUnsafe(BLOCK_HEADER_BYTES + bodyBytes);
  let offset = BLOCK_HEADER_BYTES;
  let previous = 0;
  for (const record of records) {
    assert(isDecree(record.decree) && record.decree > previous, "block decrees strictly increase");
    previous = record.decree;
    writeU64(block, record.decree, offset);
    block.writeUInt32LE(record.payload.length, offset + 8);
    record.payload.copy(block, offset + RECORD_HEADER_BYTES);
    offset += RECORD_HEADER_BYTES + record.payload.length;
  }
  assert(offset === block.length, "block body filled exactly");
  const first = records[0];
  const last = records[records.length - 1];
  assert(first !== undefined && last !== undefined, "non-empty block");
  block.writeUInt32LE(BLOCK_MAGIC, 0);
  block.writeUInt32LE(bodyBytes, 4);
  block.writeUInt32LE(records.length, 8);
  writeU64(block, first.decree, 12);
  writeU64(block, last.decree, 20);
  block.writeUInt32LE(crc32c(block.subarray(BLOCK_HEADER_BYTES)), 28);
  block.writeUInt32LE(crc32c(block.subarray(0, 32)), 32);
  return block;
}

/** Decodes and checks a block header on its own, so a bad length is caught before it is used. */
export function decodeBlockHeader(buffer: Buffer): Decoded<BlockHeader> {
  if (buffer.length < BLOCK_HEADER_BYTES) return fail("partial block header");
  if (buffer.readUInt32LE(0) !== BLOCK_MAGIC) return fail("bad block magic");
  if (buffer.readUInt32LE(32) !== crc32c(buffer.subarray(0, 32))) {
    return fail("block header checksum mismatch");
  }
  const bodyBytes = buffer.readUInt32LE(4);
  const recordCount = buffer.readUInt32LE(8);
  const firstDecree = readU64(buffer, 12);
  const lastDecree = readU64(buffer, 20);
  if (recordCount < 1) return fail("block has no records");
  if (bodyBytes < recordCount * RECORD_HEADER_BYTES) return fail("block body too short");
  if (!isDecree(firstDecree) || !isDecree(lastDecree) || lastDecree < firstDecree) {
    return fail("block decree range invalid");
  }
  const bodyCrc = buffer.readUInt32LE(28);
  return { ok: true, value: { bodyBytes, recordCount, firstDecree, lastDecree, bodyCrc } };
}

/**
 * Checks a body against its (already validated) header and splits it into records. Payloads are
 * views into `body`, not copies.
 */
export function decodeBlockBody(header: BlockHeader, body: Buffer): Decoded<LogRecord[]> {
  if (body.length !== header.bodyBytes) return fail("partial block body");
  if (crc32c(body) !== header.bodyCrc) return fail("block body checksum mismatch");
  const records: LogRecord[] = [];
  let offset = 0;
  let previous = 0;
  while (offset < body.length) {
    if (records.length === header.recordCount) return fail("bytes after the last record");
    if (body.length - offset < RECORD_HEADER_BYTES) return fail("partial record header");
    const decree = readU64(body, offset);
    const payloadBytes = body.readUInt32LE(offset + 8);
    const start = offset + RECORD_HEADER_BYTES;
    if (payloadBytes > body.length - start) return fail("record payload past the block end");
    if (!isDecree(decree) || decree <= previous) return fail("record decrees not increasing");
    records.push({ decree, payload: body.subarray(start, start + payloadBytes) });
    previous = decree;
    offset = start + payloadBytes;
  }
  if (records.length !== header.recordCount) return fail("record count mismatch");
  if (records[0]?.decree !== header.firstDecree || previous !== header.lastDecree) {
    return fail("record decrees disagree with the block header");
  }
  return { ok: true, value: records };
}

export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes;
}
