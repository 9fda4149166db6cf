/**
 * The storage engine's contract. One lmdb environment per replica:
 *   - named database "data": key = encodeKey(hashKey, sortKey), value = encodeValue(expireTs, timetag, userValue)
 *   - named database "meta": engine bookkeeping (last applied decree and its ballot, largest timestamp applied, format version)
 * Reads only see records that are neither expired nor tombstones.
 */
import type { Buffer } from "node:buffer";

/** Pegasus `filter_type`. */
export const FilterType = {
  NO_FILTER: 0,
  MATCH_ANYWHERE: 1,
  MATCH_PREFIX: 2,
  MATCH_POSTFIX: 3,
} as const;
export type FilterType = (typeof FilterType)[keyof typeof FilterType];

export interface KeyFilter {
  readonly type: FilterType;
  readonly pattern: Buffer;
}

/** A visible record of one hash key. `value` is empty when `noValue` was asked. */
export interface SortKeyValue {
  readonly sortKey: Buffer;
  readonly value: Buffer;
  /** Absolute expiry (seconds since 2016-01-01), 0 = none. */
  readonly expireTs: number;
}

export interface KeyValue extends SortKeyValue {
  readonly hashKey: Buffer;
}

export interface MultiGetRangeOptions {
  /** Empty = from the first sort key. */
  readonly startSortKey?: Buffer;
  /** Empty = to the last sort key. */
  readonly stopSortKey?: Buffer;
  readonly startInclusive?: boolean; // default true
  readonly stopInclusive?: boolean; // default false
  readonly sortKeyFilter?: KeyFilter;
  /** Most records to return; <= 0 or absent = the engine's multiGetKvCountMax. */
  readonly maxKvCount?: number;
  /** Most bytes (sort keys + values) to return; <= 0 or absent = the engine's readBytesMax. */
  readonly maxKvSize?: number;
  readonly reverse?: boolean;
  readonly noValue?: boolean;
}

export interface MultiGetResult {
  readonly kvs: readonly SortKeyValue[];
  /** True when a limit stopped the read before the end of the range (Pegasus kIncomplete). */
  readonly incomplete: boolean;
}

export interface ScanOptions {
  /** Inclusive/exclusive bounds over stored keys; absent = whole partition. */
  readonly startKey?: { readonly hashKey: Buffer; readonly sortKey: Buffer };
  readonly stopKey?: { readonly hashKey: Buffer; readonly sortKey: Buffer };
  readonly startInclusive?: boolean; // default true
  readonly stopInclusive?: boolean; // default false
  readonly hashKeyFilter?: KeyFilter;
  readonly sortKeyFilter?: KeyFilter;
  /** Records per batch; default 100, capped by scanBatchCountMax. */
  readonly batchSize?: number;
  readonly noValue?: boolean;
}

export interface ScanBatch {
  readonly kvs: readonly KeyValue[];
  /** Present when more records may follow: pass it back to `scanNext` to resume after the last key. */
  readonly continuationToken?: string;
}

export interface ApplyContext {
  /** This cluster's id in `[duplication-group]`, 0 when unconfigured. Stamped into local writes' timetags. */
  readonly clusterId: number;
  /**
   * Whether local deletes leave tombstones (true on tables that are duplicated). Deletes that arrive
   * by duplication always leave tombstones.
   */
  readonly keepTombstones: boolean;
}

export interface ApplyResult {
  readonly decree: number;
  /** Duplicated entries (per key) dropped by last-write-wins because the stored timetag was newer. */
  readonly staleEntriesSkipped: number;
  /** Per update, when the mutation held several DUPLICATE updates (see ApplyOutcome). */
  readonly staleEntriesSkippedByUpdate?: readonly number[];
}

export interface SweepResult {
  /** Expired records removed (or turned into tombstones when tombstones are kept). */
  readonly expired: number;
  /** Tombstones older than the retention that were collected. */
  readonly tombstonesCollected: number;
  /** True when the sweep stopped at its budget before reaching the end. */
  readonly budgetExhausted: boolean;
}

export interface CheckpointInfo {
  /** Directory holding the consistent copy. */
  readonly path: string;
  /** The last applied decree the copy contains. */
  readonly decree: number;
  /** `mutation.ballot` of the mutation at `decree` (0 when unknown). */
  readonly ballot: number;
  readonly bytes: number;
}
