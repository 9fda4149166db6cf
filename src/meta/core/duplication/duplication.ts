/**
 * One duplication (table → remote cluster) as the meta core holds it: the immutable fields fixed
 * at `add`, the committed status and fail mode, the two-phase alteration latch, and per partition
 * the persisted confirmed decree plus what replicas reported since (Pegasus `duplication_info`,
 * notes §2.2).
 *
 * Invariants:
 * - `status` and `failMode` are what the meta store holds; a change is applied only once
 *   persisted, and at most one change of them (`altering`) is in flight;
 * - per partition `storedDecree` never decreases and `reportedDecree ≥ storedDecree`;
 * - `start` (the start decree a primary reported in DS_INIT, or the checkpoint decree it prepared
 *   in DS_PREPARE) is kept with the node and ballot it was reported under: it is valid while that
 *   is still the partition's configuration;
 * - `fullSync` is set exactly in DS_PREPARE and DS_APP; `prepared` (every partition's confirmed
 *   decree is its checkpoint decree, persisted) only in DS_PREPARE; DS_APP implies it.
 */
import type {
  AddDuplicationResponse,
  DuplicationFailMode,
  DuplicationFailure,
  DuplicationInfo,
  DuplicationRemoteClock,
  NodeAddress,
} from "../../../protocol/index.ts";
import { DuplicationStatus, type FullSyncMode, invalidDecree } from "../../../protocol/index.ts";
import type { RequestId } from "../events.ts";
import { type CopyProgress, freshRemoteProgress, type RemoteProgress } from "./remote-tasks.ts";

export interface StartReport {
  readonly decree: number;
  readonly node: NodeAddress;
  readonly ballot: number;
}

export interface PartitionProgress {
  /** The confirmed decree in the meta store; -1 while not known. */
  storedDecree: number;
  /** The largest confirmed decree reported (≥ storedDecree): what the next progress write stores. */
  reportedDecree: number;
  /** The primary's last committed decree at its latest sync (volatile); -1 until heard. */
  lastCommittedDecree: number;
  /** Full duplication: the primary's checkpoint covers the start decree (volatile). */
  checkpointPrepared: boolean;
  /**
   * DS_APP: the partition's copy progress (volatile): the follower primary's ("create", from the
   * remote's configuration) or this primary's re-sync ("resync", from its sync, with `by`).
   */
  copy:
    | (CopyProgress & { readonly by?: { readonly node: NodeAddress; readonly ballot: number } })
    | undefined;
  /** A progress write of this partition is being persisted. */
  writing: boolean;
  /** When the latest progress write of this partition started (throttle). */
  lastWriteMs: number | undefined;
  /** DS_INIT: the start decree the primary reported; DS_PREPARE: the checkpoint decree it prepared. */
  start: StartReport | undefined;
  /** Why the partition's shipper stopped by itself, per its primary's latest sync (volatile). */
  failure: DuplicationFailure | undefined;
  /** The remote's clock as the primary's shipper read it, per its latest sync (volatile). */
  remoteClock: DuplicationRemoteClock | undefined;
  /** Its primary's latest sync said it receives a re-sync from a remote cluster (volatile). */
  receivingResync: boolean;
}

export type Alteration =
  /** A user's status or fail-mode change. */
  | { readonly kind: "modify" }
  /** DS_INIT → DS_LOG / DS_PAUSE once every partition reported its start decree. */
  | { readonly kind: "start" }
  /** A full sync's own step: checkpoint decrees persisted, DS_PREPARE → DS_APP, DS_APP → done. */
  | { readonly kind: "fullSync" }
  /** Removal: waits until no progress write is in flight (`started` false), then deletes. */
  | { readonly kind: "remove"; readonly requestId: RequestId; started: boolean };

/** An add request waiting for the start decrees (volatile: a new meta leader does not answer it). */
export interface AddWaiter {
  readonly requestId: RequestId;
  readonly deadlineMs: number;
}

/** The durable part of a duplication (what restore rebuilds exactly). */
export interface DuplicationRecord extends DuplicationInfo {
  readonly appId: number;
  /** End in DS_PAUSE rather than DS_LOG once the start decrees are in or the full sync is done. */
  readonly freezed: boolean;
  /** DS_PREPARE: every partition's checkpoint decree is persisted as its confirmed decree. */
  readonly prepared: boolean;
  /** Indexed by partition index; -1 where none is stored. */
  readonly confirmedDecrees: readonly number[];
}

export interface DuplicationFields {
  readonly appId: number;
  readonly dupid: number;
  readonly partitionCount: number;
  readonly remoteClusterName: string;
  readonly remoteAppName: string;
  readonly remoteReplicaCount: number;
  readonly createdAtMs: number;
  readonly freezed: boolean;
  readonly status: DuplicationStatus;
  readonly failMode: DuplicationFailMode;
  readonly fullSync?: FullSyncMode | undefined;
  readonly prepared?: boolean;
}

/** What a record write may change (the rest is the duplication's committed value). */
export interface RecordChange {
  readonly status?: DuplicationStatus;
  readonly failMode?: DuplicationFailMode;
  /** null clears it. */
  readonly fullSync?: FullSyncMode | null;
  readonly prepared?: boolean;
  readonly freezed?: boolean;
}

/** The persisted fields of a duplication's record after `change`. */
export interface RecordFields {
  readonly status: DuplicationStatus;
  readonly failMode: DuplicationFailMode;
  readonly fullSync: FullSyncMode | undefined;
  readonly prepared: boolean;
  readonly freezed: boolean;
}

function freshProgress(storedDecree: number): PartitionProgress {
  return {
    storedDecree,
    reportedDecree: storedDecree,
    lastCommittedDecree: invalidDecree,
    checkpointPrepared: false,
    copy: undefined,
    writing: false,
    lastWriteMs: undefined,
    start: undefined,
    failure: undefined,
    remoteClock: undefined,
    receivingResync: false,
  };
}

/** `<appId>.dup<dupid>`: the key a duplication's changes (and remote tasks) run under. */
export function duplicationChangeKey(appId: number, dupid: number): string {
  return `${appId}.dup${dupid}`;
}

export class Duplication {
  readonly appId: number;
  readonly dupid: number;
  readonly partitionCount: number;
  readonly remoteClusterName: string;
  readonly remoteAppName: string;
  readonly remoteReplicaCount: number;
  readonly createdAtMs: number;
  /** Mutable: a re-sync sets it to whether the duplication was paused. */
  freezed: boolean;
  status: DuplicationStatus;
  failMode: DuplicationFailMode;
  fullSync: FullSyncMode | undefined;
  prepared: boolean;
  altering: Alteration | undefined;
  waiter: AddWaiter | undefined;
  /** Full duplication ("create"): the remote meta calls' progress and backoff (volatile). */
  remote: RemoteProgress = freshRemoteProgress();
  readonly partitions: PartitionProgress[];

  constructor(fields: DuplicationFields, storedDecrees: readonly number[] = []) {
    this.appId = fields.appId;
    this.dupid = fields.dupid;
    this.partitionCount = fields.partitionCount;
    this.remoteClusterName = fields.remoteClusterName;
    this.remoteAppName = fields.remoteAppName;
    this.remoteReplicaCount = fields.remoteReplicaCount;
    this.createdAtMs = fields.createdAtMs;
    this.freezed = fields.freezed;
    this.status = fields.status;
    this.failMode = fields.failMode;
    this.fullSync = fields.fullSync;
    this.prepared = fields.prepared ?? false;
    this.partitions = Array.from({ length: fields.partitionCount }, (_, index) =>
      freshProgress(storedDecrees[index] ?? invalidDecree),
    );
  }

  /** The key its record changes are serialized under (starts with `<appId>.`: app busy). */
  get changeKey(): string {
    return duplicationChangeKey(this.appId, this.dupid);
  }

  progressKey(partitionIndex: number): string {
    return `${this.changeKey}.${partitionIndex}`;
  }

  get progressWritesInFlight(): number {
    return this.partitions.filter((progress) => progress.writing).length;
  }

  /**
   * The confirmed decrees as replicas and views see them: all -1 in DS_INIT and in DS_PREPARE
   * until the checkpoint decrees are persisted (the primaries are asked for their start or
   * checkpoint decrees), the stored ones otherwise.
   */
  confirmedDecrees(): number[] {
    const asking =
      this.status === DuplicationStatus.DS_INIT ||
      (this.status === DuplicationStatus.DS_PREPARE && !this.prepared);
    return this.partitions.map((progress) => (asking ? invalidDecree : progress.storedDecree));
  }

  /** The record's fields after `change`. */
  fieldsAfter(change: RecordChange = {}): RecordFields {
    return {
      status: change.status ?? this.status,
      failMode: change.failMode ?? this.failMode,
      fullSync: change.fullSync === null ? undefined : (change.fullSync ?? this.fullSync),
      prepared: change.prepared ?? this.prepared,
      freezed: change.freezed ?? this.freezed,
    };
  }

  /** Applies a persisted record change. */
  apply(change: RecordChange): void {
    const fields = this.fieldsAfter(change);
    this.status = fields.status;
    this.failMode = fields.failMode;
    this.fullSync = fields.fullSync;
    this.prepared = fields.prepared;
    this.freezed = fields.freezed;
  }

  info(): DuplicationInfo {
    return {
      dupid: this.dupid,
      status: this.status,
      failMode: this.failMode,
      remoteClusterName: this.remoteClusterName,
      remoteAppName: this.remoteAppName,
      remoteReplicaCount: this.remoteReplicaCount,
      createdAtMs: this.createdAtMs,
      ...(this.fullSync === undefined ? {} : { fullSync: this.fullSync }),
    };
  }

  record(): DuplicationRecord {
    return {
      appId: this.appId,
      ...this.info(),
      freezed: this.freezed,
      prepared: this.prepared,
      confirmedDecrees: this.partitions.map((progress) => progress.storedDecree),
    };
  }

  addResponse(hint?: string): AddDuplicationResponse {
    return {
      appId: this.appId,
      dupid: this.dupid,
      status: this.status,
      remoteAppName: this.remoteAppName,
      remoteReplicaCount: this.remoteReplicaCount,
      startDecrees: this.confirmedDecrees(),
      ...(hint === undefined ? {} : { hint }),
    };
  }
}
