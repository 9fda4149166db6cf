/**
 * The storage engine's read side, Pegasus semantics: point reads, multiGet by sort keys or range,
 * batchGet, exist, ttl, sortKeyCount and stateless resumable scans. Every function takes the store
 * handle, the current time (`epochNow`, seconds since 2016-01-01) and the limits that bound it;
 * none reads a clock or keeps state between calls. Expired records and tombstones are invisible
 * everywhere.
 */
export { type MultiGetKeysOptions, multiGet, multiGetRange } from "./multi-get.ts";
export {
  type BatchGetLimits,
  batchGet,
  exist,
  type FullKey,
  type GetResult,
  get,
  TTL_NONE,
  ttl,
} from "./point-read.ts";
export type {
  PointReadOptions,
  ReadableStore,
  ReadTransaction,
  StoreRangeOptions,
} from "./read-store.ts";
export { SCAN_BATCH_SIZE_DEFAULT, scanFirst, scanNext } from "./scan.ts";
export { SCAN_TOKEN_VERSION } from "./scan-token.ts";
export { sortKeyCount } from "./sort-key-count.ts";
