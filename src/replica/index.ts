/** The single-replica core: write path, write semantics and reads of one partition replica. */
export type { CheckResolution, CheckValue, RecordReader, VisibleRecord } from "./atomic-ops.ts";
export { CheckType, evaluateCheck, isCheckType } from "./check-type.ts";
export { HybridClock } from "./hybrid-clock.ts";
export { Replica, type ReplicaOptions, type WriteResult } from "./replica.ts";
export { ReplicaReads } from "./replica-reads.ts";
export { decodeReadRequest, decodeWriteRequest, executeRead } from "./request-decoder.ts";
export * from "./write-request.ts";
