/**
 * Partition configurations and table (app) descriptions as the meta server owns them.
 *
 * A partition configuration `(ballot, primary, secondaries)` is changed only by the meta server,
 * and every change increases the ballot. Replicas act on the configuration with the largest
 * ballot they have seen and refuse messages carrying a smaller one.
 */
import type { Gpid, NodeAddress } from "./ids.ts";

export interface PartitionConfiguration {
  readonly gpid: Gpid;
  readonly ballot: number;
  /** Absent while the partition has no live primary. */
  readonly primary?: NodeAddress;
  readonly secondaries: readonly NodeAddress[];
  /** The table's replica count: how many of primary + secondaries the meta server aims for. */
  readonly maxReplicaCount: number;
  /** The largest committed decree the meta server has heard of (from beacons). */
  readonly lastCommittedDecree: number;
  /**
   * Members removed from the partition (dead, or removed by the primary), oldest first, most
   * recent last (Pegasus `last_drops`). When every member is gone the last one dropped is the
   * only node known to hold all committed writes: the meta server re-admits it as primary when it
   * returns and never promotes anyone else. Absent means empty.
   */
  readonly lastDrops?: readonly NodeAddress[];
  /**
   * Full duplication, on a follower table: the primary's copy progress while it pulls the
   * partition's checkpoint from the master cluster (from its beacons; not persisted).
   */
  readonly followerCopy?: FollowerCopyProgress;
}

export const AppStatus = {
  AVAILABLE: "AVAILABLE",
  DROPPED: "DROPPED",
} as const;
export type AppStatus = (typeof AppStatus)[keyof typeof AppStatus];

export interface AppInfo {
  readonly appId: number;
  readonly appName: string;
  readonly partitionCount: number;
  readonly replicaCount: number;
  readonly status: AppStatus;
  readonly envs: Readonly<Record<string, string>>;
  readonly createdAtMs: number;
  /** When the table was dropped; it can be recalled until `dropExpireAtMs`. */
  readonly droppedAtMs?: number;
  readonly dropExpireAtMs?: number;
}

/** What one replica server says about one replica it hosts (in beacons). */
export const ReplicaStatus = {
  PRIMARY: "PRIMARY",
  SECONDARY: "SECONDARY",
  LEARNER: "LEARNER",
  INACTIVE: "INACTIVE",
  ERROR: "ERROR",
} as const;
export type ReplicaStatus = (typeof ReplicaStatus)[keyof typeof ReplicaStatus];

export interface ReplicaReport {
  readonly gpid: Gpid;
  readonly ballot: number;
  readonly status: ReplicaStatus;
  readonly lastCommittedDecree: number;
  readonly lastPreparedDecree: number;
  /**
   * Full duplication, follower side: set while this server copies the partition's checkpoint from
   * the master cluster (the replica is not open yet; status INACTIVE at ballot 0).
   */
  readonly followerCopy?: FollowerCopyProgress;
}

/** How far a follower primary has copied its partition's checkpoint from the master cluster. */
export interface FollowerCopyProgress {
  readonly copiedBytes: number;
  /** 0 while the file list is not known yet. */
  readonly totalBytes: number;
}
