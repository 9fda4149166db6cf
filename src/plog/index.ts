/**
 * The private log (plog): one per replica, an append-only, group-committed, segmented log of
 * `{ decree, payload }` records. See private-log.ts for the contract and format.ts for the layout.
 */
export { type PlannedBlock, planBlocks } from "./block-planner.ts";
export {
  BLOCK_HEADER_BYTES,
  FORMAT_VERSION,
  type LogRecord,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "./format.ts";
export { nodeFs, type PlogFileHandle, type PlogFs, type PlogOpenFlags } from "./fs-port.ts";
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
