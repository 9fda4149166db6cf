/**
 * Full duplication, follower side: copying a partition's checkpoint from the master cluster
 * before its replica opens (docs/duplication.md, "Full duplication: the follower side").
 */
export {
  type BodySink,
  type BodyTransfer,
  type CheckpointFileRef,
  CheckpointHttpClient,
  CheckpointHttpError,
  type CheckpointHttpOptions,
} from "./checkpoint-http.ts";
export {
  type CopyState,
  copyDirOf,
  copyFilesDirOf,
  FOLLOWER_COPY_DIR,
  readCopyState,
  writeCopyState,
} from "./copy-state.ts";
export {
  FollowerCopies,
  type FollowerCopiesDeps,
  type FollowerCopiesOptions,
  followerMasterOf,
} from "./follower-copies.ts";
export {
  FollowerCopy,
  type FollowerCopyDeps,
  type FollowerCopyInit,
  type InstalledCopy,
} from "./follower-copy.ts";
export {
  decodeOpenResponse,
  MasterClient,
  type MasterConnector,
  type MasterPartition,
  type MasterRef,
} from "./master-client.ts";
export { FollowerCopyMetrics } from "./metrics.ts";
export {
  type FollowerCopyLimits,
  followerCopyDefaults,
  resolveFollowerCopyLimits,
} from "./options.ts";
export {
  abortableSleep,
  systemBucketDeps,
  TokenBucket,
  type TokenBucketDeps,
} from "./token-bucket.ts";
