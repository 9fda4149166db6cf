/**
 * One partition replica on one server: its private log, its storage engine and its hybrid clock.
 * This is the single-replica write path that replication (cluster issue) drives.
 *
 * Invariants:
 *  - A write is acknowledged only after its mutation is durable in the plog AND applied to storage.
 *  - Decrees are assigned synchronously, in arrival order, and applied in decree order.
 *  - Atomic operations are evaluated only once every earlier decree is applied, and no decree is
 *    assigned between their evaluation and their own decree, so they see exactly the state their
 *    mutation follows.
 *  - After any plog or storage failure the replica refuses every further write: a replica that
 *    may have lost a mutation must not keep acknowledging later ones.
 */
import { join } from "node:path";
import { type Mutation, type Update, UpdateKind } from "../codec/mutation.ts";
import { decodeMutation, encodeMutation } from "../codec/mutation-codec.ts";
import { type Clock, systemClock } from "../common/clock.ts";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import {
  defaultReadLimits,
  defaultWriteLimits,
  type ReadLimits,
  type WriteLimits,
} from "../common/limits.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import type { ReplicaMetrics, ReplicaStatsSnapshot } from "../metrics/index.ts";
import { PrivateLog } from "../plog/index.ts";
import { StorageEngine } from "../storage/index.ts";
import {
  type CheckResolution,
  type CheckValue,
  resolveCheckAndMutate,
  resolveCheckAndSet,
  resolveIncr,
} from "./atomic-ops.ts";
import { HybridClock } from "./hybrid-clock.ts";
import { ReplicaReads } from "./replica-reads.ts";
import {
  type AtomicRequest,
  isAtomicRequest,
  requestToUpdate,
  validateWrite,
  type WriteRequest,
} from "./write-request.ts";

export interface ReplicaOptions {
  /** Directory of this replica: `<dir>/plog` and `<dir>/data`. */
  readonly dir: string;
  /** This cluster's id in `[duplication-group]` (1..127), 0 when unconfigured. */
  readonly clusterId: number;
  /** Local deletes leave tombstones (true on duplicated tables). Default false. */
  readonly keepTombstones?: boolean;
  readonly ballot?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly writeLimits?: WriteLimits;
  readonly readLimits?: ReadLimits;
  readonly plogSegmentBytesMax?: number;
  /** fdatasync the plog on every group commit. Default true; tests may turn it off. */
  readonly plogFsync?: boolean;
  readonly tombstoneRetentionSeconds?: number;
  /** Background TTL / tombstone sweep period; 0 disables the sweeper. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /** Records the sweeper examines per run. */
  readonly sweepBudget?: number;
  /** Bytes of log read per batch when replaying on open. */
  readonly replayBatchBytes?: number;
  /** Where to report metrics, and the partition id (`<appId>.<partitionIndex>`) to label them with. */
  readonly metrics?: ReplicaMetrics;
  readonly gpid?: string;
}

export interface WriteResult {
  readonly decree: number;
  /** incr: the value after the increment. */
  readonly newValue?: bigint;
  /** checkAndSet / checkAndMutate with returnCheckValue. */
  readonly checkValue?: CheckValue;
  /** duplicate: entries dropped by last-write-wins. */
  readonly staleEntriesSkipped?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
const DEFAULT_SWEEP_BUDGET = 10_000;
const DEFAULT_REPLAY_BATCH_BYTES = 4 * 1024 * 1024;

export class Replica {
  readonly reads: ReplicaReads;
  private readonly log: PrivateLog;
  private readonly storage: StorageEngine;
  private readonly clock: HybridClock;
  private readonly options: ReplicaOptions;
  private readonly writeLimits: WriteLimits;
  private readonly logger: Logger;
  private keepTombstones: boolean;
  private lastAssignedDecree: number;
  /** Resolves when the last submitted mutation is handed to storage (in decree order). */
  private submitTail: Promise<void> = Promise.resolve();
  /** Settles when the last assigned decree is applied. */
  private lastApply: Promise<unknown> = Promise.resolve();
  private atomicGate: Promise<void> = Promise.resolve();
  private atomicPending = 0;
  private failure: unknown;
  private closed = false;
  private readonly untrackMetrics: () => void;

  private constructor(options: ReplicaOptions, log: PrivateLog, storage: StorageEngine) {
    this.options = options;
    this.log = log;
    this.storage = storage;
    this.logger = options.logger ?? silentLogger;
    this.writeLimits = options.writeLimits ?? defaultWriteLimits;
    this.keepTombstones = options.keepTombstones ?? false;
    this.lastAssignedDecree = storage.lastAppliedDecree;
    this.clock = new HybridClock(options.clock ?? systemClock, storage.maxTimestampUs);
    this.reads = new ReplicaReads(
      storage,
      options.readLimits ?? defaultReadLimits,
      this.writeLimits,
    );
    this.untrackMetrics =
      options.metrics?.track(options.gpid ?? "0.0", () => this.statsSnapshot()) ?? (() => {});
  }

  /** Counters and decrees for metrics and status pages. */
  statsSnapshot(): ReplicaStatsSnapshot {
    const plog = this.log.stats;
    const storage = this.storage.stats;
    return {
      lastDecree: this.lastAssignedDecree,
      lastAppliedDecree: this.storage.lastAppliedDecree,
      lastDurableDecree: this.log.durableDecree,
      plogFirstDecree: this.log.firstDecree,
      plogAppendedRecords: plog.appends,
      plogFsyncs: plog.flushes,
      plogBytesWritten: plog.bytesWritten,
      expiredSwept: storage.expiredSwept,
      tombstonesCollected: storage.tombstonesCollected,
      staleEntriesSkipped: storage.staleEntriesSkipped,
    };
  }

  /** Opens (or creates) the replica and replays the log past the store's last applied decree. */
  static async open(options: ReplicaOptions): Promise<Replica> {
    const storage = await StorageEngine.open(Replica.storageOptions(options));
    return Replica.start(options, storage);
  }

  /** Creates the replica from a storage checkpoint (learner bootstrap); `<dir>` must be new. */
  static async openFromCheckpoint(
    checkpointDir: string,
    options: ReplicaOptions,
  ): Promise<Replica> {
    const storage = await StorageEngine.openFromCheckpoint(
      checkpointDir,
      join(options.dir, "data"),
      Replica.storageOptions(options),
    );
    return Replica.start(options, storage);
  }

  private static storageOptions(options: ReplicaOptions) {
    return {
      path: join(options.dir, "data"),
      clock: options.clock ?? systemClock,
      logger: options.logger ?? silentLogger,
      ...(options.tombstoneRetentionSeconds === undefined
        ? {}
        : { tombstoneRetentionSeconds: options.tombstoneRetentionSeconds }),
      readLimits: options.readLimits ?? defaultReadLimits,
    };
  }

  private static async start(options: ReplicaOptions, storage: StorageEngine): Promise<Replica> {
    let log: PrivateLog | undefined;
    try {
      log = await PrivateLog.open({
        dir: join(options.dir, "plog"),
        logger: options.logger ?? silentLogger,
        ...(options.plogSegmentBytesMax === undefined
          ? {}
          : { segmentBytesMax: options.plogSegmentBytesMax }),
        ...(options.plogFsync === undefined ? {} : { fsync: options.plogFsync }),
      });
      await Replica.replay(log, storage, options);
      const replica = new Replica(options, log, storage);
      replica.lastAssignedDecree = Math.max(storage.lastAppliedDecree, log.lastDecree);
      const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
      if (sweepIntervalMs > 0) {
        storage.startSweeper({
          intervalMs: sweepIntervalMs,
          budget: options.sweepBudget ?? DEFAULT_SWEEP_BUDGET,
        });
      }
      return replica;
    } catch (error) {
      await log?.close();
      await storage.close();
      throw error;
    }
  }

  /** Applies every logged mutation the store has not applied yet, in decree order. */
  private static async replay(
    log: PrivateLog,
    storage: StorageEngine,
    options: ReplicaOptions,
  ): Promise<void> {
    const from = storage.lastAppliedDecree + 1;
    if (log.lastDecree < from) return;
    if (log.firstDecree > from) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `the plog starts at decree ${log.firstDecree} but the store has only applied up to ${from - 1}`,
        { details: { firstDecree: log.firstDecree, lastAppliedDecree: from - 1 } },
      );
    }
    const ctx = { clusterId: options.clusterId, keepTombstones: options.keepTombstones ?? false };
    let replayed = 0;
    for await (const record of log.replay(from, {
      batchBytes: options.replayBatchBytes ?? DEFAULT_REPLAY_BATCH_BYTES,
    })) {
      await storage.apply(decodeMutation(record.payload), ctx);
      replayed++;
    }
    (options.logger ?? silentLogger).info(
      { from, to: storage.lastAppliedDecree, replayed },
      "replayed private log into storage",
    );
  }

  get lastAppliedDecree(): number {
    return this.storage.lastAppliedDecree;
  }

  get lastDurableDecree(): number {
    return this.log.durableDecree;
  }

  get lastDecree(): number {
    return this.lastAssignedDecree;
  }

  get lastTimestampUs(): number {
    return this.clock.lastTimestampUs;
  }

  /** Tables that become duplicated turn tombstones on for local deletes. */
  setKeepTombstones(keep: boolean): void {
    this.keepTombstones = keep;
  }

  /** Validates, logs durably, applies, and answers. Rejected requests change nothing. */
  async write(request: WriteRequest): Promise<WriteResult> {
    const metrics = this.options.metrics;
    if (metrics === undefined) return this.writeUnmeasured(request);
    const startMs = performance.now();
    try {
      const result = await this.writeUnmeasured(request);
      metrics.writes.inc({ op: request.op });
      metrics.writeDuration.observe({ op: request.op }, (performance.now() - startMs) / 1000);
      return result;
    } catch (error) {
      const code = isTalariaError(error) ? error.code : "INTERNAL";
      metrics.writeErrors.inc({ op: request.op, code });
      throw error;
    }
  }

  private async writeUnmeasured(request: WriteRequest): Promise<WriteResult> {
    this.checkWritable();
    validateWrite(request, this.writeLimits);
    if (isAtomicRequest(request)) return this.writeAtomic(request);
    // Writes that arrive after an atomic operation take their decree after it.
    while (this.atomicPending > 0) await this.atomicGate;
    this.checkWritable();
    if (request.op === "duplicate") {
      for (const entry of request.entries) this.clock.observe(entry.timestampUs);
      const result = await this.commit([{ kind: UpdateKind.DUPLICATE, entries: request.entries }]);
      return { decree: result.decree, staleEntriesSkipped: result.staleEntriesSkipped };
    }
    const result = await this.commit([requestToUpdate(request)]);
    return { decree: result.decree };
  }

  private async writeAtomic(request: AtomicRequest): Promise<WriteResult> {
    this.atomicPending++;
    const turn = this.atomicGate.then(async () => {
      try {
        await this.lastApply;
        this.checkWritable();
        const read = this.reads.visibleRecordReader();
        if (request.op === "incr") {
          const resolution = resolveIncr(request, read);
          return { commit: this.commit([resolution.update]), newValue: resolution.newValue };
        }
        const resolution: CheckResolution =
          request.op === "checkAndSet"
            ? resolveCheckAndSet(request, read)
            : resolveCheckAndMutate(request, read);
        if (!resolution.passed) {
          throw new TalariaError("ERR_TRY_AGAIN", `${request.op} check did not pass`, {
            details:
              resolution.checkValue === undefined ? {} : { checkValue: resolution.checkValue },
          });
        }
        return { commit: this.commit(resolution.updates), checkValue: resolution.checkValue };
      } finally {
        this.atomicPending--;
      }
    });
    this.atomicGate = turn.then(
      () => undefined,
      () => undefined,
    );
    const { commit, ...extra } = await turn;
    const { decree } = await commit;
    return {
      decree,
      ...(extra.newValue === undefined ? {} : { newValue: extra.newValue }),
      ...(extra.checkValue === undefined ? {} : { checkValue: extra.checkValue }),
    };
  }

  /** Assigns the next decree synchronously, then waits for durability and apply. */
  private commit(
    updates: readonly Update[],
  ): Promise<{ decree: number; staleEntriesSkipped: number }> {
    const mutation: Mutation = {
      ballot: this.options.ballot ?? 1,
      decree: ++this.lastAssignedDecree,
      timestampUs: this.clock.next(),
      updates,
    };
    const durable = this.log.append(mutation.decree, encodeMutation(mutation));
    const ctx = { clusterId: this.options.clusterId, keepTombstones: this.keepTombstones };
    // Hand mutations to storage strictly in decree order, without waiting for earlier applies to
    // finish (storage batches concurrent applies into one commit). A failure poisons every later write.
    const submitted = this.submitTail.then(async () => {
      await durable;
      return { applied: this.storage.apply(mutation, ctx) };
    });
    this.submitTail = submitted.then(() => undefined);
    const applied = submitted.then((s) => s.applied);
    this.lastApply = applied.catch(() => undefined);
    return applied.then(
      (result) => ({ decree: result.decree, staleEntriesSkipped: result.staleEntriesSkipped }),
      (error: unknown) => {
        this.fail(error);
        throw error;
      },
    );
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.logger.error(
      { err: error, dir: this.options.dir },
      "replica failed; refusing further writes",
    );
  }

  private checkWritable(): void {
    if (this.closed) throw new TalariaError("ERR_INVALID_STATE", "replica is closed");
    if (this.failure !== undefined) {
      throw new TalariaError("ERR_INVALID_STATE", "replica failed after a log or storage error", {
        cause: this.failure,
      });
    }
  }

  /** A consistent copy of the store and the decree it contains. */
  checkpoint(dir: string) {
    return this.storage.checkpoint(dir);
  }

  /** Deletes plog segments that storage no longer needs (everything durable in the store). */
  async gcLog(): Promise<{ segmentsDeleted: number; bytesDeleted: number }> {
    return this.log.gc(this.logGcBoundDecree());
  }

  /**
   * The decree below which the plog may be deleted. Later features lower it (duplication's hold,
   * learners that still need the log); this is the one place that decides.
   */
  logGcBoundDecree(): number {
    return Math.min(this.storage.lastDurableDecree, this.log.durableDecree) + 1;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.untrackMetrics();
    await this.lastApply;
    await this.log.close();
    await this.storage.close();
  }
}
