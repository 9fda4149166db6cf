/**
 * Stored key = u16be(len(hashKey)) ‖ hashKey ‖ sortKey (Pegasus `pegasus_generate_key`). All records
 * of one hash key are contiguous and ordered by sort key (memcmp).
 */
import { TalariaError } from "../common/errors.ts";
import { formatLimits } from "../common/limits.ts";
import { crc64Mod } from "./crc64.ts";

export function checkHashKey(hashKey: Uint8Array): void {
  if (hashKey.length > formatLimits.hashKeyBytesMax) {
    throw new TalariaError(
      "ERR_INVALID_HASH_KEY",
      `hash key is ${hashKey.length} bytes, over hashKeyBytesMax = ${formatLimits.hashKeyBytesMax}`,
      {
        details: {
          limit: "hashKeyBytesMax",
          value: hashKey.length,
          max: formatLimits.hashKeyBytesMax,
        },
      },
    );
  }
}

export function encodeKey(hashKey: Uint8Array, sortKey: Uint8Array): Buffer {
  checkHashKey(hashKey);
  const key = Buffer.allocUnsafe(2 + hashKey.length + sortKey.length);
  key.writeUInt16BE(hashKey.length, 0);
  key.set(hashKey, 2);
  key.set(sortKey, 2 + hashKey.length);
  return key;
}

export function decodeKey(key: Uint8Array): { hashKey: Buffer; sortKey: Buffer } {
  if (key.length < 2)
    throw new TalariaError("ERR_INVALID_DATA", `stored key of ${key.length} bytes`);
  const buf = Buffer.from(key.buffer, key.byteOffset, key.length);
  const hashKeyLength = buf.readUInt16BE(0);
  if (2 + hashKeyLength > buf.length) {
    throw new TalariaError("ERR_INVALID_DATA", "stored key shorter than its hash key length");
  }
  return {
    hashKey: buf.subarray(2, 2 + hashKeyLength),
    sortKey: buf.subarray(2 + hashKeyLength),
  };
}

/** The prefix shared by every stored key of `hashKey`. */
export function hashKeyPrefix(hashKey: Uint8Array): Buffer {
  return encodeKey(hashKey, Buffer.alloc(0));
}

/**
 * The partition of a record: `crc64(hashKey) % partitionCount` (unsigned), where an empty hash key
 * hashes the sort key instead (Pegasus `pegasus_key_hash`).
 */
export function partitionIndex(
  hashKey: Uint8Array,
  sortKey: Uint8Array,
  partitionCount: number,
): number {
  return crc64Mod(hashKey.length > 0 ? hashKey : sortKey, partitionCount);
}
