/**
 * The private log (plog): one per replica, a group-committed, segmented log of `{ decree, payload }`
 * records, appended at the end, truncated at the end or reset. See private-log.ts for the contract,
 * format.ts for the layout and truncation.ts for truncation and reset.
 */
export { type PlannedBlock, planBlocks } from "./block-planner.ts";
export {
  FDATASYNC_MODES,
  FdatasyncGovernor,
  type FdatasyncGovernorOptions,
  type FdatasyncMode,
  type FdatasyncPlace,
  type FdatasyncSwitch,
  fdatasyncGovernorDefaults,
  SAMPLES_KEPT as FDATASYNC_SAMPLES_KEPT,
  SAMPLES_TO_DECIDE as FDATASYNC_SAMPLES_TO_DECIDE,
} from "./fdatasync-governor.ts";
export {
  BLOCK_HEADER_BYTES,
  FORMAT_VERSION,
  type LogRecord,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "./format.ts";
export {
  createNodeFs,
  FdatasyncRunner,
  type FdatasyncStats,
  nodeFs,
  type PlogFileHandle,
  type PlogFs,
  type PlogOpenFlags,
} from "./fs-port.ts";
export type { IntentReport } from "./intent-steps.ts";
export { type CrashKeep, MemoryFs } from "./memory-fs.ts";
export { defaultPrivateLogOptions, type PrivateLogOptions } from "./options.ts";
export {
  type GcResult,
  PrivateLog,
  type PrivateLogDeps,
  type ReadOptions,
  type ReplayOptions,
  type SegmentInfo,
} from "./private-log.ts";
export type { OpenReport, TruncationReport } from "./recovery.ts";
export { formatSegmentName, parseSegmentName, type SegmentName } from "./segment-name.ts";
export type { PrivateLogStats, RandomBytes } from "./segment-writer.ts";
