/**
 * Stateless partition scans (Pegasus `get_scanner` / `scan`, without server-side contexts): each
 * batch walks stored keys in order from the start bound (scanFirst) or strictly after the token's
 * last examined key (scanNext) and returns visible records passing the hash-key and sort-key
 * filters. Invariants:
 *   - a batch holds at most min(batchSize, scanBatchCountMax) records and readBytesMax bytes of
 *     hash keys + sort keys + values (first record always taken), and examines at most
 *     scanIterationCountMax stored records, so a batch may be empty yet carry a token;
 *   - the token resumes strictly after the last record examined, so concatenated batches are
 *     exactly the visible, matching records of the range in key order, each once, even while the
 *     records already passed are rewritten (records not yet reached are read as they are then);
 *   - no token means the range is finished; a token means more records may follow.
 */
import type { Buffer } from "node:buffer";
import { decodeKey, encodeKey } from "../../codec/index.ts";
import { assert, type ReadLimits } from "../../common/index.ts";
import type { KeyValue, ScanBatch, ScanOptions } from "../types.ts";
import { checkKeyFilter, matchesKeyFilter } from "./key-filter.ts";
import type { RangeBound } from "./key-range.ts";
import {
  checkBytes,
  checkOptionalBoolean,
  checkOptionalInteger,
  invalidParameter,
} from "./option-checks.ts";
import { collectRange } from "./range-collector.ts";
import type { ReadableStore } from "./read-store.ts";
import { decodeScanToken, encodeScanToken, type ScanCursor } from "./scan-token.ts";
import { decodeVisible, NO_VALUE } from "./visible-value.ts";

/** Records per batch when the caller does not say (Pegasus client default is 1000; ours is smaller). */
export const SCAN_BATCH_SIZE_DEFAULT = 100;

/** The batch size field of a token is a u32. */
const BATCH_SIZE_ENCODABLE_MAX = 0xffff_ffff;

type ScanPlan = Omit<ScanCursor, "lastKey">;

function checkScanKey(
  key: { readonly hashKey: Buffer; readonly sortKey: Buffer } | undefined,
  option: string,
): void {
  if (key === undefined) return;
  if (typeof key !== "object" || key === null) throw invalidParameter(option, "expected a key");
  checkBytes(key.hashKey, `${option}.hashKey`);
  checkBytes(key.sortKey, `${option}.sortKey`);
}

function bound(
  key: { readonly hashKey: Buffer; readonly sortKey: Buffer } | undefined,
  inclusive: boolean,
): RangeBound | undefined {
  return key === undefined ? undefined : { key: encodeKey(key.hashKey, key.sortKey), inclusive };
}

/**
 * Starts a scan. Bounds are over stored keys: `startKey`/`stopKey` are encoded as given, so a
 * stop key with an empty sort key stops before that hash key. Absent bounds are open.
 */
export function scanFirst(
  store: ReadableStore,
  options: ScanOptions,
  epochNow: number,
  limits: ReadLimits,
): ScanBatch {
  checkScanKey(options.startKey, "startKey");
  checkScanKey(options.stopKey, "stopKey");
  checkOptionalBoolean(options.startInclusive, "startInclusive");
  checkOptionalBoolean(options.stopInclusive, "stopInclusive");
  checkOptionalBoolean(options.noValue, "noValue");
  checkKeyFilter(options.hashKeyFilter, "hashKeyFilter");
  checkKeyFilter(options.sortKeyFilter, "sortKeyFilter");
  checkOptionalInteger(options.batchSize, "batchSize");
  const batchSize = options.batchSize ?? SCAN_BATCH_SIZE_DEFAULT;
  if (batchSize < 1) throw invalidParameter("batchSize", `must be at least 1, got ${batchSize}`);

  const plan: ScanPlan = {
    stop: bound(options.stopKey, options.stopInclusive ?? false),
    hashKeyFilter: options.hashKeyFilter,
    sortKeyFilter: options.sortKeyFilter,
    // Capped here so the token's u32 field always holds it; re-capped per batch anyway.
    batchSize: Math.min(batchSize, limits.scanBatchCountMax, BATCH_SIZE_ENCODABLE_MAX),
    noValue: options.noValue === true,
  };
  return scanBatch(
    store,
    bound(options.startKey, options.startInclusive ?? true),
    plan,
    epochNow,
    limits,
  );
}

/** Continues a scan from a token returned by scanFirst or scanNext. */
export function scanNext(
  store: ReadableStore,
  continuationToken: string,
  epochNow: number,
  limits: ReadLimits,
): ScanBatch {
  const cursor = decodeScanToken(continuationToken);
  return scanBatch(store, { key: cursor.lastKey, inclusive: false }, cursor, epochNow, limits);
}

function scanBatch(
  store: ReadableStore,
  lower: RangeBound | undefined,
  plan: ScanPlan,
  epochNow: number,
  limits: ReadLimits,
): ScanBatch {
  const { hashKeyFilter, sortKeyFilter, noValue } = plan;
  const collected = collectRange<KeyValue>(
    store,
    { lower, upper: plan.stop },
    false,
    {
      countMax: Math.min(plan.batchSize, limits.scanBatchCountMax),
      bytesMax: limits.readBytesMax,
      examinedMax: limits.scanIterationCountMax,
    },
    (key, stored) => {
      const { hashKey, sortKey } = decodeKey(key);
      if (!matchesKeyFilter(hashKey, hashKeyFilter)) return undefined;
      if (!matchesKeyFilter(sortKey, sortKeyFilter)) return undefined;
      const visible = decodeVisible(stored, epochNow);
      if (visible === undefined) return undefined;
      const value = noValue ? NO_VALUE : visible.value;
      return {
        entry: { hashKey, sortKey, value, expireTs: visible.expireTs },
        bytes: hashKey.length + sortKey.length + value.length,
      };
    },
  );
  if (collected.rangeExhausted) return { kvs: collected.entries };
  const lastKey = collected.lastConsumedKey;
  // Positive budgets (asserted by collectRange) mean an unfinished walk consumed a record.
  assert(lastKey !== undefined, "unfinished scan batch consumed no record");
  return { kvs: collected.entries, continuationToken: encodeScanToken({ ...plan, lastKey }) };
}
