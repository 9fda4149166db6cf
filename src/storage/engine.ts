/**
 * The storage engine of one replica: an lmdb environment (layout in lmdb-env.ts and meta-store.ts)
 * with a serialized write path for applies and sweeps, checkpoints, and the handles reads need.
 *
 * Invariants:
 *   - An apply puts its writes in the memtable (memtable.ts), all or nothing: a throw leaves the
 *     memtable and the meta as they were, so the same decree can be applied again. Reads consult
 *     the memtable before lmdb, so a read that follows an apply sees it.
 *   - A flush writes every memtable entry AND the meta record (lastAppliedDecree,
 *     lastAppliedBallot, maxTimestampUs) in one lmdb write transaction: lmdb is never between two
 *     decrees, and the ballot always belongs to the mutation at its last applied decree. A flush
 *     runs at most `flushIntervalMs` after the oldest unflushed apply or sweep step, when the
 *     memtable outgrows its bounds, before a checkpoint, and on close. The private log, kept from
 *     lastDurableDecree on, replays whatever a crash loses from the memtable.
 *   - A TTL sweep step works like an apply: it reads through the memtable and puts its tombstones
 *     and removals there, all or nothing. A crash that loses them loses nothing a read could see
 *     (an expired record reads as absent); a later step redoes them.
 *   - The interval's and the bounds' flushes run in the background: one lmdb-js asynchronous write
 *     batch, committed and flushed to disk on lmdb-js's write thread, so the event loop never waits
 *     for the disk. The entries it writes stay in the memtable (reads keep finding them there)
 *     until it is durable; then those not replaced since leave. At most one is in flight.
 *   - The other write transactions (the flushes before a checkpoint, on close and at the hard
 *     bound) run synchronously on the calling thread, and only while no background flush is in
 *     flight: lmdb then applies every write in the order the memtable saw it.
 *   - Decrees land in order: an apply is accepted only if it follows the last applied decree.
 *   - Sweeps never change the meta record.
 *   - lastDurableDecree <= lastAppliedDecree, and is the decree of the last flush.
 *   - After close() starts, every operation fails with ERR_INVALID_STATE.
 */

import { TransactionFlags } from "lmdb";
import type { Mutation } from "../codec/mutation.ts";
import { epochNowSeconds } from "../codec/value-schema.ts";
import { AssertionError, assert } from "../common/assert.ts";
import type { Clock } from "../common/clock.ts";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import { defaultReadLimits, type ReadLimits } from "../common/limits.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import { type ApplyOutcome, applyMutation } from "./apply.ts";
import {
  type CheckpointTransfer,
  createCheckpoint,
  removeRestoredFiles,
  restoreCheckpointFiles,
} from "./checkpoint.ts";
import { isDataEmpty, type LmdbEnv, openLmdbEnv, STORED_KEY_BYTES_MAX } from "./lmdb-env.ts";
import {
  LayeredReadStore,
  layeredSweepStore,
  Memtable,
  type MemtableEntry,
  StagedWrites,
} from "./memtable.ts";
import {
  checkFormatVersion,
  initMeta,
  metaRecords,
  readFormatVersion,
  readMeta,
  type StoredMeta,
  writeMeta,
} from "./meta-store.ts";
import { type SweepOutcome, sweepRecords } from "./sweep.ts";
import {
  checkSweepBudget,
  type SweeperOptions,
  SweeperTimer,
  type SweepOptions,
} from "./sweeper.ts";
import type { ApplyContext, ApplyResult, CheckpointInfo, SweepResult } from "./types.ts";
import { isNextDecree, validateApplyContext, validateMutation } from "./validate-mutation.ts";

/**
 * Write transactions commit before transactionSync returns (SYNCHRONOUS_COMMIT: a batch of
 * lmdb-js's asynchronous writes in progress is split rather than joined) and may be aborted
 * (ABORTABLE). lmdb flushes them to disk after releasing its write lock (NO_SYNC_FLUSH, lmdb-js's
 * overlappingSync), still inside the commit call (mdb_txn_commit takes the sync mutex and flushes
 * the data file, then the meta page): when transactionSync returns, the transaction is on disk.
 */
const SYNC_WRITE_FLAGS =
  TransactionFlags.ABORTABLE | TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.NO_SYNC_FLUSH;

/**
 * A write transaction that holds the thread this long (a slow disk's flush, most likely) is
 * counted in slowWriteTransactions and logged, at most once per SLOW_WRITE_WARN_INTERVAL_MS.
 */
export const SLOW_WRITE_TRANSACTION_MS = 100;

/**
 * A background flush that takes this long (committed and flushed to disk) is logged, at most once
 * per SLOW_WRITE_WARN_INTERVAL_MS.
 */
export const SLOW_FLUSH_MS = 1_000;

/**
 * How long an applied write may wait in the memtable before it is written to lmdb. One flush
 * (one lmdb commit and disk flush) then covers every apply of the interval; the private log holds
 * them meanwhile, so the interval only bounds how much a restart replays.
 */
export const STORAGE_FLUSH_INTERVAL_MS = 200;
/** Memtable entries (distinct keys) that trigger a flush before the interval is up. */
export const UNFLUSHED_ENTRIES_MAX = 16_384;
/** Memtable bytes (keys, values and bookkeeping) that trigger a flush before the interval is up. */
export const UNFLUSHED_BYTES_MAX = 32 * 1024 * 1024;
/**
 * While flushes fail (a full disk, say), applies go on into the memtable up to this many times its
 * bounds; beyond that an apply first tries to flush and fails with ERR_FILE_OPERATION_FAILED if it
 * cannot, changing nothing.
 */
const UNFLUSHED_HARD_FACTOR = 4;
const SLOW_WRITE_WARN_INTERVAL_MS = 10_000;

/** How long a tombstone is kept for late duplicated writes to lose against (Pegasus: 1 day). */
export const DEFAULT_TOMBSTONE_RETENTION_SECONDS = 86_400;

export interface StorageEngineOptions {
  /** Directory of the lmdb environment; created when missing. */
  readonly path: string;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly tombstoneRetentionSeconds?: number;
  /** Bounds the read module applies; the engine only carries them. */
  readonly readLimits?: ReadLimits;
  /** Write transactions at least this long count as slow (SLOW_WRITE_TRANSACTION_MS). */
  readonly slowWriteTransactionMs?: number;
  /** Longest an applied write waits in the memtable (STORAGE_FLUSH_INTERVAL_MS). */
  readonly flushIntervalMs?: number;
  /** Memtable entries that trigger a flush (UNFLUSHED_ENTRIES_MAX). */
  readonly unflushedEntriesMax?: number;
  /** Background flushes at least this long are logged (SLOW_FLUSH_MS). */
  readonly slowFlushMs?: number;
}

function invalidState(message: string): TalariaError {
  return new TalariaError("ERR_INVALID_STATE", message);
}

export { type SweeperOptions, type SweepOptions, sweepSteps } from "./sweeper.ts";

/** lmdb and file-system failures surface as ERR_FILE_OPERATION_FAILED; ours pass through. */
function toStorageError(error: unknown): unknown {
  if (isTalariaError(error) || error instanceof AssertionError) return error;
  return new TalariaError("ERR_FILE_OPERATION_FAILED", "lmdb write transaction failed", {
    cause: error,
  });
}

/** Reads (or, for a new environment, writes) the meta record; refuses unknown layouts. */
function loadMeta(env: LmdbEnv, path: string): StoredMeta {
  const version = readFormatVersion(env.meta);
  if (version !== undefined) {
    checkFormatVersion(version);
    return readMeta(env.meta);
  }
  if (!isDataEmpty(env.data)) {
    throw new TalariaError(
      "ERR_INVALID_DATA",
      `environment ${path} has data but no format version`,
    );
  }
  env.root.transactionSync(() => initMeta(env.meta));
  return readMeta(env.meta);
}

/** Cumulative counters since the engine opened, for metrics. */
export interface StorageStats {
  readonly mutationsApplied: number;
  readonly staleEntriesSkipped: number;
  readonly expiredSwept: number;
  readonly tombstonesCollected: number;
  /**
   * Synchronous write transactions (the flushes before a checkpoint, on close and at the hard
   * bound) and the seconds they held the thread.
   */
  readonly writeTransactions: number;
  readonly writeTransactionSeconds: number;
  /** Those that took SLOW_WRITE_TRANSACTION_MS or longer. */
  readonly slowWriteTransactions: number;
  /** Flushes of the memtable to lmdb, background and synchronous, and failed ones. */
  readonly flushes: number;
  readonly flushFailures: number;
  /** Seconds background flushes took, from queueing their writes to lmdb's disk flush. */
  readonly flushSeconds: number;
  /** Memtable entries and bytes not yet written to lmdb (gauges). */
  readonly unflushedEntries: number;
  readonly unflushedBytes: number;
}

export class StorageEngine {
  readonly path: string;
  readonly readLimits: ReadLimits;
  private readonly env: LmdbEnv;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly tombstoneRetentionUs: number;
  /** Committed meta, mirrored from the last apply. */
  private meta: StoredMeta;
  private durableDecree: number;
  private readonly inFlight = new Set<Promise<unknown>>();
  private sweepCursor: Buffer | undefined;
  private sweeper: SweeperTimer | undefined;
  private closing: Promise<void> | undefined;
  private readonly counters = {
    mutationsApplied: 0,
    staleEntriesSkipped: 0,
    expiredSwept: 0,
    tombstonesCollected: 0,
    writeTransactions: 0,
    writeTransactionSeconds: 0,
    slowWriteTransactions: 0,
    flushes: 0,
    flushFailures: 0,
    flushSeconds: 0,
  };
  /** When each kind of slow-write warning was last logged (SLOW_WRITE_WARN_INTERVAL_MS apart). */
  private readonly slowWarnedAtMs = {
    transaction: Number.NEGATIVE_INFINITY,
    flush: Number.NEGATIVE_INFINITY,
  };
  private readonly slowWriteTransactionMs: number;
  private readonly memtable = new Memtable();
  private readonly readStore: LayeredReadStore;
  private readonly flushIntervalMs: number;
  private readonly unflushedEntriesMax: number;
  private flushTimer: NodeJS.Timeout | undefined;
  /** The background flush in flight; resolves to whether it made its writes durable. */
  private flushing: Promise<boolean> | undefined;
  private readonly slowFlushMs: number;

  private constructor(env: LmdbEnv, meta: StoredMeta, options: StorageEngineOptions) {
    this.env = env;
    this.path = options.path;
    this.clock = options.clock;
    this.logger = (options.logger ?? silentLogger).child({
      component: "storage",
      path: options.path,
    });
    this.readLimits = options.readLimits ?? defaultReadLimits;
    this.tombstoneRetentionUs =
      (options.tombstoneRetentionSeconds ?? DEFAULT_TOMBSTONE_RETENTION_SECONDS) * 1_000_000;
    this.slowWriteTransactionMs = options.slowWriteTransactionMs ?? SLOW_WRITE_TRANSACTION_MS;
    this.slowFlushMs = options.slowFlushMs ?? SLOW_FLUSH_MS;
    this.flushIntervalMs = options.flushIntervalMs ?? STORAGE_FLUSH_INTERVAL_MS;
    this.unflushedEntriesMax = options.unflushedEntriesMax ?? UNFLUSHED_ENTRIES_MAX;
    this.readStore = new LayeredReadStore(this.memtable, env.data);
    this.meta = meta;
    // What a fresh open reads is on disk; nothing newer can be waiting for a flush.
    this.durableDecree = meta.lastAppliedDecree;
  }

  static async open(options: StorageEngineOptions): Promise<StorageEngine> {
    const retention = options.tombstoneRetentionSeconds ?? DEFAULT_TOMBSTONE_RETENTION_SECONDS;
    if (!Number.isSafeInteger(retention) || retention < 0) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", `tombstoneRetentionSeconds ${retention}`);
    }
    for (const [name, value] of [
      ["flushIntervalMs", options.flushIntervalMs],
      ["unflushedEntriesMax", options.unflushedEntriesMax],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new TalariaError("ERR_INVALID_PARAMETERS", `${name} ${value}`);
      }
    }
    const env = openLmdbEnv(options.path, { readOnly: false });
    let meta: StoredMeta;
    try {
      meta = loadMeta(env, options.path);
    } catch (error) {
      await env.root.close();
      throw error;
    }
    const engine = new StorageEngine(env, meta, options);
    engine.logger.info({ lastAppliedDecree: meta.lastAppliedDecree }, "storage engine opened");
    return engine;
  }

  /**
   * Copies (or, with "move", renames: checkpoint.ts) a checkpoint into an empty `targetPath` and
   * opens it at the checkpoint's decree. If it cannot be opened, the restored files are removed so
   * a retry starts from an empty target (a moved checkpoint has to be fetched again).
   */
  static async openFromCheckpoint(
    checkpointDir: string,
    targetPath: string,
    options: Omit<StorageEngineOptions, "path">,
    transfer: CheckpointTransfer = "copy",
  ): Promise<StorageEngine> {
    const manifest = await restoreCheckpointFiles(checkpointDir, targetPath, transfer);
    let engine: StorageEngine | undefined;
    try {
      engine = await StorageEngine.open({ ...options, path: targetPath });
      if (engine.lastAppliedDecree !== manifest.decree) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `checkpoint ${checkpointDir} holds decree ${engine.lastAppliedDecree}, manifest says ${manifest.decree}`,
        );
      }
      return engine;
    } catch (error) {
      await engine?.close();
      await removeRestoredFiles(targetPath);
      throw error;
    }
  }

  get lastAppliedDecree(): number {
    return this.meta.lastAppliedDecree;
  }

  /** `mutation.ballot` of the mutation at lastAppliedDecree; 0 when none or unknown. */
  get lastAppliedBallot(): number {
    return this.meta.lastAppliedBallot;
  }

  /** Last decree lmdb has reported flushed to disk: the private log may be trimmed up to it. */
  get lastDurableDecree(): number {
    return this.durableDecree;
  }

  /**
   * The last applied decree holding a remote's full re-sync (meta `last_resync_decree`); 0 when
   * none. Durable with the applies it covers, so it survives restarts and reaches learners.
   */
  get lastResyncDecree(): number {
    return this.meta.lastResyncDecree;
  }

  get maxTimestampUs(): number {
    return this.meta.maxTimestampUs;
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** What reads see: the memtable in front of lmdb's "data" database, for the read module. */
  get data(): LayeredReadStore {
    this.checkOpen("read");
    return this.readStore;
  }

  /** Seconds since 2016-01-01 by the engine's clock: what expireTs is compared with. */
  epochNow(): number {
    return epochNowSeconds(this.clock.nowMs());
  }

  /**
   * Applies `mutation` to the memtable, in front of lmdb (see the invariants above): the returned
   * promise is already settled when this returns (it is a promise for the callers that pipeline
   * applies). No lmdb transaction runs here: on the 2-core VMs we measure on, a durable lmdb commit
   * per apply cost ≈ 0.46 ms of CPU and held the event loop ≈ 0.8 ms for its two disk flushes,
   * against ≈ 0.1 ms for one without them (docs/benchmarks.md, reading of the 2026-11-22 18:19
   * bench:dup run); the flush every `flushIntervalMs` pays that once for all the interval's
   * applies.
   */
  async apply(mutation: Mutation, ctx: ApplyContext): Promise<ApplyResult> {
    this.checkOpen("apply");
    validateMutation(mutation);
    validateApplyContext(ctx);
    if (!isNextDecree(this.meta.lastAppliedDecree, mutation.decree)) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `decree ${mutation.decree} does not follow last applied decree ${this.meta.lastAppliedDecree}`,
        { details: { decree: mutation.decree, lastAppliedDecree: this.meta.lastAppliedDecree } },
      );
    }
    if (this.isOverHardBound()) this.flushAtHardBound();
    const staged = new StagedWrites(this.memtable, this.env.data);
    let outcome: ApplyOutcome;
    try {
      outcome = applyMutation(staged, this.meta, mutation, ctx, STORED_KEY_BYTES_MAX);
    } catch (error) {
      throw toStorageError(error);
    }
    staged.mergeInto(this.memtable);
    this.meta = { ...outcome.meta, lastAppliedBallot: mutation.ballot };
    this.counters.mutationsApplied++;
    this.counters.staleEntriesSkipped += outcome.staleEntriesSkipped;
    this.afterWrite();
    return {
      decree: mutation.decree,
      staleEntriesSkipped: outcome.staleEntriesSkipped,
      ...(outcome.staleEntriesSkippedByUpdate === undefined
        ? {}
        : { staleEntriesSkippedByUpdate: outcome.staleEntriesSkippedByUpdate }),
    };
  }

  /**
   * Waits until everything applied so far is on disk (a background flush); returns
   * lastDurableDecree. Fails with ERR_FILE_OPERATION_FAILED if the flush did.
   */
  async flush(): Promise<number> {
    this.checkOpen("flush");
    const flushed = await this.whenNoFlush(() => {
      this.checkOpen("flush");
      return this.hasUnflushed() ? this.startFlush("requested") : true;
    });
    if (!flushed) {
      throw new TalariaError("ERR_FILE_OPERATION_FAILED", "storage flush failed", {
        details: { lastDurableDecree: this.durableDecree },
      });
    }
    return this.durableDecree;
  }

  get stats(): StorageStats {
    return {
      ...this.counters,
      unflushedEntries: this.memtable.size,
      unflushedBytes: this.memtable.bytes,
    };
  }

  /**
   * One bounded sweep step, resuming where the previous one stopped. Like an apply, it examines
   * records as reads see them (the memtable in front of lmdb) and puts its tombstones and removals
   * in the memtable, all or nothing, for the next flush to write: no lmdb transaction runs, so the
   * event loop never waits for the disk, and a background flush in flight does not hold it up.
   * The returned promise is already settled when this returns. At the memtable's hard bound it
   * flushes first or fails, as an apply does.
   */
  async sweep(options: SweepOptions): Promise<SweepResult> {
    this.checkOpen("sweep");
    checkSweepBudget(options.budget);
    if (this.isOverHardBound()) this.flushAtHardBound();
    const staged = new StagedWrites(this.memtable, this.env.data);
    const now = { nowUs: this.clock.nowUs(), epochNow: this.epochNow() };
    let outcome: SweepOutcome;
    try {
      outcome = sweepRecords(
        layeredSweepStore(this.readStore, staged),
        this.sweepCursor,
        options.budget,
        now,
        this.tombstoneRetentionUs,
        options.holdTombstones === true,
      );
    } catch (error) {
      throw toStorageError(error);
    }
    staged.mergeInto(this.memtable);
    this.sweepCursor = outcome.nextCursor;
    const { result } = outcome;
    this.counters.expiredSwept += result.expired;
    this.counters.tombstonesCollected += result.tombstonesCollected;
    if (result.expired > 0 || result.tombstonesCollected > 0) this.afterWrite();
    return result;
  }

  /** Resolves once no background flush is in flight (whatever its outcome). */
  async settled(): Promise<void> {
    await this.whenNoFlush(() => undefined);
  }

  /**
   * Runs `write` once no background flush is in flight — at once if none is — in the same turn as
   * it finds none, so no flush can start in between (one could in the microtasks between a
   * resolved settled() and its awaiter). A throw from `write` becomes a rejection.
   */
  private async whenNoFlush<T>(write: () => T): Promise<Awaited<T>> {
    while (this.flushing !== undefined) await this.flushing;
    return await write();
  }

  /**
   * Until stopSweeper() or close(), examines up to `budget` records every `intervalMs`, in steps
   * spread evenly over the interval: ceil(budget / SWEEP_STEP_RECORDS_MAX) steps of
   * floor(budget / steps) records, one `sweep` each (synchronous, so steps never overlap).
   * Spreading them keeps the sweep from taking the CPU from writes in bursts: each step runs on
   * the main thread.
   */
  startSweeper(options: SweeperOptions): void {
    this.checkOpen("startSweeper");
    if (this.sweeper !== undefined) throw invalidState("sweeper already running");
    this.sweeper = new SweeperTimer(options, (step) => this.sweeperTick(step));
  }

  stopSweeper(): void {
    this.sweeper?.stop();
    this.sweeper = undefined;
  }

  private sweeperTick(options: SweepOptions): void {
    if (this.sweeper === undefined || this.closing !== undefined) return;
    void this.sweep(options).then(
      (result) => {
        if (result.expired > 0 || result.tombstonesCollected > 0)
          this.logger.debug(result, "swept");
      },
      (error: unknown) => this.logger.warn({ err: error }, "sweep failed"),
    );
  }

  /** A consistent copy of the store in `dir` (created, or empty), with its manifest. */
  async checkpoint(dir: string): Promise<CheckpointInfo> {
    this.checkOpen("checkpoint");
    await this.whenNoFlush(() => {
      this.checkOpen("checkpoint");
      this.flushNow();
    });
    const startedMs = performance.now();
    const { info, compacted } = await this.track(
      createCheckpoint(this.env, dir, this.clock.nowMs()),
    );
    this.logger.info(
      {
        dir,
        decree: info.decree,
        bytes: info.bytes,
        compacted,
        seconds: Math.round(performance.now() - startedMs) / 1000,
      },
      "checkpoint written",
    );
    return info;
  }

  /** Waits for pending applies, sweeps and checkpoints, flushes, and closes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.stopSweeper();
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await Promise.allSettled([...this.inFlight]);
    try {
      await this.whenNoFlush(() => this.flushNow());
    } catch (error) {
      // The private log still holds these decrees; the next open replays them.
      this.logger.error(
        { err: error, unflushedEntries: this.memtable.size },
        "final flush failed; the private log replays the unflushed applies on the next open",
      );
    }
    await this.env.root.close();
    this.logger.info({ lastAppliedDecree: this.meta.lastAppliedDecree }, "storage engine closed");
  }

  private checkOpen(operation: string): void {
    if (this.closing !== undefined) throw invalidState(`${operation} on a closed storage engine`);
  }

  /**
   * Runs `write` in a write transaction committed before this returns, and accounts for the time
   * it held the thread (the event loop, in a server).
   */
  private writeSync<T>(write: () => T): T {
    const startedMs = performance.now();
    try {
      return this.env.root.transactionSync(write, SYNC_WRITE_FLAGS);
    } finally {
      const heldMs = performance.now() - startedMs;
      this.counters.writeTransactions++;
      this.counters.writeTransactionSeconds += heldMs / 1000;
      if (heldMs >= this.slowWriteTransactionMs) {
        this.counters.slowWriteTransactions++;
        this.warnSlow(
          "transaction",
          { ms: Math.round(heldMs), slowWriteTransactions: this.counters.slowWriteTransactions },
          "slow lmdb write transaction held the event loop (a slow disk flush?)",
        );
      }
    }
  }

  /** Whether flushes have been failing long enough that applies must wait for one. */
  private isOverHardBound(): boolean {
    return (
      this.memtable.size >= this.unflushedEntriesMax * UNFLUSHED_HARD_FACTOR ||
      this.memtable.bytes >= UNFLUSHED_BYTES_MAX * UNFLUSHED_HARD_FACTOR
    );
  }

  private isOverBounds(): boolean {
    return (
      this.memtable.size >= this.unflushedEntriesMax || this.memtable.bytes >= UNFLUSHED_BYTES_MAX
    );
  }

  private hasUnflushed(): boolean {
    return this.memtable.size > 0 || this.meta.lastAppliedDecree !== this.durableDecree;
  }

  /**
   * After an apply or a sweep step changed the memtable: flushes at once when it is over its
   * bounds, else makes sure a flush is due.
   */
  private afterWrite(): void {
    if (this.isOverBounds()) {
      // A flush in flight starts the next one when it ends (scheduleFlush).
      if (this.flushing === undefined) void this.startFlush("the memtable is full");
      return;
    }
    this.armFlushTimer();
  }

  private armFlushTimer(): void {
    if (this.flushTimer !== undefined || this.closing !== undefined) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      if (this.closing === undefined && this.flushing === undefined) {
        void this.startFlush("the flush interval is up");
      }
    }, this.flushIntervalMs);
    this.flushTimer.unref();
  }

  /** After a background flush: the next one at once if the memtable is full, else when due. */
  private scheduleFlush(succeeded: boolean): void {
    if (this.closing !== undefined || !this.hasUnflushed()) return;
    // A failed flush is retried an interval later, not at once: the failure is likely to last.
    if (succeeded && this.isOverBounds()) void this.startFlush("the memtable is full");
    else this.armFlushTimer();
  }

  /**
   * Starts a background flush of every memtable entry and the current meta: queued here, in this
   * event turn, as lmdb-js asynchronous writes, which lmdb-js commits as one transaction on its
   * write thread (eventTurnBatching) and then flushes to disk (overlappingSync). Resolves to true
   * once that flush is done, and to false — the failure counted, logged and left for a retry — if
   * it failed; never rejects. Only one runs at a time.
   */
  private startFlush(reason: string): Promise<boolean> {
    assert(this.flushing === undefined, "one background flush at a time");
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const entries = [...this.memtable.values()];
    const meta = this.meta;
    const startedMs = performance.now();
    const flushing = this.writeInBackground(entries, meta)
      .then(
        () => {
          this.backgroundFlushed(entries, meta, performance.now() - startedMs);
          return true;
        },
        (error: unknown) => {
          this.counters.flushFailures++;
          this.logger.warn(
            { err: error, reason, unflushedEntries: this.memtable.size },
            "storage flush failed; retrying (the private log holds the unflushed applies)",
          );
          return false;
        },
      )
      .then((succeeded) => {
        this.flushing = undefined;
        this.scheduleFlush(succeeded);
        return succeeded;
      });
    this.flushing = flushing;
    return flushing;
  }

  /**
   * Queues `entries` and `meta` as lmdb-js asynchronous writes, all before this returns its
   * promise (so in one transaction), and resolves once that transaction is committed and on disk.
   * The keys and values were checked when applied, so queueing them does not throw part-way.
   */
  private async writeInBackground(entries: readonly MemtableEntry[], meta: StoredMeta) {
    const data = this.env.data;
    // lmdb-js answers every write of a batch with the batch's one commit promise; a Set keeps
    // whatever it answers awaited, so no rejection goes unhandled.
    const commits = new Set<Promise<boolean>>();
    for (const { key, value } of entries) {
      commits.add(value === null ? data.remove(key) : data.put(key, value));
    }
    for (const [key, bytes] of metaRecords(meta)) commits.add(this.env.meta.put(key, bytes));
    await Promise.all(commits);
    // Once committed, `flushed` is this transaction's disk flush: no other write is queued meanwhile.
    await this.env.root.flushed;
  }

  /** A background flush is durable: its entries leave the memtable unless replaced since. */
  private backgroundFlushed(
    entries: readonly MemtableEntry[],
    meta: StoredMeta,
    elapsedMs: number,
  ): void {
    for (const entry of entries) this.memtable.deleteIfCurrent(entry);
    this.durableDecree = meta.lastAppliedDecree;
    this.counters.flushes++;
    this.counters.flushSeconds += elapsedMs / 1000;
    if (elapsedMs >= this.slowFlushMs) {
      this.warnSlow(
        "flush",
        { ms: Math.round(elapsedMs), entries: entries.length },
        "slow storage flush (a slow disk?)",
      );
    }
  }

  /** Logs a slow-write warning unless one of the same kind was logged in the last interval. */
  private warnSlow(kind: "transaction" | "flush", fields: object, message: string): void {
    const nowMs = performance.now();
    if (nowMs - this.slowWarnedAtMs[kind] < SLOW_WRITE_WARN_INTERVAL_MS) return;
    this.slowWarnedAtMs[kind] = nowMs;
    this.logger.warn(fields, message);
  }

  /**
   * An apply found the memtable at UNFLUSHED_HARD_FACTOR times its bounds (flushes have been
   * failing or are far behind): it flushes synchronously first, or fails if it cannot.
   */
  private flushAtHardBound(): void {
    if (this.flushing !== undefined) {
      throw new TalariaError(
        "ERR_FILE_OPERATION_FAILED",
        "storage flushes are behind: the memtable is at its hard bound and a flush is still running",
        { details: { unflushedEntries: this.memtable.size, unflushedBytes: this.memtable.bytes } },
      );
    }
    this.flushNow();
  }

  /**
   * Writes the memtable and the meta record to lmdb in one synchronous transaction, flushed to disk
   * before it returns (lmdb-js's overlappingSync flushes inside the commit call), then empties the
   * memtable. Only while no background flush is in flight. Throws ERR_FILE_OPERATION_FAILED and
   * keeps the memtable if the transaction fails.
   */
  private flushNow(): void {
    assert(this.flushing === undefined, "no synchronous flush while a background one runs");
    if (!this.hasUnflushed()) return;
    try {
      this.writeSync(() => this.writeMemtable());
    } catch (error) {
      this.counters.flushFailures++;
      throw toStorageError(error);
    }
    this.flushed();
  }

  /** Inside a write transaction: the memtable's entries and the meta they belong to. */
  private writeMemtable(): void {
    const data = this.env.data;
    for (const { key, value } of this.memtable.values()) {
      if (value === null) data.removeSync(key);
      else data.putSync(key, value);
    }
    writeMeta(this.env.meta, this.meta);
  }

  /**
   * After a transaction that ran writeMemtable committed: its commit call flushed it to disk
   * (overlappingSync, see SYNC_WRITE_FLAGS), so its decree is durable now.
   */
  private flushed(): void {
    this.memtable.clear();
    this.durableDecree = this.meta.lastAppliedDecree;
    this.counters.flushes++;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const forget = () => {
      this.inFlight.delete(promise);
    };
    void promise.then(forget, forget);
    return promise;
  }
}
