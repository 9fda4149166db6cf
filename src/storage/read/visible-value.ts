/**
 * The one visibility rule of the read side: a stored record is visible unless it is a tombstone
 * (timetag delete bit set) or expired (`expireTs > 0 && expireTs <= epochNow`). Every read path
 * decides visibility here so get, multiGet, batchGet, exist, ttl, sortKeyCount and scans agree.
 */
import { Buffer } from "node:buffer";
import { decodeValue, isExpired, isTombstone, type StoredValue } from "../../codec/index.ts";

export function decodeVisible(
  stored: Buffer | undefined,
  epochNow: number,
): StoredValue | undefined {
  if (stored === undefined) return undefined;
  const decoded = decodeValue(stored);
  if (isTombstone(decoded) || isExpired(decoded.expireTs, epochNow)) return undefined;
  return decoded;
}

/** The value of every record returned with `noValue`: zero-length, so sharing one is harmless. */
export const NO_VALUE: Buffer = Buffer.alloc(0);
