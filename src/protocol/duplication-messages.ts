/**
 * Duplication control messages (protocol v1): admin clients → meta server (add, modify, query,
 * list) and replica servers → meta server (duplication sync). Statuses and fail modes carry
 * Pegasus's names (notes §2.1); decrees are plain integers and -1 means "not known".
 *
 * The duplication sync (docs/duplication.md, "Duplication sync"):
 *  - each replica server sends DUPLICATION_SYNC every `duplication_sync_period_second`, or after
 *    `nextSyncDelayMs` of the previous reply when that is set (short while a duplication is
 *    initializing). Only one sync is in flight per server;
 *  - for every partition it is primary of, at the ballot it knows, it reports per duplication of
 *    the table its confirmed decree (the last decree the remote acknowledged), its last committed
 *    decree and whether its checkpoint is prepared;
 *  - for a duplication whose `confirmedDecrees[pidx]` is -1 (in DS_INIT, after add), the primary
 *    reports a START decree instead: the last decree whose write it has acknowledged to a client
 *    (a new primary: its last committed decree), holding its private log from the next decree on;
 *  - the reply lists every duplication (DS_REMOVED excluded) of every available table of which the
 *    server hosts a replica (primary or secondary), with the confirmed decree the meta server has
 *    persisted for each partition. A duplication absent from the reply is gone: release its log.
 */
import type { Gpid, NodeAddress } from "./ids.ts";

export const DuplicationMethod = {
  ADD: "meta.add_duplication",
  MODIFY: "meta.modify_duplication",
  QUERY: "meta.query_duplication",
  LIST: "meta.list_duplications",
  SYNC: "meta.duplication_sync",
  /** Full re-sync of an existing duplication (ResyncDuplicationRequest, below). */
  RESYNC: "meta.resync_duplication",
} as const;
export type DuplicationMethod = (typeof DuplicationMethod)[keyof typeof DuplicationMethod];

/** Pegasus `duplication_status`. Transitions: src/meta/core/duplication/status.ts. */
export const DuplicationStatus = {
  /** Created; waiting for every partition's start decree. Nothing is shipped yet. */
  DS_INIT: "DS_INIT",
  /** Full duplication: primaries make a checkpoint covering their start decree. */
  DS_PREPARE: "DS_PREPARE",
  /** Full duplication: the follower table copies the checkpoint (or a re-sync sends it). */
  DS_APP: "DS_APP",
  /** Shipping the private log (steady state). */
  DS_LOG: "DS_LOG",
  /** Shipping stopped; the private log is still held from the confirmed decree. */
  DS_PAUSE: "DS_PAUSE",
  /** Removed: its records are deleted and the log hold released. */
  DS_REMOVED: "DS_REMOVED",
} as const;
export type DuplicationStatus = (typeof DuplicationStatus)[keyof typeof DuplicationStatus];

/** Pegasus `duplication_fail_mode`: what the source does when it cannot read or ship the log. */
export const DuplicationFailMode = {
  /** Retry forever (default). */
  FAIL_SLOW: "FAIL_SLOW",
  /** After repeated failures skip what cannot be read or shipped (docs/duplication.md). */
  FAIL_SKIP: "FAIL_SKIP",
  /** After repeated failures give up on the duplication (docs/duplication.md, data plane). */
  FAIL_FAST: "FAIL_FAST",
} as const;
export type DuplicationFailMode = (typeof DuplicationFailMode)[keyof typeof DuplicationFailMode];

/** How `list_duplications` matches table names (Pegasus `pattern_match_type`, without regex). */
export const PatternMatchType = {
  MATCH_ALL: "MATCH_ALL",
  MATCH_EXACT: "MATCH_EXACT",
  MATCH_ANYWHERE: "MATCH_ANYWHERE",
  MATCH_PREFIX: "MATCH_PREFIX",
  MATCH_POSTFIX: "MATCH_POSTFIX",
} as const;
export type PatternMatchType = (typeof PatternMatchType)[keyof typeof PatternMatchType];

/** A decree that is not known (yet): Pegasus `invalid_decree`. */
export const invalidDecree = -1;

// ---- add / modify ----

export interface AddDuplicationRequest {
  readonly appName: string;
  /** A cluster of `[pegasus.clusters]` (and `[duplication-group]`), not this one. */
  readonly remoteClusterName: string;
  /** The table on the remote cluster; the source table's name if absent. */
  readonly remoteAppName?: string;
  /** Replica count of the remote table (full duplication creates it); 0 or absent: the source's. */
  readonly remoteReplicaCount?: number;
  /** Full duplication: checkpoint, a follower table created and filled from it, then log. */
  readonly isDuplicatingCheckpoint?: boolean;
  /** Start paused (DS_PAUSE) instead of shipping (DS_LOG). The start point is fixed either way. */
  readonly freezed?: boolean;
  /**
   * How long the meta server waits for every partition's start decree before it answers with
   * status DS_INIT (the duplication then completes in the background). Bounded by the meta
   * server's `addWaitMsMax`; its `addWaitMs` if absent. 0 answers once DS_INIT is persisted.
   */
  readonly waitMs?: number;
}

export interface AddDuplicationResponse {
  readonly appId: number;
  readonly dupid: number;
  /** DS_LOG or DS_PAUSE when started; DS_INIT when the wait ran out (see `hint`). */
  readonly status: DuplicationStatus;
  readonly remoteAppName: string;
  readonly remoteReplicaCount: number;
  /** Per partition, the start decree: writes after it are shipped. -1 while DS_INIT. */
  readonly startDecrees: readonly number[];
  readonly hint?: string;
}

export interface ModifyDuplicationRequest {
  readonly appName: string;
  readonly dupid: number;
  /** DS_LOG (start), DS_PAUSE (pause) or DS_REMOVED (remove); unchanged if absent. */
  readonly status?: DuplicationStatus;
  /** Unchanged if absent. */
  readonly failMode?: DuplicationFailMode;
}

export interface ModifyDuplicationResponse {
  readonly appId: number;
  readonly dupid: number;
  readonly status: DuplicationStatus;
  readonly failMode: DuplicationFailMode;
}

// ---- query / list ----

/** The fields of a duplication every view shows. */
export interface DuplicationInfo {
  readonly dupid: number;
  readonly status: DuplicationStatus;
  readonly failMode: DuplicationFailMode;
  readonly remoteClusterName: string;
  readonly remoteAppName: string;
  readonly remoteReplicaCount: number;
  /** Meta-server time of `add`. */
  readonly createdAtMs: number;
  /**
   * Set while a full duplication copies data (DS_PREPARE, DS_APP): "create" makes a follower table
   * on the remote cluster whose primaries pull the checkpoint; "resync" sends the checkpoint's
   * contents into the existing remote table as duplicated writes (last write wins).
   */
  readonly fullSync?: FullSyncMode;
}

export const FullSyncMode = {
  CREATE: "create",
  RESYNC: "resync",
} as const;
export type FullSyncMode = (typeof FullSyncMode)[keyof typeof FullSyncMode];

/** The app envs that make a table a duplication follower (notes §2.5). */
export const FollowerEnv = {
  MASTER_CLUSTER: "duplication.master_cluster",
  MASTER_METAS: "duplication.master_metas",
  MASTER_APP_NAME: "duplication.master_app_name",
  FOLLOWER_APP_STATUS: "duplication.follower_app_status",
} as const;

/**
 * App env key prefix of a re-sync's mark on the table it writes into: `<prefix><source cluster>`
 * = dupid, set by the source meta server before the re-sync sends and removed after it.
 */
export const RESYNC_MARK_ENV_PREFIX = "duplication.resync_from.";

/** Values of `duplication.follower_app_status`. */
export const FollowerAppStatus = {
  CREATING: "creating",
  CREATED: "created",
} as const;
export type FollowerAppStatus = (typeof FollowerAppStatus)[keyof typeof FollowerAppStatus];

/**
 * The remote cluster's wall clock as a partition's shipper last read it from an acknowledged
 * DUPLICATE (src/duplication/source/remote-clock.ts): remote minus source, in ms.
 */
export interface DuplicationRemoteClock {
  /** Estimated offset; positive when the remote runs ahead. */
  readonly offsetMs: number;
  /** The true offset is within ± this (half the request's round trip). */
  readonly uncertaintyMs: number;
  /** The clocks certainly differ by more than `[replication] dup_max_clock_skew_seconds`. */
  readonly skewExceeded: boolean;
}

export interface DuplicationPartitionState {
  /** Persisted by the meta server: every write up to it has reached the remote. -1: not known. */
  readonly confirmedDecree: number;
  /** The primary's last committed decree at its latest sync (not persisted). -1: not heard. */
  readonly lastCommittedDecree: number;
  /** Set while the partition's shipper has stopped by itself (its latest sync said why). */
  readonly failure?: DuplicationFailure;
  /** The remote's clock, per the primary's latest sync (not persisted; absent until read). */
  readonly remoteClock?: DuplicationRemoteClock;
  /** Full duplication: the primary's checkpoint is prepared (DS_PREPARE). */
  readonly checkpointPrepared?: boolean;
  /** Full duplication (DS_APP): the follower primary's copy ("create") or the re-sync's progress. */
  readonly copy?: {
    readonly doneBytes: number;
    readonly totalBytes: number;
    readonly done: boolean;
  };
}

export interface DuplicationDetail extends DuplicationInfo {
  /** Indexed by partition index. */
  readonly partitionStates: readonly DuplicationPartitionState[];
  /**
   * Full duplication only: the last failed call to the remote cluster's meta servers (creating
   * the follower table, watching it copy), while it is being retried. Not persisted: a new meta
   * leader shows it again after its own first failure. Cleared by the next success. With
   * `failures` 0 it is no failure but what a prepared re-sync waits for before it marks the remote
   * table: the removal of the mark a removed duplication left there.
   */
  readonly remoteError?: { readonly message: string; readonly failures: number };
}

export interface QueryDuplicationRequest {
  readonly appName: string;
}

export interface QueryDuplicationResponse {
  readonly appId: number;
  readonly appName: string;
  readonly partitionCount: number;
  /** Sorted by dupid. */
  readonly duplications: readonly DuplicationDetail[];
}

export interface ListDuplicationsRequest {
  /** Every table if absent (with MATCH_ALL). */
  readonly appNamePattern?: string;
  /** MATCH_ALL if absent. */
  readonly matchType?: PatternMatchType;
}

export interface ListDuplicationsResponse {
  /** Every matching available table, including those without duplications; sorted by id. */
  readonly apps: readonly QueryDuplicationResponse[];
}

// ---- duplication sync (replica server → meta server) ----

export interface DuplicationConfirm {
  readonly dupid: number;
  /**
   * The partition's confirmed decree for this duplication (the remote acknowledged every write up
   * to it), or its start decree while the meta server has none for the partition (-1 listed).
   */
  readonly confirmedDecree: number;
  /**
   * Full duplication (DS_PREPARE): the checkpoint covering `confirmedDecree` (the start decree the
   * primary chose: at least its last applied decree, and ≥ 1) is durable; the log after it is held.
   */
  readonly checkpointPrepared?: boolean;
  /** Full re-sync (DS_APP, fullSync "resync"): how much of the checkpoint has been sent. */
  readonly resyncProgress?: ResyncProgress;
  /** Why this partition's shipper stopped, when it did (shown by query / list). */
  readonly failure?: DuplicationFailure;
  /** The remote's clock as the shipper last read it (shown by query / list). */
  readonly remoteClock?: DuplicationRemoteClock;
}

export interface ResyncProgress {
  readonly sentBytes: number;
  readonly totalBytes: number;
  /** Every record of the checkpoint has been acknowledged by the remote table. */
  readonly done: boolean;
}

/** A partition's shipper stopped by itself: FAIL_FAST gave up, or the log no longer reaches. */
export interface DuplicationFailure {
  readonly kind: "paused_with_error" | "log_truncated";
  readonly code: string;
  readonly message: string;
  /** The first decree not shipped. */
  readonly atDecree: number;
}

export interface DuplicationSyncPartition {
  readonly gpid: Gpid;
  /** The configuration ballot at which the server is primary of the partition. */
  readonly ballot: number;
  readonly lastCommittedDecree: number;
  readonly confirms: readonly DuplicationConfirm[];
  /**
   * The partition received writes of a full re-sync from a remote cluster lately (within
   * TOMBSTONE_HOLD_RELEASE_MS): the table's tombstones must be held on every replica (absent: no).
   */
  readonly receivingResync?: boolean;
}

export interface DuplicationSyncRequest {
  readonly node: NodeAddress;
  /** Partitions the server is primary of (with at least one duplication). */
  readonly partitions: readonly DuplicationSyncPartition[];
}

export interface DuplicationSyncEntry extends DuplicationInfo {
  /** `[pegasus.clusters]` entry of the remote cluster on the meta server (empty if missing). */
  readonly remoteMetas: readonly string[];
  /** Indexed by partition index: the persisted confirmed decree, -1 while not known. */
  readonly confirmedDecrees: readonly number[];
  /**
   * Partition indexes whose primary last reported that the duplication fell out of its log
   * (`log_truncated`): no replica holds the log for it there until a re-sync (absent: none).
   */
  readonly logTruncated?: readonly number[];
  /**
   * Partition indexes whose primary last reported receiving a full re-sync from a remote cluster
   * (`receivingResync`): the table's tombstones are held (absent: none).
   */
  readonly receivingResync?: readonly number[];
}

/**
 * The partitions meta lists as fallen out of their log. The reply is read without a decoder, so
 * anything but a list (a meta server that predates the field sends none) counts as none.
 */
export function logTruncatedPartitions(dup: DuplicationSyncEntry): readonly number[] {
  return listedPartitions(dup.logTruncated);
}

/** The partitions meta lists as receiving a re-sync; read like logTruncatedPartitions. */
export function receivingResyncPartitions(dup: DuplicationSyncEntry): readonly number[] {
  return listedPartitions(dup.receivingResync);
}

function listedPartitions(listed: unknown): readonly number[] {
  return Array.isArray(listed) ? (listed as number[]) : [];
}

export interface DuplicationSyncApp {
  readonly appId: number;
  readonly partitionCount: number;
  /** Sorted by dupid; DS_REMOVED never appears. */
  readonly duplications: readonly DuplicationSyncEntry[];
}

export interface DuplicationSyncResponse {
  /** Every available table with duplications of which the server hosts a replica. */
  readonly apps: readonly DuplicationSyncApp[];
  /** When to sync next: short while a listed duplication waits for start decrees. */
  readonly nextSyncDelayMs: number;
}

// ---- full re-sync ----

/**
 * Runs the full procedure again for an existing duplication into its existing remote table: the
 * primaries checkpoint (DS_PREPARE), send the checkpoint's contents as duplicated writes (DS_APP;
 * last write wins keeps newer remote data), then ship the log from the checkpoint (DS_LOG).
 * Meant for a duplication whose log fell out of retention (`log_truncated`).
 */
export interface ResyncDuplicationRequest {
  readonly appName: string;
  readonly dupid: number;
}

export type ResyncDuplicationResponse = ModifyDuplicationResponse;
