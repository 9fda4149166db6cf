/**
 * One partition replica: write semantics, reads, and the runtime that drives the replication
 * core with the private log and storage (PartitionReplica); Replica is a lone replica.
 */
export type { CheckResolution, CheckValue, RecordReader, VisibleRecord } from "./atomic-ops.ts";
export { CheckType, evaluateCheck, isCheckType } from "./check-type.ts";
export {
  discardCopiedCheckpoint,
  installCopiedCheckpoint,
  replicaDirHasData,
  replicaDirInstalled,
} from "./follower-install.ts";
export { HybridClock } from "./hybrid-clock.ts";
export { PartitionReplica } from "./partition-replica.ts";
export {
  type PartitionReplicaDeps,
  type PartitionReplicaOptions,
  replicaDefaults,
  systemTickTimer,
  type TickTimer,
} from "./partition-replica-options.ts";
export { Replica, type ReplicaOptions, STANDALONE_NODE } from "./replica.ts";
export { type LogOpener, openPrivateLogOn } from "./replica-files.ts";
export type { ReplicaLog } from "./replica-log.ts";
export { ReplicaReads } from "./replica-reads.ts";
export { decodeReadRequest, decodeWriteRequest, executeRead } from "./request-decoder.ts";
export * from "./write-request.ts";
export { type CoalesceLimits, defaultCoalesceLimits } from "./write-sequencer.ts";
