/**
 * The meta core: the meta server's pure decision logic (tables, partition configurations, failure
 * detection, reassignment, re-replication, balancing), driven by events and emitting persist and
 * reply actions. The meta server process (I/O, meta store, RPC, timers) wraps it; the simulator
 * drives it directly. See docs/meta-server.md.
 */
export type { AppEnvValidator } from "./app-ddl.ts";
export {
  type DuplicationOptions,
  type DuplicationRecord,
  type DuplicationRemoteTask,
  duplicationPath,
  duplicationTransitions,
  isValidTransition,
  pegasusQueryJson,
  progressPath,
} from "./duplication/index.ts";
export {
  type DdlMethodName,
  type DdlRequest,
  ddlMethods,
  type MetaAction,
  type MetaEvent,
  type MetaMethodName,
  type MetaMethodTypes,
  type MetaRequest,
  type MetaResult,
  type OpId,
  type PersistKind,
  type RequestId,
} from "./events.ts";
export {
  appPath,
  appsPath,
  layoutFormatVersion,
  type MetaRecord,
  type MetaStoreWrite,
  nextAppIdPath,
  partitionPath,
} from "./layout.ts";
export { MetaCore, type MetaCoreDeps } from "./meta-core.ts";
export {
  defaultMetaCoreOptions,
  type MetaCoreOptions,
  type MetaCoreOptionsInput,
  partitionCountMin,
  replicaCountMin,
  resolveMetaCoreOptions,
} from "./options.ts";
export { type PartitionHealth, partitionHealth } from "./queries.ts";
export type { RestoreProblem, RestoreReport } from "./restore.ts";
export type { DurableState } from "./state.ts";
