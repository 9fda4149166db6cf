/**
 * The bounded walk under multiGet-by-range and scans. One pass over a key range collects selected
 * records until the range ends or a budget stops it. Invariants:
 *   - at most `countMax` entries and `examinedMax` examined records, whatever the data;
 *   - returned bytes stay <= `bytesMax`, except that the first selected record is always taken so
 *     a caller paging through the range always makes progress (one record is bounded by the
 *     write-size limit);
 *   - `rangeExhausted` is exact within the examined budget: when the count or size budget is
 *     reached the walk keeps skipping unselected records until it meets a selected one (more to
 *     read) or the end of the range (nothing left), so a caller is not told "incomplete" for a
 *     range whose remaining records are all expired or filtered out;
 *   - `lastConsumedKey` is the last stored key returned or skipped; every key after it in walk
 *     order is unread, so resuming strictly after it neither repeats nor loses a record.
 */
import type { Buffer } from "node:buffer";
import { assert } from "../../common/index.ts";
import { isEmptyRange, type KeyRange, positionInRange } from "./key-range.ts";
import type { ReadableStore, StoreRangeOptions } from "./read-store.ts";

export interface CollectBudget {
  readonly countMax: number;
  readonly bytesMax: number;
  readonly examinedMax: number;
}

export interface Selected<T> {
  readonly entry: T;
  /** Bytes the entry costs against `bytesMax`. */
  readonly bytes: number;
}

export interface Collected<T> {
  readonly entries: T[];
  readonly rangeExhausted: boolean;
  readonly lastConsumedKey: Buffer | undefined;
}

function storeRangeOptions(range: KeyRange, reverse: boolean): StoreRangeOptions {
  // lmdb-js walks from `start` towards `end`; in reverse `start` is the upper bound.
  const from = reverse ? range.upper : range.lower;
  const to = reverse ? range.lower : range.upper;
  return {
    ...(from === undefined ? {} : { start: from.key, exclusiveStart: !from.inclusive }),
    ...(to === undefined ? {} : { end: to.key, inclusiveEnd: to.inclusive }),
    reverse,
  };
}

export function collectRange<T>(
  store: ReadableStore,
  range: KeyRange,
  reverse: boolean,
  budget: CollectBudget,
  select: (key: Buffer, value: Buffer) => Selected<T> | undefined,
): Collected<T> {
  assert(
    budget.countMax >= 1 && budget.bytesMax >= 1 && budget.examinedMax >= 1,
    `read budgets must be positive: ${JSON.stringify(budget)}`,
  );
  const entries: T[] = [];
  if (isEmptyRange(range)) return { entries, rangeExhausted: true, lastConsumedKey: undefined };
  // Positions that mean "not reached the range yet" and "walked past it", in walk order.
  const before = reverse ? 1 : -1;
  let bytes = 0;
  let examined = 0;
  let lastConsumedKey: Buffer | undefined;
  for (const { key, value } of store.getRange(storeRangeOptions(range, reverse))) {
    // The store already honours the bounds; rechecking keeps a lenient fake from over-reading.
    const position = positionInRange(key, range);
    if (position === before) continue;
    if (position !== 0) break;
    if (examined >= budget.examinedMax) return { entries, rangeExhausted: false, lastConsumedKey };
    examined++;
    const selected = select(key, value);
    if (selected === undefined) {
      lastConsumedKey = key;
      continue;
    }
    const full = entries.length >= budget.countMax;
    const overSize = entries.length > 0 && bytes + selected.bytes > budget.bytesMax;
    if (full || overSize) return { entries, rangeExhausted: false, lastConsumedKey };
    entries.push(selected.entry);
    bytes += selected.bytes;
    lastConsumedKey = key;
  }
  return { entries, rangeExhausted: true, lastConsumedKey };
}
