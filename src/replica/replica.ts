/**
 * A lone replica: a PartitionReplica that is the only member of its own configuration — primary
 * of itself, no secondaries, a lease that never expires. The single-replica write path IS the
 * replicated one with zero secondaries: a write is logged, committed once the primary's own log
 * has it durably, applied, and answered, exactly as in a cluster.
 *
 * Invariants:
 *  - open() returns only once the replica is an active primary that has applied everything its
 *    log held (the recovered tail and its activation mutation): reads after open see every
 *    acknowledged write.
 *  - Each open takes a ballot above every ballot in its log (the core's restart floor), and
 *    activation logs one EMPTY mutation of that ballot, so decrees advance by one per open.
 *  - Writes are acknowledged only once durable in the plog and applied to storage; after a plog
 *    or storage failure every further write is refused (core-runner.ts).
 */
import { join } from "node:path";
import { assert } from "../common/assert.ts";
import type { Clock } from "../common/clock.ts";
import { systemClock } from "../common/clock.ts";
import { TalariaError } from "../common/errors.ts";
import { defaultReadLimits, type ReadLimits, type WriteLimits } from "../common/limits.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import type { ReplicaMetrics, ReplicaStatsSnapshot } from "../metrics/index.ts";
import { parseGpid } from "../protocol/ids.ts";
import { ReplicaStatus } from "../protocol/partition-config.ts";
import { type CheckpointInfo, StorageEngine } from "../storage/index.ts";
import { PartitionReplica } from "./partition-replica.ts";
import type { PartitionReplicaDeps } from "./partition-replica-options.ts";
import { INITIAL_DATA_DIR } from "./replica-layout.ts";
import type { ReplicaReads } from "./replica-reads.ts";
import type { WriteRequest, WriteResult } from "./write-request.ts";
import type { CoalesceLimits } from "./write-sequencer.ts";

export interface ReplicaOptions {
  /** Directory of this replica (layout in replica-layout.ts). */
  readonly dir: string;
  /** This cluster's id in `[duplication-group]` (1..127), 0 when unconfigured. */
  readonly clusterId: number;
  /** Local deletes leave tombstones (true on duplicated tables). Default false. */
  readonly keepTombstones?: boolean;
  /** The smallest ballot to take; raised past every ballot in the log. Default 1. */
  readonly ballot?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly writeLimits?: WriteLimits;
  readonly readLimits?: ReadLimits;
  readonly plogSegmentBytesMax?: number;
  /** The plog's in-memory tail (`tailCacheBytes`; default 1 MiB). */
  readonly plogTailCacheBytes?: number;
  /** fdatasync the plog on every group commit. Default true; tests may turn it off. */
  readonly plogFsync?: boolean;
  readonly tombstoneRetentionSeconds?: number;
  /** Background TTL / tombstone sweep period; 0 disables the sweeper. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /** Records the sweeper examines per run. */
  readonly sweepBudget?: number;
  /** Bytes of log read per batch when rebuilding state on open. */
  readonly replayBatchBytes?: number;
  /** Where to report metrics, and the partition id (`<appId>.<partitionIndex>`) to label them with. */
  readonly metrics?: ReplicaMetrics;
  readonly gpid?: string;
  /** How many plain writes one coalesced mutation may carry; default defaultCoalesceLimits. */
  readonly writeCoalesce?: CoalesceLimits;
}

/** The address a lone replica calls itself in its one-member configuration. */
export const STANDALONE_NODE = "standalone:1";

/** A lone replica talks to nobody: anything it would send is a programmer error. */
const standaloneDeps = (options: ReplicaOptions): PartitionReplicaDeps => ({
  send: (to) => assert(false, `a lone replica sent a message to ${to}`),
  requestConfigChange: (request) =>
    assert(false, `a lone replica asked for ${request.change.type}`),
  fetchCheckpoint: () =>
    Promise.reject(new TalariaError("ERR_INVALID_STATE", "a lone replica has no primary")),
  clock: options.clock ?? systemClock,
  ...(options.logger === undefined ? {} : { logger: options.logger }),
});

export class Replica {
  readonly reads: ReplicaReads;

  private constructor(private readonly partition: PartitionReplica) {
    this.reads = partition.reads;
  }

  /** Opens (or creates) the replica and commits and applies whatever its log still holds. */
  static async open(options: ReplicaOptions): Promise<Replica> {
    const gpid = parseGpid(options.gpid ?? "0.0");
    const { ballot, gpid: _label, clock: _clock, logger: _logger, ...rest } = options;
    const partition = await PartitionReplica.open(
      { ...rest, self: STANDALONE_NODE, gpid, tickIntervalMs: 0 },
      standaloneDeps(options),
    );
    try {
      partition.step({ type: "LEASE", expiresAtMs: Number.MAX_SAFE_INTEGER });
      partition.step({
        type: "CONFIG",
        config: {
          gpid,
          ballot: Math.max(ballot ?? 1, partition.snapshot().ballot + 1),
          primary: STANDALONE_NODE,
          secondaries: [],
          maxReplicaCount: 1,
          lastCommittedDecree: 0,
        },
      });
      assert(partition.snapshot().status === ReplicaStatus.PRIMARY, "a lone replica is primary");
      await partition.whenApplied(partition.lastPreparedDecree);
    } catch (error) {
      await partition.close();
      throw error;
    }
    return new Replica(partition);
  }

  /** Creates the replica from a storage checkpoint (learner bootstrap); `<dir>` must be new. */
  static async openFromCheckpoint(
    checkpointDir: string,
    options: ReplicaOptions,
  ): Promise<Replica> {
    const storage = await StorageEngine.openFromCheckpoint(
      checkpointDir,
      join(options.dir, INITIAL_DATA_DIR),
      {
        clock: options.clock ?? systemClock,
        logger: options.logger ?? silentLogger,
        readLimits: options.readLimits ?? defaultReadLimits,
      },
    );
    await storage.close();
    return Replica.open(options);
  }

  /** Counters and decrees for metrics and status pages. */
  statsSnapshot(): ReplicaStatsSnapshot {
    return this.partition.statsSnapshot();
  }

  get lastAppliedDecree(): number {
    return this.partition.lastAppliedDecree;
  }

  get lastDurableDecree(): number {
    return this.partition.lastDurableDecree;
  }

  get lastDecree(): number {
    return this.partition.lastPreparedDecree;
  }

  get lastTimestampUs(): number {
    return this.partition.lastTimestampUs;
  }

  /** Tables that become duplicated turn tombstones on for local deletes. */
  setKeepTombstones(keep: boolean): void {
    this.partition.setKeepTombstones(keep);
  }

  /** Validates, logs durably, applies, and answers. Rejected requests change nothing. */
  write(request: WriteRequest): Promise<WriteResult> {
    return this.partition.write(request);
  }

  /** A consistent copy of the store and the decree it contains. */
  checkpoint(dir: string): Promise<CheckpointInfo> {
    return this.partition.checkpoint(dir);
  }

  /** Deletes plog segments that storage no longer needs (everything durable in the store). */
  gcLog(): Promise<{ segmentsDeleted: number; bytesDeleted: number }> {
    return this.partition.gcLog();
  }

  /** Makes everything applied durable in storage (the checkpoint timer's step). */
  flushStorage(): Promise<number> {
    return this.partition.flushStorage();
  }

  /** The decree below which the plog may be deleted (see PartitionReplica.logGcBoundDecree). */
  logGcBoundDecree(): number {
    return this.partition.logGcBoundDecree();
  }

  close(): Promise<void> {
    return this.partition.close();
  }
}
