/** The source side of duplication: the pure core, its runtime, ports and dead-letter stores. */

export { ACK_LAG_MARKS_MAX, AckLagMarks, type AckLagObserver } from "./ack-lag.ts";
export {
  DUPLICATE_ENTRY_HEADER_BYTES,
  duplicateEntryBytes,
  type PlannedBatch,
  planBatch,
  type ShipRequest,
} from "./batch-plan.ts";
export {
  DEAD_LETTER_LIST_MAX,
  DEAD_LETTERS_MAX,
  type DeadLetterCounts,
  type DeadLetterListOptions,
  type DeadLetterStore,
  MemoryDeadLetterStore,
  type StoredDeadLetter,
} from "./dead-letter-store.ts";
export type {
  DeadLetterRecord,
  DuplicationError,
  LogTruncatedReason,
  RunStatus,
  SourceAction,
  SourceEvent,
} from "./events.ts";
export {
  DEAD_LETTER_FORMAT_VERSION,
  DEAD_LETTERS_DIR,
  FileDeadLetterStore,
} from "./file-dead-letter-store.ts";
export {
  chooseFullSyncStart,
  fullSyncConfirm,
  fullSyncDecree,
  fullSyncHoldFrom,
  isFullSyncStatus,
  keepsDupCheckpoints,
  type ListedDuplication,
  newestCovering,
  type OpenFloor,
  openFloor,
  type ResyncReport,
} from "./full-sync-plan.ts";
export { DUP_LAG_BUCKETS_SECONDS, DuplicationMetrics } from "./metrics.ts";
export {
  FailMode,
  isFailMode,
  type ResolvedSourceOptions,
  resolveSourceOptions,
  retryDelayMs,
  type SourceOptions,
  sourceDefaults,
} from "./options.ts";
export {
  type DecodedBatch,
  type DuplicationLogReader,
  plogDuplicationReader,
  type RemoteDuplicateOptions,
  type RemoteTable,
  remotePartitionCount,
  tableRemote,
  toDuplicationError,
} from "./ports.ts";
export {
  type ReplayOptions,
  type ReplayResult,
  replayDeadLetters,
  routeEntries,
  type StoredTimetagReader,
  stillCurrent,
} from "./replay.ts";
export {
  countRecords,
  countRecordsNow,
  type RecordSource,
  type ResyncIds,
  ResyncLogReader,
  type ResyncTotals,
  recordEntry,
  recordMutation,
} from "./resync-reader.ts";
export { RETENTION_MARKS_MAX } from "./retention-marks.ts";
export {
  DuplicationShipper,
  type DuplicationShipperDeps,
  type DuplicationShipperOptions,
  type RemoteTableWithCount,
  runStatusOf,
  type ShipperReports,
  type ShipperTimings,
  shipperDefaults,
} from "./shipper.ts";
export { DuplicationSourceCore, minGcHoldDecree, type SourceInit } from "./source-core.ts";
export type { SourcePhase, SourceSnapshot, SourceStats } from "./source-stats.ts";
