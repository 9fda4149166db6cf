/**
 * The port every read function takes: the part of an lmdb-js `Database<Buffer, Buffer>` (opened
 * with keyEncoding and encoding "binary") that reads use, so an in-memory fake can stand in.
 * Invariants the read side relies on:
 *   - `getRange` yields entries ordered by memcmp of the stored key and reads one snapshot;
 *   - returned keys and values are owned by the caller (lmdb-js copies binary results out of the
 *     map; we never use the volatile `getBinaryFast`), so records can be returned as subarrays;
 *   - a read transaction taken with `useReadTransaction` must be released with `done()`, or it pins
 *     old pages and the map grows; `withReadSnapshot` is the only place that takes one.
 */
import type { Buffer } from "node:buffer";

export interface ReadTransaction {
  done(): void;
}

export interface PointReadOptions {
  readonly transaction?: ReadTransaction;
}

/** The subset of lmdb-js `RangeOptions` we pass. `start`/`end` swap roles when `reverse`. */
export interface StoreRangeOptions {
  readonly start?: Buffer;
  readonly end?: Buffer;
  readonly exclusiveStart?: boolean;
  readonly inclusiveEnd?: boolean;
  readonly reverse?: boolean;
}

export interface ReadableStore {
  get(key: Buffer, options?: PointReadOptions): Buffer | undefined;
  getRange(options: StoreRangeOptions): Iterable<{ readonly key: Buffer; readonly value: Buffer }>;
  /** Optional so fakes need not model snapshots; lmdb-js provides it. */
  useReadTransaction?(): ReadTransaction;
}

/**
 * Runs several point reads against one snapshot, so a multi-key read never mixes two versions of
 * the store (lmdb-js may otherwise renew its shared read transaction between gets after a commit).
 */
export function withReadSnapshot<T>(
  store: ReadableStore,
  read: (options: PointReadOptions) => T,
): T {
  if (store.useReadTransaction === undefined) return read({});
  const transaction = store.useReadTransaction();
  try {
    return read({ transaction });
  } finally {
    transaction.done();
  }
}
