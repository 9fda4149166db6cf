/** The storage subsystem's public face: the engine, its contract types and its named bounds. */
export { type AdoptedCheckpoint, adoptCopiedCheckpoint } from "./adopt-checkpoint.ts";
export { type ApplyOutcome, applyMutation, type RecordStore } from "./apply.ts";
export { CHECKPOINT_MANIFEST_FILE, type CheckpointManifest, readManifest } from "./checkpoint.ts";
export {
  CHECKPOINT_READ_RECORDS_MAX,
  CheckpointReader,
  type StoredRecord,
} from "./checkpoint-reader.ts";
export {
  DEFAULT_TOMBSTONE_RETENTION_SECONDS,
  StorageEngine,
  type StorageEngineOptions,
  type StorageStats,
  type SweeperOptions,
  type SweepOptions,
} from "./engine.ts";
export { type BinaryDb, LMDB_LOCK_FILE, STORED_KEY_BYTES_MAX } from "./lmdb-env.ts";
export { FORMAT_VERSION } from "./meta-store.ts";
export * as read from "./read/index.ts";
export { SWEEP_BUDGET_RECORDS_MAX } from "./sweep.ts";
export * from "./types.ts";
