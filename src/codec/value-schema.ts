/**
 * Stored value, schema v1 = expireTs:u32be ‖ timetag:u64be ‖ userValue (Pegasus data version 1).
 * expireTs is seconds since 2016-01-01T00:00:00Z, 0 = no TTL; a record is expired when
 * `expireTs > 0 && expireTs <= now`. A tombstone is a record whose timetag has the delete bit set
 * and an empty user value: invisible to reads, kept so a late older write cannot resurrect the key.
 */
import { TalariaError } from "../common/errors.ts";
import { type Timetag, timetagIsDelete } from "./timetag.ts";

export const VALUE_HEADER_BYTES = 12;

/** Unix seconds of 2016-01-01T00:00:00Z (Pegasus `epoch_begin`). */
export const EPOCH_BEGIN_UNIX_SECONDS = 1_451_606_400;

export interface StoredValue {
  readonly expireTs: number;
  readonly timetag: Timetag;
  readonly value: Buffer;
}

export function encodeValue(expireTs: number, timetag: Timetag, value: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(VALUE_HEADER_BYTES + value.length);
  out.writeUInt32BE(expireTs, 0);
  out.writeBigUInt64BE(timetag, 4);
  out.set(value, VALUE_HEADER_BYTES);
  return out;
}

export function decodeValue(stored: Uint8Array): StoredValue {
  if (stored.length < VALUE_HEADER_BYTES) {
    throw new TalariaError(
      "ERR_INVALID_DATA",
      `stored value of ${stored.length} bytes has no v1 header`,
    );
  }
  const buf = Buffer.from(stored.buffer, stored.byteOffset, stored.length);
  return {
    expireTs: buf.readUInt32BE(0),
    timetag: buf.readBigUInt64BE(4),
    value: buf.subarray(VALUE_HEADER_BYTES),
  };
}

/** Seconds since EPOCH_BEGIN for a Unix time in milliseconds. */
export function epochNowSeconds(nowMs: number): number {
  return Math.floor(nowMs / 1000) - EPOCH_BEGIN_UNIX_SECONDS;
}

export function isExpired(expireTs: number, epochNow: number): boolean {
  return expireTs > 0 && expireTs <= epochNow;
}

export function isTombstone(stored: StoredValue): boolean {
  return timetagIsDelete(stored.timetag);
}
