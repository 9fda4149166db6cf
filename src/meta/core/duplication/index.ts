/**
 * The meta core's duplication control plane: statuses and transitions, add / modify / query /
 * list, the duplication sync with the start-point protocol, persistence and restore.
 * See docs/duplication.md.
 */

export type { DuplicationRecord } from "./duplication.ts";
export { DuplicationCore, type DuplicationCoreContext, initHint } from "./duplication-core.ts";
export { fullSyncHint } from "./full-sync.ts";
export {
  dupidMax,
  duplicationPath,
  duplicationsPath,
  encodeDuplication,
  encodeProgress,
  progressPath,
} from "./layout.ts";
export {
  type DuplicationOptions,
  defaultDuplicationOptions,
  resolveDuplicationOptions,
} from "./options.ts";
export { type OrphanMark, orphanMarkPath, orphanMarksPath } from "./orphan-marks.ts";
export { DuplicationRegistry } from "./registry.ts";
export {
  type CopyProgress,
  type DuplicationRemoteTask,
  type FollowerReadiness,
  followerEnvs,
  followerReadiness,
  retryDelayMs,
} from "./remote-tasks.ts";
export { type DuplicationRecordInput, restoreDuplications } from "./restore.ts";
export {
  checkAlteration,
  duplicationFailModes,
  duplicationStatuses,
  duplicationTransitions,
  isValidTransition,
} from "./status.ts";
export { formatCreateTs, matchesPattern, pegasusQueryJson } from "./views.ts";
