/**
 * The scan continuation token: everything needed to resume a scan, so the server keeps no scanner
 * context that could leak (Pegasus keeps one per `context_id` and must expire it). Opaque to
 * callers; base64url (no padding) of this versioned layout, all integers big-endian:
 *
 *   version      u8    = 1
 *   flags        u8    bit0 noValue, bit1 has stop key, bit2 stop inclusive; other bits 0
 *   batchSize    u32   as asked for (re-capped by scanBatchCountMax on every batch)
 *   lastKey      u32 length ‖ bytes   stored key of the last record examined; resume after it
 *   stopKey      u32 length ‖ bytes   present only with flag bit1
 *   hashFilter   u8 type ‖ u32 length ‖ pattern
 *   sortFilter   u8 type ‖ u32 length ‖ pattern
 *   checksum     u32 hi ‖ u32 lo      CRC64 of every byte before it
 *
 * A token that does not decode exactly (bad alphabet, short, trailing bytes, checksum, version,
 * flags or filter type) is ERR_INVALID_PARAMETERS: it came from the caller, not from our disk.
 */
import { Buffer } from "node:buffer";
import { crc64Parts, decodeKey } from "../../codec/index.ts";
import { FilterType, type KeyFilter } from "../types.ts";
import { checkKeyFilter } from "./key-filter.ts";
import type { RangeBound } from "./key-range.ts";
import { invalidParameter } from "./option-checks.ts";

export const SCAN_TOKEN_VERSION = 1;

const FLAG_NO_VALUE = 0b001;
const FLAG_HAS_STOP = 0b010;
const FLAG_STOP_INCLUSIVE = 0b100;
const FLAGS_KNOWN = FLAG_NO_VALUE | FLAG_HAS_STOP | FLAG_STOP_INCLUSIVE;
const CHECKSUM_BYTES = 8;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export interface ScanCursor {
  readonly lastKey: Buffer;
  readonly stop: RangeBound | undefined;
  readonly hashKeyFilter: KeyFilter | undefined;
  readonly sortKeyFilter: KeyFilter | undefined;
  readonly batchSize: number;
  readonly noValue: boolean;
}

function u8(value: number): Buffer {
  const out = Buffer.allocUnsafe(1);
  out.writeUInt8(value, 0);
  return out;
}

function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value, 0);
  return out;
}

function lengthPrefixed(bytes: Uint8Array): Buffer[] {
  return [u32(bytes.length), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)];
}

function filterParts(filter: KeyFilter | undefined): Buffer[] {
  return filter === undefined
    ? [u8(FilterType.NO_FILTER), u32(0)]
    : [u8(filter.type), ...lengthPrefixed(filter.pattern)];
}

export function encodeScanToken(cursor: ScanCursor): string {
  const flags =
    (cursor.noValue ? FLAG_NO_VALUE : 0) |
    (cursor.stop === undefined ? 0 : FLAG_HAS_STOP) |
    (cursor.stop?.inclusive === true ? FLAG_STOP_INCLUSIVE : 0);
  const body = Buffer.concat([
    u8(SCAN_TOKEN_VERSION),
    u8(flags),
    u32(cursor.batchSize),
    ...lengthPrefixed(cursor.lastKey),
    ...(cursor.stop === undefined ? [] : lengthPrefixed(cursor.stop.key)),
    ...filterParts(cursor.hashKeyFilter),
    ...filterParts(cursor.sortKeyFilter),
  ]);
  const { hi, lo } = crc64Parts(body);
  return Buffer.concat([body, u32(hi), u32(lo)]).toString("base64url");
}

/** Reads fields in order; any overrun is a malformed token. */
class TokenReader {
  private offset = 0;
  constructor(private readonly bytes: Buffer) {}

  private take(length: number): Buffer {
    if (this.offset + length > this.bytes.length) throw malformed("truncated");
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  u8(): number {
    return this.take(1).readUInt8(0);
  }
  u32(): number {
    return this.take(4).readUInt32BE(0);
  }
  bytesField(): Buffer {
    return Buffer.from(this.take(this.u32()));
  }
  filter(option: string): KeyFilter | undefined {
    const filter = { type: this.u8() as FilterType, pattern: this.bytesField() };
    try {
      checkKeyFilter(filter, option);
    } catch (error) {
      throw malformed(`bad ${option}`, error);
    }
    return filter.type === FilterType.NO_FILTER ? undefined : filter;
  }
  atEnd(): boolean {
    return this.offset === this.bytes.length;
  }
}

function malformed(reason: string, cause?: unknown): Error {
  return invalidParameter("continuationToken", `malformed scan token (${reason})`, cause);
}

function storedKey(bytes: Buffer, field: string): Buffer {
  try {
    decodeKey(bytes);
  } catch (error) {
    throw malformed(`${field} is not a stored key`, error);
  }
  return bytes;
}

export function decodeScanToken(token: unknown): ScanCursor {
  if (typeof token !== "string" || !BASE64URL.test(token)) throw malformed("not base64url");
  const raw = Buffer.from(token, "base64url");
  // Node's decoder ignores stray trailing bits; only the canonical spelling is our token.
  if (raw.toString("base64url") !== token) throw malformed("not base64url");
  if (raw.length < CHECKSUM_BYTES) throw malformed("truncated");
  const body = raw.subarray(0, raw.length - CHECKSUM_BYTES);
  const { hi, lo } = crc64Parts(body);
  const tail = raw.subarray(body.length);
  if (tail.readUInt32BE(0) !== hi || tail.readUInt32BE(4) !== lo) throw malformed("checksum");

  const reader = new TokenReader(body);
  const version = reader.u8();
  if (version !== SCAN_TOKEN_VERSION) throw malformed(`unknown version ${version}`);
  const flags = reader.u8();
  if ((flags & ~FLAGS_KNOWN) !== 0) throw malformed(`unknown flags ${flags}`);
  const batchSize = reader.u32();
  if (batchSize < 1) throw malformed("batch size 0");
  const lastKey = storedKey(reader.bytesField(), "last key");
  const stop =
    (flags & FLAG_HAS_STOP) === 0
      ? undefined
      : {
          key: storedKey(reader.bytesField(), "stop key"),
          inclusive: (flags & FLAG_STOP_INCLUSIVE) !== 0,
        };
  if (stop === undefined && (flags & FLAG_STOP_INCLUSIVE) !== 0) {
    throw malformed("stop inclusive without stop key");
  }
  const hashKeyFilter = reader.filter("hashKeyFilter");
  const sortKeyFilter = reader.filter("sortKeyFilter");
  if (!reader.atEnd()) throw malformed("trailing bytes");
  return {
    lastKey,
    stop,
    hashKeyFilter,
    sortKeyFilter,
    batchSize,
    noValue: (flags & FLAG_NO_VALUE) !== 0,
  };
}
