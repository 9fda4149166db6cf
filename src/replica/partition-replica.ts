/**
 * One partition replica on one server: a ReplicaCore (src/replication) driven with real I/O —
 * private log, lmdb storage, hybrid clock — plus client writes, client reads and its lifecycle.
 * One code path for a lone replica and for a replicated partition: replica.ts runs it as the only
 * member of its configuration. The replica server provides messaging, the meta server and
 * checkpoint transfer (PartitionReplicaDeps) and feeds the core's inputs through `step`.
 *
 * Invariants:
 *  - The core's I/O contract is kept by CoreRunner (core-runner.ts): log actions in logSeq order
 *    with durability fed back, applies in decree order, replies after their applies, installs
 *    after every earlier action.
 *  - Client writes enter the core in arrival order; atomic operations are evaluated only on an
 *    active primary whose every decree is applied and which awaits no other answer, and take the
 *    very next decree (write-sequencer.ts).
 *  - Client reads (`reads`) are served only while the core says so (`canServeReads`: an active
 *    primary with a valid lease) AND storage has applied a mutation of the current ballot — the
 *    primary's activation mutation, which follows everything earlier primaries committed — so a
 *    new primary never reads without a write its predecessor acknowledged. Otherwise
 *    ERR_INVALID_STATE with details.beforeExecution, and clients retry.
 *  - After a failure the replica refuses writes and reads and reports ERROR in its beacons.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import { defaultReadLimits, defaultWriteLimits, type WriteLimits } from "../common/limits.ts";
import { silentLogger } from "../common/logger.ts";
import type { ReplicaStatsSnapshot } from "../metrics/index.ts";
import { type Gpid, gpidKey } from "../protocol/ids.ts";
import { type ReplicaReport, ReplicaStatus } from "../protocol/partition-config.ts";
import type { CheckpointRef } from "../protocol/replica-messages.ts";
import {
  ReplicaCore,
  type ReplicaCoreSnapshot,
  type ReplicationEvent,
} from "../replication/index.ts";
import type { CheckpointInfo, StorageEngine } from "../storage/index.ts";
import { refusedBeforeExecution } from "./client-replies.ts";
import { CoreRunner } from "./core-runner.ts";
import { HybridClock } from "./hybrid-clock.ts";
import {
  defaultClocks,
  type PartitionReplicaDeps,
  type PartitionReplicaOptions,
  replicaDefaults,
  systemTickTimer,
} from "./partition-replica-options.ts";
import {
  type OpenedReplicaFiles,
  openPrivateLog,
  openReplicaFiles,
  type ReplicaFilesOptions,
  storageOptions,
} from "./replica-files.ts";
import { CHECKPOINTS_DIR } from "./replica-layout.ts";
import type { ReplicaLog } from "./replica-log.ts";
import { ReplicaReads } from "./replica-reads.ts";
import { validateWrite, type WriteRequest, type WriteResult } from "./write-request.ts";
import { type AtomicReadiness, WriteSequencer } from "./write-sequencer.ts";

export class PartitionReplica {
  /** Called when lastAppliedDecree moved (watchApplied). */
  private readonly appliedWatchers = new Set<() => void>();
  private lastNotifiedApplied = -1;
  /** This server's duplications' hold (setDuplicationLogHold). */
  private duplicationHold: number | undefined;
  /** The primary's hold, from its group checks (this replica may become primary). */
  private peerLogHold: number | undefined;
  readonly gpid: Gpid;
  /** Client reads: refused (ERR_INVALID_STATE, beforeExecution) unless this replica may serve. */
  readonly reads: ReplicaReads;
  /** This replica's applied state whatever its role: checkers, admin tools, atomic operations. */
  readonly localReads: ReplicaReads;
  private readonly runner: CoreRunner;
  private readonly clock: HybridClock;
  private readonly writeLimits: WriteLimits;
  private readonly sequencer: WriteSequencer;
  private closing: Promise<void> | undefined;
  private stopTicks: () => void = () => {};
  private readonly untrackMetrics: () => void;
  private readonly holdTombstones: (() => boolean) | undefined;

  private constructor(
    private readonly options: PartitionReplicaOptions,
    deps: PartitionReplicaDeps,
    files: ReplicaFilesOptions,
    opened: OpenedReplicaFiles,
  ) {
    this.gpid = options.gpid;
    this.holdTombstones = deps.holdTombstones;
    this.clock = new HybridClock(files.clock, opened.resumeTimestampUs);
    this.writeLimits = options.writeLimits ?? defaultWriteLimits;
    const core = new ReplicaCore(
      {
        self: options.self,
        gpid: options.gpid,
        ...(options.replication === undefined ? {} : { replication: options.replication }),
      },
      opened.recovered,
    );
    this.runner = new CoreRunner(
      {
        dir: options.dir,
        self: options.self,
        gpid: options.gpid,
        clusterId: options.clusterId,
        keepTombstones: options.keepTombstones ?? replicaDefaults.keepTombstones,
        learnerCheckpointsMax:
          options.learnerCheckpointsMax ?? replicaDefaults.learnerCheckpointsMax,
        storageOptions: storageOptions(files),
        logger: files.logger,
        timeClock: defaultClocks(deps).timeClock,
        ports: deps,
        onProgress: () => {
          this.sequencer.pump();
          this.notifyApplied();
        },
        onStorageReplaced: () => this.startSweeper(),
        onFailed: (error) => this.settleAll(error),
        logHold: () => this.logHoldDecree(),
        onPeerLogHold: (fromDecree) => {
          this.peerLogHold = fromDecree;
        },
      },
      {
        core,
        log: opened.log,
        storage: opened.storage,
        dataDir: opened.dataDir,
        clock: this.clock,
      },
    );
    const source = () => this.storage;
    this.reads = new ReplicaReads(source, files.readLimits, this.writeLimits, () => {
      const refusal = this.refusal("read");
      if (refusal !== undefined)
        throw refusedBeforeExecution(this.gpid, "ERR_INVALID_STATE", refusal);
    });
    this.localReads = new ReplicaReads(source, files.readLimits, this.writeLimits);
    this.sequencer = new WriteSequencer(
      {
        atomicReadiness: () => this.atomicReadiness(),
        read: this.localReads.visibleRecordReader(),
        clock: this.clock,
        submit: (updates, timestampUs) => {
          const refusal = this.unwritable();
          return refusal === undefined
            ? this.runner.submit(updates, timestampUs)
            : Promise.reject(refusal);
        },
        refuse: (code, reason) => refusedBeforeExecution(this.gpid, code, reason),
      },
      options.pendingWritesMax ?? replicaDefaults.pendingWritesMax,
      options.writeCoalesce,
    );
    this.untrackMetrics =
      options.metrics?.track(gpidKey(options.gpid), () => this.statsSnapshot()) ?? (() => {});
  }

  /** Opens (or creates) the replica and rebuilds its core from disk; the core starts INACTIVE. */
  static async open(
    options: PartitionReplicaOptions,
    deps: PartitionReplicaDeps,
  ): Promise<PartitionReplica> {
    const logger = (deps.logger ?? silentLogger).child({ gpid: gpidKey(options.gpid) });
    const files: ReplicaFilesOptions = {
      dir: options.dir,
      clock: defaultClocks(deps).clock,
      logger,
      readLimits: options.readLimits ?? defaultReadLimits,
      replayBatchBytes: options.replayBatchBytes ?? replicaDefaults.replayBatchBytes,
      ...(options.tombstoneRetentionSeconds === undefined
        ? {}
        : { tombstoneRetentionSeconds: options.tombstoneRetentionSeconds }),
      ...(options.plogSegmentBytesMax === undefined
        ? {}
        : { plogSegmentBytesMax: options.plogSegmentBytesMax }),
      ...(options.plogTailCacheBytes === undefined
        ? {}
        : { plogTailCacheBytes: options.plogTailCacheBytes }),
      ...(options.plogFsync === undefined ? {} : { plogFsync: options.plogFsync }),
    };
    // Checkpoints made for learners belong to one opening (their ids restart).
    await rm(join(options.dir, CHECKPOINTS_DIR), { recursive: true, force: true });
    const opened = await openReplicaFiles(files, deps.openLog ?? openPrivateLog);
    const replica = new PartitionReplica(options, deps, files, opened);
    replica.startSweeper();
    const tickIntervalMs = options.tickIntervalMs ?? replicaDefaults.tickIntervalMs;
    if (tickIntervalMs > 0) {
      replica.stopTicks = (deps.timer ?? systemTickTimer).every(tickIntervalMs, () =>
        replica.step({ type: "TICK" }),
      );
    }
    const { entries, ...recovered } = opened.recovered;
    logger.info({ ...recovered, tail: entries.length }, "replica opened");
    return replica;
  }

  /** Feeds one event to the core (CONFIG, MESSAGE, LEASE, LEARNER_PROPOSED, ...). */
  step(event: ReplicationEvent): void {
    this.runner.step(event);
  }

  /** The core's clock, in which LEASE expiry times are given: never moves back. */
  nowMs(): number {
    return this.runner.nowMs();
  }

  // ---- client writes -------------------------------------------------------------------------

  /** Validates, replicates, applies, and answers. Rejected requests change nothing. */
  async write(request: WriteRequest): Promise<WriteResult> {
    const metrics = this.options.metrics;
    const startMs = performance.now();
    try {
      const refusal = this.unwritable();
      if (refusal !== undefined) throw refusal;
      const bytes = validateWrite(request, this.writeLimits);
      const result = await this.sequencer.enqueue(request, bytes);
      metrics?.writeDone(request.op, (performance.now() - startMs) / 1000);
      return result;
    } catch (error) {
      metrics?.writeErrors.inc({
        op: request.op,
        code: isTalariaError(error) ? error.code : "INTERNAL",
      });
      throw error;
    }
  }

  private atomicReadiness(): AtomicReadiness {
    const refusal = this.unwritable();
    if (refusal !== undefined) return { ready: false, refusal: refusal.message };
    const core = this.runner.core.snapshot();
    if (core.status !== ReplicaStatus.PRIMARY) {
      return { ready: false, refusal: `not the primary (${core.status} at ballot ${core.ballot})` };
    }
    const idle =
      core.primaryActive &&
      !this.runner.installing &&
      this.runner.replies.size === 0 &&
      this.storage.lastAppliedDecree >= core.lastPreparedDecree;
    return idle ? { ready: true } : { ready: false };
  }

  private unwritable(): TalariaError | undefined {
    if (this.closing !== undefined) {
      return refusedBeforeExecution(this.gpid, "ERR_INVALID_STATE", "replica is closed");
    }
    if (!this.runner.failed) return undefined;
    const gpid = gpidKey(this.gpid);
    return new TalariaError("ERR_INVALID_STATE", `partition ${gpid}: replica failed`, {
      retriable: true,
      cause: this.runner.failureCause,
      details: { gpid, reason: "replica failed", beforeExecution: true },
    });
  }

  // ---- the replica server's view -------------------------------------------------------------

  /** Why this replica must not serve `kind` requests now, or undefined (client-handlers.ts). */
  refusal(kind: "read" | "write"): string | undefined {
    if (this.closing !== undefined) return "replica is closed";
    if (this.runner.failed) return "replica failed";
    const core = this.runner.core.snapshot();
    if (core.status !== ReplicaStatus.PRIMARY) {
      return `not the primary (${core.status} at ballot ${core.ballot})`;
    }
    if (kind !== "read") return undefined;
    if (!core.primaryActive) return "the primary is activating";
    if (!this.runner.core.canServeReads(this.nowMs())) return "the primary's lease has expired";
    // The first mutation of a ballot is its primary's activation gate: once storage has applied
    // a mutation of this ballot, it holds everything earlier primaries committed (acknowledged).
    if (this.storage.lastAppliedBallot < core.ballot) return "the primary is catching up";
    return undefined;
  }

  /** This replica in the server's beacon (ERROR once it failed). */
  report(): ReplicaReport {
    const report = this.runner.core.report();
    return this.runner.failed ? { ...report, status: ReplicaStatus.ERROR } : report;
  }

  snapshot(): ReplicaCoreSnapshot {
    return this.runner.core.snapshot();
  }

  /** The local directory of a checkpoint made for learners, for the server to transfer. */
  checkpointPath(id: string): string | undefined {
    return this.runner.learners.checkpointPath(id);
  }

  /** Resolves once storage has applied `decree` (rejects if the replica closes or fails first). */
  whenApplied(decree: number): Promise<void> {
    if (this.storage.lastAppliedDecree >= decree) return Promise.resolve();
    const refusal = this.unwritable();
    return refusal === undefined
      ? this.runner.applier.whenApplied(decree)
      : Promise.reject(refusal);
  }

  private get storage(): StorageEngine {
    return this.runner.applier.storage;
  }

  get lastAppliedDecree(): number {
    return this.storage.lastAppliedDecree;
  }

  get lastAppliedBallot(): number {
    return this.storage.lastAppliedBallot;
  }

  /** The last applied decree holding a remote's full re-sync (0: none); durable, any role. */
  get lastResyncDecree(): number {
    return this.storage.lastResyncDecree;
  }

  get lastDurableDecree(): number {
    return this.runner.log.durableDecree;
  }

  /** The last decree in the log (prepared, possibly not committed yet). */
  get lastPreparedDecree(): number {
    return this.runner.core.snapshot().lastPreparedDecree;
  }

  get lastTimestampUs(): number {
    return this.clock.lastTimestampUs;
  }

  /** Tables that become duplicated turn tombstones on for local deletes. */
  setKeepTombstones(keep: boolean): void {
    this.runner.keepTombstones = keep;
  }

  statsSnapshot(): ReplicaStatsSnapshot {
    const log = this.runner.log;
    const plog = log.stats;
    const storage = this.storage.stats;
    return {
      lastDecree: this.lastPreparedDecree,
      lastAppliedDecree: this.storage.lastAppliedDecree,
      lastDurableDecree: log.durableDecree,
      plogFirstDecree: log.firstDecree,
      plogAppendedRecords: plog.appends,
      plogFsyncs: plog.flushes,
      plogBytesWritten: plog.bytesWritten,
      plogReads: plog.reads,
      plogTailCacheReads: plog.tailCacheReads,
      expiredSwept: storage.expiredSwept,
      tombstonesCollected: storage.tombstonesCollected,
      staleEntriesSkipped: storage.staleEntriesSkipped,
      storageWriteTransactions: storage.writeTransactions,
      storageWriteTransactionSeconds: storage.writeTransactionSeconds,
      storageSlowWriteTransactions: storage.slowWriteTransactions,
      storageFlushes: storage.flushes,
      storageFlushFailures: storage.flushFailures,
      storageFlushSeconds: storage.flushSeconds,
      storageUnflushedEntries: storage.unflushedEntries,
      storageUnflushedBytes: storage.unflushedBytes,
      coalescedMutations: this.sequencer.stats.mutations,
      coalescedWrites: this.sequencer.stats.writes,
    };
  }

  /** A consistent copy of the store and the decree it contains. */
  checkpoint(dir: string): Promise<CheckpointInfo> {
    return this.storage.checkpoint(dir);
  }

  /**
   * The checkpoint timer's step: waits until storage has flushed everything applied so far, which
   * moves lastDurableDecree (and with it the plog GC bound) forward. lmdb flushes on its own
   * after commits; this bounds how far the durable decree can lag behind an idle replica.
   */
  async flushStorage(): Promise<number> {
    return this.storage.flush();
  }

  /** Deletes plog segments that storage no longer needs (everything durable in the store). */
  gcLog(): Promise<{ segmentsDeleted: number; bytesDeleted: number }> {
    return this.runner.log.gc(this.logGcBoundDecree());
  }

  /**
   * The decree below which the plog may be deleted: what storage has made durable, lowered by
   * duplication's hold (the oldest decree some duplication has not confirmed shipping). Learners
   * that need older records get a checkpoint. This is the one place that decides.
   */
  logGcBoundDecree(): number {
    const durable = Math.min(this.storage.lastDurableDecree, this.runner.log.durableDecree) + 1;
    return Math.min(durable, this.duplicationHold ?? durable, this.peerLogHold ?? durable);
  }

  /** The hold a learner's checkpoint must step back to (ref §3.5): the lowest one known here. */
  logHoldDecree(): number | undefined {
    const holds = [this.duplicationHold, this.peerLogHold].filter((d) => d !== undefined);
    return holds.length === 0 ? undefined : Math.min(...holds);
  }

  /**
   * Duplication's log hold: no record at or above `fromDecree` may be garbage-collected
   * (undefined releases it). Set by the replica server from its duplications.
   */
  setDuplicationLogHold(fromDecree: number | undefined): void {
    if (fromDecree === this.duplicationHold) return;
    this.duplicationHold = fromDecree;
    // A primary passes it on to its members in group checks.
    this.step({ type: "LOG_HOLD", fromDecree });
  }

  /**
   * Calls `watcher` whenever the last applied decree has moved (at most once per runner step or
   * apply); duplication ships new commits without polling. Returns the unsubscribe function.
   */
  watchApplied(watcher: () => void): () => void {
    this.appliedWatchers.add(watcher);
    return () => this.appliedWatchers.delete(watcher);
  }

  private notifyApplied(): void {
    if (this.appliedWatchers.size === 0) return;
    const applied = this.lastAppliedDecree;
    if (applied === this.lastNotifiedApplied) return;
    this.lastNotifiedApplied = applied;
    for (const watcher of this.appliedWatchers) watcher();
  }

  /** Makes a checkpoint for learners ahead of their asking (LearnerSource.prepare). */
  prepareLearnerCheckpoint(): Promise<CheckpointRef | undefined> {
    return this.runner.learners.prepare();
  }

  /** The private log as duplication reads it: durable records and the bytes held. */
  logReader(): Pick<ReplicaLog, "read" | "bytesFrom"> {
    return {
      read: (fromDecree, options) => this.runner.log.read(fromDecree, options),
      bytesFrom: (decree) => this.runner.log.bytesFrom(decree),
    };
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  private startSweeper(): void {
    const intervalMs = this.options.sweepIntervalMs ?? replicaDefaults.sweepIntervalMs;
    if (intervalMs <= 0) return;
    this.storage.startSweeper({
      intervalMs,
      budget: this.options.sweepBudget ?? replicaDefaults.sweepBudget,
      ...(this.holdTombstones === undefined ? {} : { holdTombstones: this.holdTombstones }),
    });
  }

  /** Fails every write and waiter still open: their fate is unknown (not beforeExecution). */
  private settleAll(error: TalariaError): void {
    this.stopTicks();
    this.sequencer.refuseAll(error.message);
    this.runner.replies.rejectAll(error);
    this.runner.applier.rejectWaiters(error);
  }

  /**
   * Stops taking writes, lets what is already in the log become durable and (where it commits)
   * applied and answered, fails what is still open, then closes log and storage. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.stopTicks();
    this.sequencer.refuseAll("replica is closed");
    await this.runner.drainAndStop();
    const gpid = gpidKey(this.gpid);
    this.settleAll(
      new TalariaError("ERR_INVALID_STATE", `partition ${gpid}: closed before answering`, {
        retriable: true,
        details: { gpid },
      }),
    );
    this.untrackMetrics();
    await this.runner.log.close();
    await this.storage.close();
  }
}
