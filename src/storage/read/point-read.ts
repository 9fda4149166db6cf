/**
 * Single-key reads with Pegasus semantics (`on_get`, `on_ttl`, `on_batch_get`): an expired record
 * or a tombstone reads exactly like a missing one. batchGet reads every key in one snapshot and
 * answers in request order, one slot per requested key (duplicates included).
 */
import type { Buffer } from "node:buffer";
import { encodeKey } from "../../codec/index.ts";
import { checkLimit, type ReadLimits, type WriteLimits } from "../../common/index.ts";
import type { KeyValue } from "../types.ts";
import { checkBytes } from "./option-checks.ts";
import { type PointReadOptions, type ReadableStore, withReadSnapshot } from "./read-store.ts";
import { decodeVisible } from "./visible-value.ts";

export interface GetResult {
  readonly value: Buffer;
  /** Absolute expiry (seconds since 2016-01-01), 0 = none. */
  readonly expireTs: number;
}

export interface FullKey {
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
}

/** batchGet is bounded in keys like any multi-key operation and in bytes like any read. */
export type BatchGetLimits = Pick<WriteLimits, "multiOpCountMax"> &
  Pick<ReadLimits, "readBytesMax">;

/** Pegasus `ttl_seconds` for a record without TTL. */
export const TTL_NONE = -1;

function readVisible(
  store: ReadableStore,
  hashKey: Buffer,
  sortKey: Buffer,
  epochNow: number,
  options?: PointReadOptions,
): GetResult | undefined {
  checkBytes(hashKey, "hashKey");
  checkBytes(sortKey, "sortKey");
  const stored = decodeVisible(store.get(encodeKey(hashKey, sortKey), options), epochNow);
  return stored === undefined ? undefined : { value: stored.value, expireTs: stored.expireTs };
}

export function get(
  store: ReadableStore,
  hashKey: Buffer,
  sortKey: Buffer,
  epochNow: number,
): GetResult | undefined {
  return readVisible(store, hashKey, sortKey, epochNow);
}

export function exist(
  store: ReadableStore,
  hashKey: Buffer,
  sortKey: Buffer,
  epochNow: number,
): boolean {
  return readVisible(store, hashKey, sortKey, epochNow) !== undefined;
}

/**
 * Remaining time to live in seconds: `undefined` when not found, TTL_NONE (-1) when the record
 * never expires. A visible record with a TTL always has at least 1 second left.
 */
export function ttl(
  store: ReadableStore,
  hashKey: Buffer,
  sortKey: Buffer,
  epochNow: number,
): number | undefined {
  const found = readVisible(store, hashKey, sortKey, epochNow);
  if (found === undefined) return undefined;
  return found.expireTs === 0 ? TTL_NONE : found.expireTs - epochNow;
}

/**
 * Throws ERR_LIMIT_EXCEEDED when more than `multiOpCountMax` keys are asked for, or when the found
 * hash keys + sort keys + values add up to more than `readBytesMax` (batchGet has no
 * "incomplete" answer, so it refuses rather than truncates).
 */
export function batchGet(
  store: ReadableStore,
  keys: readonly FullKey[],
  epochNow: number,
  limits: BatchGetLimits,
): (KeyValue | undefined)[] {
  checkLimit("multiOpCountMax", keys.length, limits.multiOpCountMax, "batchGet key count");
  return withReadSnapshot(store, (options) => {
    let bytes = 0;
    return keys.map(({ hashKey, sortKey }) => {
      const found = readVisible(store, hashKey, sortKey, epochNow, options);
      if (found === undefined) return undefined;
      bytes += hashKey.length + sortKey.length + found.value.length;
      checkLimit("readBytesMax", bytes, limits.readBytesMax, "batchGet result bytes");
      return { hashKey, sortKey, value: found.value, expireTs: found.expireTs };
    });
  });
}
