/**
 * Pegasus `multi_get` on one hash key, by a list of sort keys or by a sort-key range
 * (`on_multi_get` in pegasus_server_impl.cpp). Invariants:
 *   - results are ordered by sort key ascending, also for `reverse` (reverse only chooses which
 *     end of the range the limits keep: the last records instead of the first), as Pegasus does;
 *   - at most min(maxKvCount, multiGetKvCountMax) records and min(maxKvSize, readBytesMax) bytes
 *     of sort keys + values (the first record is always returned, see range-collector.ts);
 *   - `incomplete` is true exactly when a limit left a visible, matching record unreturned, or the
 *     examined-record bound (scanIterationCountMax) stopped the walk first;
 *   - an inverted range (start > stop, or equal and not both inclusive) is empty, not an error.
 */
import type { Buffer } from "node:buffer";
import { encodeKey, hashKeyPrefix } from "../../codec/index.ts";
import { checkLimit, type ReadLimits } from "../../common/index.ts";
import {
  FilterType,
  type MultiGetRangeOptions,
  type MultiGetResult,
  type SortKeyValue,
} from "../types.ts";
import { checkKeyFilter, isPassThrough, matchesKeyFilter } from "./key-filter.ts";
import { hashKeyRange, intersectRanges, type KeyRange, prefixRange } from "./key-range.ts";
import {
  asBuffer,
  checkBytes,
  checkOptionalBoolean,
  checkOptionalBytes,
  checkOptionalInteger,
  effectiveMax,
  invalidParameter,
} from "./option-checks.ts";
import { collectRange } from "./range-collector.ts";
import { type ReadableStore, withReadSnapshot } from "./read-store.ts";
import { decodeVisible, NO_VALUE } from "./visible-value.ts";

export interface MultiGetKeysOptions {
  /** Most records to return; <= 0 or absent = the engine's multiGetKvCountMax. */
  readonly maxKvCount?: number;
  /** Most bytes (sort keys + values) to return; <= 0 or absent = the engine's readBytesMax. */
  readonly maxKvSize?: number;
  readonly noValue?: boolean;
}

function checkKeysOptions(options: MultiGetKeysOptions): void {
  checkOptionalInteger(options.maxKvCount, "maxKvCount");
  checkOptionalInteger(options.maxKvSize, "maxKvSize");
  checkOptionalBoolean(options.noValue, "noValue");
}

/**
 * Reads the given sort keys, deduplicated, in sort-key order. An empty list reads the whole hash
 * key (Pegasus: "empty sort_keys means all sort keys"). More sort keys than multiGetKvCountMax is
 * ERR_LIMIT_EXCEEDED, since each one costs a lookup whether or not it is found.
 */
export function multiGet(
  store: ReadableStore,
  hashKey: Buffer,
  sortKeys: readonly Buffer[],
  options: MultiGetKeysOptions,
  epochNow: number,
  limits: ReadLimits,
): MultiGetResult {
  checkBytes(hashKey, "hashKey");
  if (!Array.isArray(sortKeys)) throw invalidParameter("sortKeys", "expected an array");
  for (const sortKey of sortKeys) checkBytes(sortKey, "sortKeys[]");
  checkLimit(
    "multiGetKvCountMax",
    sortKeys.length,
    limits.multiGetKvCountMax,
    "multiGet sort keys",
  );
  checkKeysOptions(options);
  if (sortKeys.length === 0) return multiGetRange(store, hashKey, options, epochNow, limits);

  const sorted = sortKeys.map(asBuffer).sort((a, b) => a.compare(b));
  const countMax = effectiveMax(options.maxKvCount, limits.multiGetKvCountMax);
  const bytesMax = effectiveMax(options.maxKvSize, limits.readBytesMax);
  return withReadSnapshot(store, (readOptions) => {
    const kvs: SortKeyValue[] = [];
    let bytes = 0;
    let previous: Buffer | undefined;
    for (const sortKey of sorted) {
      if (previous?.equals(sortKey)) continue;
      previous = sortKey;
      const stored = decodeVisible(store.get(encodeKey(hashKey, sortKey), readOptions), epochNow);
      if (stored === undefined) continue;
      const value = options.noValue === true ? NO_VALUE : stored.value;
      const recordBytes = sortKey.length + value.length;
      if (kvs.length >= countMax || (kvs.length > 0 && bytes + recordBytes > bytesMax)) {
        return { kvs, incomplete: true };
      }
      kvs.push({ sortKey, value, expireTs: stored.expireTs });
      bytes += recordBytes;
    }
    return { kvs, incomplete: false };
  });
}

/**
 * The stored-key range of a multiGet range request. An empty or absent stop sort key means the
 * end of the hash key whatever `stopInclusive` says; an absent start sort key is the empty sort
 * key, so `startInclusive: false` skips a record stored under the empty sort key (as Pegasus).
 * A MATCH_PREFIX filter narrows the range to the sort keys that can match.
 */
function requestRange(hashKey: Buffer, options: MultiGetRangeOptions): KeyRange {
  const lower = {
    key: encodeKey(hashKey, options.startSortKey ?? NO_VALUE),
    inclusive: options.startInclusive ?? true,
  };
  const stopSortKey = options.stopSortKey;
  const upper =
    stopSortKey === undefined || stopSortKey.length === 0
      ? hashKeyRange(hashKey).upper
      : { key: encodeKey(hashKey, stopSortKey), inclusive: options.stopInclusive ?? false };
  const range: KeyRange = { lower, upper };
  const filter = options.sortKeyFilter;
  if (filter?.type !== FilterType.MATCH_PREFIX || isPassThrough(filter)) return range;
  return intersectRanges(range, prefixRange(encodeKey(hashKey, filter.pattern)));
}

export function multiGetRange(
  store: ReadableStore,
  hashKey: Buffer,
  options: MultiGetRangeOptions,
  epochNow: number,
  limits: ReadLimits,
): MultiGetResult {
  checkBytes(hashKey, "hashKey");
  checkOptionalBytes(options.startSortKey, "startSortKey");
  checkOptionalBytes(options.stopSortKey, "stopSortKey");
  checkOptionalBoolean(options.startInclusive, "startInclusive");
  checkOptionalBoolean(options.stopInclusive, "stopInclusive");
  checkOptionalBoolean(options.reverse, "reverse");
  checkKeyFilter(options.sortKeyFilter, "sortKeyFilter");
  checkKeysOptions(options);

  const sortKeyOffset = hashKeyPrefix(hashKey).length;
  const filter = options.sortKeyFilter;
  const noValue = options.noValue === true;
  const reverse = options.reverse === true;
  const collected = collectRange(
    store,
    requestRange(hashKey, options),
    reverse,
    {
      countMax: effectiveMax(options.maxKvCount, limits.multiGetKvCountMax),
      bytesMax: effectiveMax(options.maxKvSize, limits.readBytesMax),
      examinedMax: limits.scanIterationCountMax,
    },
    (key, stored) => {
      const sortKey = key.subarray(sortKeyOffset);
      if (!matchesKeyFilter(sortKey, filter)) return undefined;
      const visible = decodeVisible(stored, epochNow);
      if (visible === undefined) return undefined;
      const value = noValue ? NO_VALUE : visible.value;
      return {
        entry: { sortKey, value, expireTs: visible.expireTs },
        bytes: sortKey.length + value.length,
      };
    },
  );
  const kvs = reverse ? collected.entries.reverse() : collected.entries;
  return { kvs, incomplete: !collected.rangeExhausted };
}
