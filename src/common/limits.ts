/**
 * Every bound in Talaria has a name and a default here; docs/limits.md documents each one and a
 * test keeps the two in sync. Format limits (fixed by an encoding) cannot be configured.
 */
export const formatLimits = {
  /** u16 length prefix of the stored key. */
  hashKeyBytesMax: 65_535,
  /** u32 expireTs in the value header. */
  expireTsMax: 0xffff_ffff,
  /** clusterId occupies 7 bits of the timetag. */
  clusterIdMax: 127,
  /**
   * Largest stored key, `2 + len(hashKey) + len(sortKey)`: the most lmdb-js accepts as a key.
   * Checked before a write gets a decree, since a logged write that storage cannot hold would
   * block its replica.
   */
  storedKeyBytesMax: 1978,
} as const;

export interface WriteLimits {
  /** Largest encoded write request accepted (Pegasus `max_allowed_write_size`). */
  readonly writeBytesMax: number;
  /** Most entries in one multiSet / multiDel / checkAndMutate / batchGet. */
  readonly multiOpCountMax: number;
}

export const defaultWriteLimits: WriteLimits = {
  writeBytesMax: 1024 * 1024,
  multiOpCountMax: 1000,
};

export interface ReadLimits {
  /** Most records one multiGet returns (Pegasus `rocksdb_multi_get_max_iteration_count`). */
  readonly multiGetKvCountMax: number;
  /** Most bytes (keys + values) one multiGet or scan batch returns. */
  readonly readBytesMax: number;
  /** Most records one scan batch returns. */
  readonly scanBatchCountMax: number;
  /** Most records a scan batch examines (including filtered-out ones) before returning. */
  readonly scanIterationCountMax: number;
}

export const defaultReadLimits: ReadLimits = {
  multiGetKvCountMax: 3000,
  readBytesMax: 10 * 1024 * 1024,
  scanBatchCountMax: 10_000,
  scanIterationCountMax: 100_000,
};
