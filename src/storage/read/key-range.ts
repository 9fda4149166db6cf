/**
 * Ranges over stored keys (`u16be(len(hashKey)) ‖ hashKey ‖ sortKey`), compared by memcmp.
 * Because the hash key's length comes first, all records of one hash key, and all records of one
 * hash key whose sort key starts with a given prefix, are each one contiguous range: the range
 * from a stored-key prefix up to (excluding) its successor. A hash-key prefix is NOT contiguous
 * (hash keys of different lengths differ in the first two bytes), so scans never narrow on it.
 */
import { Buffer } from "node:buffer";
import { hashKeyPrefix } from "../../codec/index.ts";

export interface RangeBound {
  readonly key: Buffer;
  readonly inclusive: boolean;
}

/** `undefined` bounds are open: from the first stored key, or to the last. */
export interface KeyRange {
  readonly lower: RangeBound | undefined;
  readonly upper: RangeBound | undefined;
}

/**
 * The smallest key greater than every key starting with `prefix`: drop trailing 0xff bytes and
 * increment the last remaining one. `undefined` when the prefix is all 0xff (no upper bound).
 */
export function prefixSuccessor(prefix: Uint8Array): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const successor = Buffer.from(prefix.subarray(0, end));
  successor[end - 1] = (successor[end - 1] as number) + 1;
  return successor;
}

/** Every stored key starting with `prefix`. */
export function prefixRange(prefix: Buffer): KeyRange {
  const successor = prefixSuccessor(prefix);
  return {
    lower: { key: prefix, inclusive: true },
    upper: successor === undefined ? undefined : { key: successor, inclusive: false },
  };
}

/** Every record of one hash key. */
export function hashKeyRange(hashKey: Uint8Array): KeyRange {
  return prefixRange(hashKeyPrefix(hashKey));
}

/** The tighter lower bound of two; on equal keys the exclusive one is tighter. */
function tighterLower(
  a: RangeBound | undefined,
  b: RangeBound | undefined,
): RangeBound | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const c = a.key.compare(b.key);
  if (c !== 0) return c > 0 ? a : b;
  return a.inclusive ? b : a;
}

function tighterUpper(
  a: RangeBound | undefined,
  b: RangeBound | undefined,
): RangeBound | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const c = a.key.compare(b.key);
  if (c !== 0) return c < 0 ? a : b;
  return a.inclusive ? b : a;
}

export function intersectRanges(a: KeyRange, b: KeyRange): KeyRange {
  return { lower: tighterLower(a.lower, b.lower), upper: tighterUpper(a.upper, b.upper) };
}

/** True when no key can lie in the range (Pegasus: start > stop, or equal and not both inclusive). */
export function isEmptyRange(range: KeyRange): boolean {
  const { lower, upper } = range;
  if (lower === undefined || upper === undefined) return false;
  const c = lower.key.compare(upper.key);
  return c > 0 || (c === 0 && !(lower.inclusive && upper.inclusive));
}

/** -1 below the range, 0 inside, 1 above. */
export function positionInRange(key: Buffer, range: KeyRange): -1 | 0 | 1 {
  const { lower, upper } = range;
  if (lower !== undefined) {
    const c = key.compare(lower.key);
    if (c < 0 || (c === 0 && !lower.inclusive)) return -1;
  }
  if (upper !== undefined) {
    const c = key.compare(upper.key);
    if (c > 0 || (c === 0 && !upper.inclusive)) return 1;
  }
  return 0;
}
