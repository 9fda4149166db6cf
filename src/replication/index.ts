/**
 * Replication inside a cluster (PacificA, as in Apache Pegasus): the pure per-replica core.
 * The runtime adapter (plog, storage, RPC) drives it; the simulator (src/sim) drives the same
 * core with virtual time. See docs/replication.md.
 */
export { defaultReplicationOptions, type ReplicationOptions } from "./core/options.ts";
export { PrepareList } from "./core/prepare-list.ts";
export { ReplicaCore, type ReplicaCoreOptions } from "./core/replica-core.ts";
export {
  emptyRecoveredState,
  type RecoveredState,
  type ReplicaCoreSnapshot,
  type ReplicationAction,
  type ReplicationEvent,
  type ReplyResult,
} from "./core/types.ts";
