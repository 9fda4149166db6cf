/**
 * On-disk layout of the private log (plog). All integers are little-endian; a u64 holds a decree,
 * which must be a safe integer (< 2^53), so readers reject a high word above 2^21 - 1.
 *
 * A segment file `plog.<sequence, 8 digits>.<firstDecree>` is a segment header followed by blocks:
 *
 *   segment header (32 bytes)
 *     0  u32  magic          SEGMENT_MAGIC ("TPLS")
 *     4  u16  formatVersion  FORMAT_VERSION (2)
 *     6  u16  flags          SEGMENT_FLAG_FLOOR or 0; any other bit is refused
 *     8  u32  sequence       equals the sequence in the file name
 *     12 u64  firstDecree    decree of the first record in the segment; equals the file name's
 *     20 8B   nonce          random, drawn when the segment is created; seals its blocks
 *     28 u32  headerCrc      CRC32C of bytes [0, 28)
 *
 *   block header (36 bytes), then `bodyBytes` of body; the block starts at file offset `offset`
 *     0  u32  magic          BLOCK_MAGIC ("TPLB")
 *     4  u32  bodyBytes
 *     8  u32  recordCount    >= 1
 *     12 u64  firstDecree    decree of the first record in the body
 *     20 u64  lastDecree     decree of the last record in the body
 *     28 u32  bodyCrc        CRC32C of nonce[4, 8) ‖ body
 *     32 u32  headerCrc      CRC32C of nonce[0, 4) ‖ u64 offset ‖ bytes [0, 32)
 *
 *   body = recordCount records, back to back, nothing after the last one
 *     0  u64  decree
 *     8  u32  payloadBytes
 *     12 payload
 *
 * Why the nonce and the offset are in the checksums: recovery tells a torn tail from mid-log
 * corruption by looking for a valid block after the bad one. Payloads are user bytes, so a payload
 * can hold something that looks like a block. Sealing each block to its segment's nonce (which a
 * writer of payloads never sees; one half per checksum, so a forgery must guess 64 bits) and to its
 * own offset (so even a byte-exact copy of a real block of the same segment fails anywhere else)
 * means only a block the log itself wrote, where it wrote it, validates.
 *
 * A floor segment (flag SEGMENT_FLAG_FLOOR) is written by a reset (resetTo, or a truncation that
 * removes every record; truncation.ts): its first decree is the log's first decree, the floor,
 * whether or not a record has it. It may hold no block, its first block may start above its first
 * decree, and it is always the first segment. It is how an empty log remembers where it starts.
 * The field was `reserved`, always 0, before the flag existed, so older segments read unchanged.
 *
 * Version 1 (24-byte segment header, no nonce) never left development: no v1 data exists in the
 * wild, so there is no upgrade path and a v1 segment is refused with ERR_INVALID_VERSION.
 *
 * Invariants a valid log keeps (checked on open and on every read):
 * - decrees strictly increase across records, blocks and segments (gaps allowed);
 * - a block header is trusted only after its own CRC passes, so a corrupted length is caught
 *   before the body is read; the body is trusted only after its CRC passes;
 * - a segment holds at least one block unless it is the last one (and then only transiently) or a
 *   floor segment;
 * - every other segment's first block starts at exactly the segment's first decree.
 *
 * Decoders return a result, never throw: the recovery scan decides whether a bad block is a torn
 * tail or corruption from where it sits, not from what is wrong with it.
 */
import { crc32c } from "@node-rs/crc32";
import { assert } from "../common/assert.ts";

export const FORMAT_VERSION = 2;
/** "TPLS" read as a little-endian u32. */
export const SEGMENT_MAGIC = 0x534c5054;
/** "TPLB" read as a little-endian u32. */
export const BLOCK_MAGIC = 0x424c5054;
export const SEGMENT_HEADER_BYTES = 32;
export const BLOCK_HEADER_BYTES = 36;
export const RECORD_HEADER_BYTES = 12;
export const NONCE_BYTES = 8;
/** Segment header flag: a floor segment (see above). */
export const SEGMENT_FLAG_FLOOR = 0x1;
const SEGMENT_FLAGS_KNOWN = SEGMENT_FLAG_FLOOR;
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
  /** NONCE_BYTES random bytes. */
  readonly nonce: Buffer;
  /** SEGMENT_FLAG_* bits; 0 when absent. */
  readonly flags?: number;
}

/** Where a block sits: the nonce of its segment and its offset in the segment file. */
export interface BlockPlace {
  readonly nonce: Buffer;
  readonly offset: number;
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

/** CRC32C of nonce[0, 4) ‖ u64 offset ‖ the first 32 bytes of the block header. */
function blockHeaderCrc(header: Buffer, place: BlockPlace): number {
  assert(place.nonce.length === NONCE_BYTES, "a segment nonce is NONCE_BYTES long");
  const seal = Buffer.allocUnsafe(12);
  place.nonce.copy(seal, 0, 0, 4);
  writeU64(seal, place.offset, 4);
  return crc32c(header.subarray(0, 32), crc32c(seal));
}

/** CRC32C of nonce[4, 8) ‖ body. */
function blockBodyCrc(body: Buffer, nonce: Buffer): number {
  assert(nonce.length === NONCE_BYTES, "a segment nonce is NONCE_BYTES long");
  return crc32c(body, crc32c(nonce.subarray(4, 8)));
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  assert(header.formatVersion === FORMAT_VERSION, "only the current format version is written");
  assert(Number.isInteger(header.sequence) && header.sequence >= 1, "sequence starts at 1");
  assert(header.sequence <= 0xffff_ffff, "sequence fits in u32");
  assert(isDecree(header.firstDecree), "segment first decree is a decree");
  assert(header.nonce.length === NONCE_BYTES, "a segment nonce is NONCE_BYTES long");
  const flags = header.flags ?? 0;
  assert((flags & ~SEGMENT_FLAGS_KNOWN) === 0, "only known segment flags are written");
  const buffer = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buffer.writeUInt32LE(SEGMENT_MAGIC, 0);
  buffer.writeUInt16LE(header.formatVersion, 4);
  buffer.writeUInt16LE(flags, 6);
  buffer.writeUInt32LE(header.sequence, 8);
  writeU64(buffer, header.firstDecree, 12);
  header.nonce.copy(buffer, 20);
  buffer.writeUInt32LE(crc32c(buffer.subarray(0, 28)), 28);
  return buffer;
}

/**
 * The format version a segment claims, read before anything else is checked, so a segment of
 * another version is refused rather than mistaken for a torn one. Null when the bytes are too
 * short or do not start with SEGMENT_MAGIC.
 */
export function peekFormatVersion(buffer: Buffer): number | null {
  if (buffer.length < 6 || buffer.readUInt32LE(0) !== SEGMENT_MAGIC) return null;
  return buffer.readUInt16LE(4);
}

export function decodeSegmentHeader(buffer: Buffer): Decoded<SegmentHeader> {
  if (buffer.length < SEGMENT_HEADER_BYTES) return fail("partial segment header");
  if (buffer.readUInt32LE(0) !== SEGMENT_MAGIC) return fail("bad segment magic");
  const formatVersion = buffer.readUInt16LE(4);
  if (formatVersion !== FORMAT_VERSION) return fail(`unknown format version ${formatVersion}`);
  if (buffer.readUInt32LE(28) !== crc32c(buffer.subarray(0, 28))) {
    return fail("segment header checksum mismatch");
  }
  const flags = buffer.readUInt16LE(6);
  if ((flags & ~SEGMENT_FLAGS_KNOWN) !== 0) return fail(`unknown segment flags ${flags}`);
  const firstDecree = readU64(buffer, 12);
  if (!isDecree(firstDecree)) return fail("segment first decree out of range");
  const nonce = Buffer.from(buffer.subarray(20, 28));
  return {
    ok: true,
    value: { formatVersion, sequence: buffer.readUInt32LE(8), firstDecree, nonce, flags },
  };
}

/**
 * Encodes records (strictly increasing decrees, at least one) as one block, header + body, sealed
 * to `place`: it validates only at that offset of the segment with that nonce.
 */
export function encodeBlock(records: readonly LogRecord[], place: BlockPlace): Buffer {
  assert(records.length >= 1, "a block holds at least one record");
  assert(place.offset >= SEGMENT_HEADER_BYTES, "blocks follow the segment header");
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
  block.writeUInt32LE(blockBodyCrc(block.subarray(BLOCK_HEADER_BYTES), place.nonce), 28);
  block.writeUInt32LE(blockHeaderCrc(block, place), 32);
  return block;
}

/**
 * Decodes and checks a block header on its own, so a bad length is caught before it is used. A
 * header that was not written by this segment at `place.offset` fails its checksum.
 */
export function decodeBlockHeader(buffer: Buffer, place: BlockPlace): Decoded<BlockHeader> {
  if (buffer.length < BLOCK_HEADER_BYTES) return fail("partial block header");
  if (buffer.readUInt32LE(0) !== BLOCK_MAGIC) return fail("bad block magic");
  if (buffer.readUInt32LE(32) !== blockHeaderCrc(buffer, place)) {
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
 * Checks a body against its (already validated) header and its segment's nonce, and splits it
 * into records. Payloads are views into `body`, not copies.
 */
export function decodeBlockBody(
  header: BlockHeader,
  body: Buffer,
  nonce: Buffer,
): Decoded<LogRecord[]> {
  if (body.length !== header.bodyBytes) return fail("partial block body");
  if (blockBodyCrc(body, nonce) !== header.bodyCrc) return fail("block body checksum mismatch");
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
