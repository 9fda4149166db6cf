/**
 * A mutation is the unit the private log stores, replication ships and storage applies: one decree,
 * the ballot it was assigned under, the primary's hybrid-clock timestamp, and a list of updates.
 * Every update is idempotent: atomic operations (incr, checkAndSet, checkAndMutate) are evaluated
 * by the primary and logged as the puts and removes they resolve to, so replaying or duplicating a
 * log never evaluates them again.
 */

/** Update kinds; the numeric values are the wire values of the mutation codec. */
export const UpdateKind = {
  PUT: 1,
  REMOVE: 2,
  MULTI_PUT: 3,
  MULTI_REMOVE: 4,
  DUPLICATE: 5,
  EMPTY: 6,
} as const;
export type UpdateKind = (typeof UpdateKind)[keyof typeof UpdateKind];

export interface PutUpdate {
  readonly kind: typeof UpdateKind.PUT;
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
  readonly value: Buffer;
  /** Absolute expiry, seconds since 2016-01-01T00:00:00Z; 0 = none. */
  readonly expireTs: number;
}

export interface RemoveUpdate {
  readonly kind: typeof UpdateKind.REMOVE;
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
}

export interface MultiPutUpdate {
  readonly kind: typeof UpdateKind.MULTI_PUT;
  readonly hashKey: Buffer;
  readonly kvs: readonly { readonly sortKey: Buffer; readonly value: Buffer }[];
  readonly expireTs: number;
}

export interface MultiRemoveUpdate {
  readonly kind: typeof UpdateKind.MULTI_REMOVE;
  readonly hashKey: Buffer;
  readonly sortKeys: readonly Buffer[];
}

/** A write as it travels between clusters: its source timestamp and source cluster id form its timetag. */
export type DuplicableUpdate = PutUpdate | RemoveUpdate | MultiPutUpdate | MultiRemoveUpdate;

export interface DuplicateEntry {
  /** The source mutation's timestamp (µs since the Unix epoch). */
  readonly timestampUs: number;
  /** The source cluster's id from `[duplication-group]` (1..127). */
  readonly clusterId: number;
  readonly update: DuplicableUpdate;
}

/** A batch of writes received from a remote cluster; applied atomically with last-write-wins. */
export interface DuplicateUpdate {
  readonly kind: typeof UpdateKind.DUPLICATE;
  readonly entries: readonly DuplicateEntry[];
  /**
   * The entries are a remote's full re-sync (a checkpoint's records): storage keeps the last such
   * decree (`last_resync_decree`), so this replica's own duplications know, after any restart or
   * change of primary, which part of the log holds writes they never ship on. On the wire: kind
   * DUPLICATE_RESYNC_WIRE (mutation-codec.ts). Only `true` or absent, so the encoding stays canonical.
   */
  readonly resync?: true;
}

/** Advances the decree without data (new primary's first mutation, LWW-dropped requests). */
export interface EmptyUpdate {
  readonly kind: typeof UpdateKind.EMPTY;
}

export type Update = DuplicableUpdate | DuplicateUpdate | EmptyUpdate;

export interface Mutation {
  readonly ballot: number;
  readonly decree: number;
  /** Hybrid-clock timestamp of the primary that created it, µs since the Unix epoch. */
  readonly timestampUs: number;
  readonly updates: readonly Update[];
}
