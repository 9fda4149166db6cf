/**
 * The intent file `plog.intent`: the commit point of a truncation or a reset (truncation.ts). It
 * exists only while one is being carried out; its presence on open means "finish this first".
 * All integers little-endian.
 *
 *   0  u32  magic          INTENT_MAGIC ("TPLI")
 *   4  u16  formatVersion  FORMAT_VERSION (2)
 *   6  u16  kind           1 = truncate, 2 = reset
 *   8  u64  decree         truncate: records above it go; reset: the log starts after it
 *   16 u32  sequence       truncate: the segment cut (every later one is deleted);
 *                          reset: the sequence of the floor segment to create
 *   20 u64  offset         truncate: where that segment is cut; reset: 0
 *   28 u32  blockBytes     truncate: length of the replacement block; reset: 0
 *   32 u32  crc            CRC32C of bytes [0, 32) ‖ replacement block
 *   36      replacement block: the records <= decree of the block that held decree + 1, re-encoded
 *           and sealed to that segment's nonce at `offset` (absent when the cut falls between
 *           blocks). It is the only copy of those records while the segment is being cut.
 *
 * A file that is short, longer than it says, or fails its CRC was torn by a crash before its
 * fdatasync: the operation never committed and nothing else was touched, so it is deleted.
 */
import { crc32c } from "@node-rs/crc32";
import { assert } from "../common/assert.ts";
import { FORMAT_VERSION } from "./format.ts";

export const INTENT_FILE_NAME = "plog.intent";
/** "TPLI" read as a little-endian u32. */
export const INTENT_MAGIC = 0x494c5054;
export const INTENT_HEADER_BYTES = 36;

const KIND_TRUNCATE = 1;
const KIND_RESET = 2;
const TWO_POW_32 = 0x1_0000_0000;

export interface TruncateIntent {
  readonly kind: "truncate";
  readonly afterDecree: number;
  readonly sequence: number;
  readonly offset: number;
  /** Empty when the cut falls on a block boundary. */
  readonly block: Buffer;
}

export interface ResetIntent {
  readonly kind: "reset";
  readonly decree: number;
  readonly sequence: number;
}

export type Intent = TruncateIntent | ResetIntent;

function writeU64(buffer: Buffer, value: number, offset: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 field out of range: ${value}`);
  buffer.writeUInt32LE(value >>> 0, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

function readU64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset + 4) * TWO_POW_32 + buffer.readUInt32LE(offset);
}

export function encodeIntent(intent: Intent): Buffer {
  assert(intent.sequence >= 1 && intent.sequence <= 0xffff_ffff, "sequence fits in u32");
  const block = intent.kind === "truncate" ? intent.block : Buffer.alloc(0);
  const buffer = Buffer.alloc(INTENT_HEADER_BYTES + block.length);
  buffer.writeUInt32LE(INTENT_MAGIC, 0);
  buffer.writeUInt16LE(FORMAT_VERSION, 4);
  if (intent.kind === "truncate") {
    buffer.writeUInt16LE(KIND_TRUNCATE, 6);
    writeU64(buffer, intent.afterDecree, 8);
    writeU64(buffer, intent.offset, 20);
  } else {
    buffer.writeUInt16LE(KIND_RESET, 6);
    writeU64(buffer, intent.decree, 8);
  }
  buffer.writeUInt32LE(intent.sequence, 16);
  buffer.writeUInt32LE(block.length, 28);
  block.copy(buffer, INTENT_HEADER_BYTES);
  buffer.writeUInt32LE(intentCrc(buffer), 32);
  return buffer;
}

function intentCrc(buffer: Buffer): number {
  return crc32c(buffer.subarray(INTENT_HEADER_BYTES), crc32c(buffer.subarray(0, 32)));
}

/** The format version an intent file claims; null when it is too short or has no magic. */
export function peekIntentVersion(buffer: Buffer): number | null {
  if (buffer.length < 6 || buffer.readUInt32LE(0) !== INTENT_MAGIC) return null;
  return buffer.readUInt16LE(4);
}

/**
 * `torn` failures are what a crash before the intent's fdatasync leaves; a checksum-valid intent
 * that makes no sense is not torn (the caller treats it as corruption).
 */
export type DecodedIntent =
  | { readonly ok: true; readonly value: Intent }
  | { readonly ok: false; readonly torn: boolean; readonly reason: string };

export function decodeIntent(buffer: Buffer): DecodedIntent {
  const torn = (reason: string): DecodedIntent => ({ ok: false, torn: true, reason });
  if (buffer.length < INTENT_HEADER_BYTES) return torn("partial intent header");
  if (buffer.readUInt32LE(0) !== INTENT_MAGIC) return torn("bad intent magic");
  const blockBytes = buffer.readUInt32LE(28);
  if (buffer.length !== INTENT_HEADER_BYTES + blockBytes) {
    return torn("intent length disagrees with its header");
  }
  if (buffer.readUInt32LE(32) !== intentCrc(buffer)) return torn("intent checksum mismatch");
  const invalid = (reason: string): DecodedIntent => ({ ok: false, torn: false, reason });
  const version = buffer.readUInt16LE(4);
  if (version !== FORMAT_VERSION) return invalid(`unknown format version ${version}`);
  const kind = buffer.readUInt16LE(6);
  const decree = readU64(buffer, 8);
  const sequence = buffer.readUInt32LE(16);
  const offset = readU64(buffer, 20);
  if (!Number.isSafeInteger(decree) || !Number.isSafeInteger(offset) || sequence < 1) {
    return invalid("intent field out of range");
  }
  if (kind === KIND_TRUNCATE) {
    const block = Buffer.from(buffer.subarray(INTENT_HEADER_BYTES));
    return { ok: true, value: { kind: "truncate", afterDecree: decree, sequence, offset, block } };
  }
  if (kind === KIND_RESET && blockBytes === 0 && offset === 0) {
    return { ok: true, value: { kind: "reset", decree, sequence } };
  }
  return invalid(`unknown intent kind ${kind}`);
}
