/**
 * The storage engine of one replica: an lmdb environment (layout in lmdb-env.ts and meta-store.ts)
 * with a serialized write path for applies and sweeps, checkpoints, and the handles reads need.
 *
 * Invariants:
 *   - Every apply is one lmdb write transaction that writes its updates AND the meta record
 *     (lastAppliedDecree, lastAppliedBallot, maxTimestampUs): the store is never between two
 *     decrees, and the ballot always belongs to the mutation at the last applied decree. A throw
 *     inside aborts the transaction, so a failed mutation leaves nothing behind.
 *   - Write transactions (applies and sweep steps) run synchronously on the calling thread and are
 *     committed when the call returns, so a read that follows an apply sees it.
 *   - Decrees land in order: an apply is accepted only if it follows the last applied decree;
 *     the transaction re-checks against the stored decree, which is the authority. A failed apply
 *     changes nothing, so the same decree can be applied again.
 *   - Sweeps never write the meta record.
 *   - lastDurableDecree <= lastAppliedDecree, and only counts decrees lmdb reported flushed.
 *   - After close() starts, every operation fails with ERR_INVALID_STATE.
 */

import { TransactionFlags } from "lmdb";
import type { Mutation } from "../codec/mutation.ts";
import { epochNowSeconds } from "../codec/value-schema.ts";
import { AssertionError } from "../common/assert.ts";
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
import {
  type BinaryDb,
  isDataEmpty,
  type LmdbEnv,
  lmdbRecordStore,
  lmdbSweepStore,
  openLmdbEnv,
  STORED_KEY_BYTES_MAX,
} from "./lmdb-env.ts";
import {
  checkFormatVersion,
  initMeta,
  readFormatVersion,
  readMeta,
  type StoredMeta,
  writeMeta,
} from "./meta-store.ts";
import { SWEEP_BUDGET_RECORDS_MAX, SWEEP_STEP_RECORDS_MAX, sweepRecords } from "./sweep.ts";
import type { ApplyContext, ApplyResult, CheckpointInfo, SweepResult } from "./types.ts";
import { isNextDecree, validateApplyContext, validateMutation } from "./validate-mutation.ts";

/**
 * Write transactions commit before transactionSync returns (SYNCHRONOUS_COMMIT: a batch of
 * lmdb-js's asynchronous writes in progress is split rather than joined) and may be aborted
 * (ABORTABLE); lmdb flushes them to disk after releasing its write lock (NO_SYNC_FLUSH, lmdb-js's
 * overlappingSync), and lastDurableDecree follows `flushed`.
 */
const SYNC_WRITE_FLAGS =
  TransactionFlags.ABORTABLE | TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.NO_SYNC_FLUSH;

/**
 * A write transaction that holds the thread this long (a slow disk's flush, most likely) is
 * counted in slowWriteTransactions and logged, at most once per SLOW_WRITE_WARN_INTERVAL_MS.
 */
export const SLOW_WRITE_TRANSACTION_MS = 100;
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
}

export interface SweepOptions {
  /** Most records examined by this call, 1..SWEEP_BUDGET_RECORDS_MAX. */
  readonly budget: number;
}

export interface SweeperOptions extends SweepOptions {
  readonly intervalMs: number;
}

function invalidState(message: string): TalariaError {
  return new TalariaError("ERR_INVALID_STATE", message);
}

function checkBudget(budget: number): void {
  if (!Number.isInteger(budget) || budget < 1 || budget > SWEEP_BUDGET_RECORDS_MAX) {
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `sweep budget ${budget} is not in [1, ${SWEEP_BUDGET_RECORDS_MAX}]`,
      { details: { limit: "SWEEP_BUDGET_RECORDS_MAX", value: budget } },
    );
  }
}

/** How the sweeper splits `budget` records per `intervalMs` into evenly spaced steps. */
export function sweepSteps(options: SweeperOptions): {
  stepRecords: number;
  stepIntervalMs: number;
} {
  const steps = Math.ceil(options.budget / SWEEP_STEP_RECORDS_MAX);
  return {
    stepRecords: Math.floor(options.budget / steps),
    stepIntervalMs: Math.max(1, Math.floor(options.intervalMs / steps)),
  };
}

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
  /** Write transactions (applies and sweep steps) and the seconds they held the thread. */
  readonly writeTransactions: number;
  readonly writeTransactionSeconds: number;
  /** Those that took SLOW_WRITE_TRANSACTION_MS or longer. */
  readonly slowWriteTransactions: number;
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
  private sweeper: { timer: NodeJS.Timeout } | undefined;
  private closing: Promise<void> | undefined;
  private readonly counters = {
    mutationsApplied: 0,
    staleEntriesSkipped: 0,
    expiredSwept: 0,
    tombstonesCollected: 0,
    writeTransactions: 0,
    writeTransactionSeconds: 0,
    slowWriteTransactions: 0,
  };
  private slowWarnedAtMs = Number.NEGATIVE_INFINITY;
  private readonly slowWriteTransactionMs: number;

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
    this.meta = meta;
    // What a fresh open reads is on disk; nothing newer can be waiting for a flush.
    this.durableDecree = meta.lastAppliedDecree;
  }

  static async open(options: StorageEngineOptions): Promise<StorageEngine> {
    const retention = options.tombstoneRetentionSeconds ?? DEFAULT_TOMBSTONE_RETENTION_SECONDS;
    if (!Number.isSafeInteger(retention) || retention < 0) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", `tombstoneRetentionSeconds ${retention}`);
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

  get maxTimestampUs(): number {
    return this.meta.maxTimestampUs;
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** The "data" database, for the read module. */
  get data(): BinaryDb {
    this.checkOpen("read");
    return this.env.data;
  }

  /** Seconds since 2016-01-01 by the engine's clock: what expireTs is compared with. */
  epochNow(): number {
    return epochNowSeconds(this.clock.nowMs());
  }

  /**
   * Applies `mutation` in one lmdb write transaction run synchronously on the calling thread: the
   * returned promise is already settled when this returns (it is a promise for the callers that
   * pipeline applies). Synchronous because on the 2-core VMs we measure on, lmdb-js's
   * asynchronous transactions cost about twice the CPU (each one hands work to a thread-pool thread
   * and back several times) and doubled the duplication lag under load (docs/benchmarks.md,
   * reading of the 15:37 bench:dup run). The price: the commit's flush holds this thread
   * (≈ 0.45 ms there); writeSync accounts for it (docs/storage.md).
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
    const records = lmdbRecordStore(this.env.data);
    let outcome: ApplyOutcome;
    try {
      outcome = this.writeSync("apply", () => {
        const applied = applyMutation(
          records,
          readMeta(this.env.meta),
          mutation,
          ctx,
          STORED_KEY_BYTES_MAX,
        );
        writeMeta(this.env.meta, { ...applied.meta, lastAppliedBallot: mutation.ballot });
        return applied;
      });
    } catch (error) {
      throw toStorageError(error);
    }
    this.meta = { ...outcome.meta, lastAppliedBallot: mutation.ballot };
    this.noteDurableWhenFlushed(mutation.decree);
    this.counters.mutationsApplied++;
    this.counters.staleEntriesSkipped += outcome.staleEntriesSkipped;
    return {
      decree: mutation.decree,
      staleEntriesSkipped: outcome.staleEntriesSkipped,
      ...(outcome.staleEntriesSkippedByUpdate === undefined
        ? {}
        : { staleEntriesSkippedByUpdate: outcome.staleEntriesSkippedByUpdate }),
    };
  }

  /** Waits until everything committed so far is on disk; returns lastDurableDecree. */
  async flush(): Promise<number> {
    this.checkOpen("flush");
    const decree = this.meta.lastAppliedDecree;
    await this.env.root.flushed;
    this.durableDecree = Math.max(this.durableDecree, decree);
    return this.durableDecree;
  }

  get stats(): StorageStats {
    return { ...this.counters };
  }

  /** One bounded sweep step, resuming where the previous one stopped. */
  async sweep(options: SweepOptions): Promise<SweepResult> {
    this.checkOpen("sweep");
    checkBudget(options.budget);
    const store = lmdbSweepStore(this.env.data);
    let result: SweepResult;
    try {
      result = this.writeSync("sweep", () => {
        const now = { nowUs: this.clock.nowUs(), epochNow: this.epochNow() };
        const outcome = sweepRecords(
          store,
          this.sweepCursor,
          options.budget,
          now,
          this.tombstoneRetentionUs,
        );
        this.sweepCursor = outcome.nextCursor;
        return outcome.result;
      });
    } catch (error) {
      throw toStorageError(error);
    }
    this.counters.expiredSwept += result.expired;
    this.counters.tombstonesCollected += result.tombstonesCollected;
    return result;
  }

  /**
   * Until stopSweeper() or close(), examines up to `budget` records every `intervalMs`, in steps
   * spread evenly over the interval: ceil(budget / SWEEP_STEP_RECORDS_MAX) steps of
   * floor(budget / steps) records, one `sweep` each (a synchronous transaction, so steps never
   * overlap). Spreading them keeps the sweep from taking the CPU from writes in bursts: each step
   * runs on the main thread.
   */
  startSweeper(options: SweeperOptions): void {
    this.checkOpen("startSweeper");
    checkBudget(options.budget);
    if (!Number.isInteger(options.intervalMs) || options.intervalMs < 1) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", `sweeper intervalMs ${options.intervalMs}`);
    }
    if (this.sweeper !== undefined) throw invalidState("sweeper already running");
    const { stepRecords, stepIntervalMs } = sweepSteps(options);
    const timer = setInterval(() => this.sweeperTick(stepRecords), stepIntervalMs);
    timer.unref();
    this.sweeper = { timer };
  }

  stopSweeper(): void {
    if (this.sweeper === undefined) return;
    clearInterval(this.sweeper.timer);
    this.sweeper = undefined;
  }

  private sweeperTick(budget: number): void {
    if (this.sweeper === undefined || this.closing !== undefined) return;
    void this.sweep({ budget }).then(
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
    await Promise.allSettled([...this.inFlight]);
    await this.env.root.flushed;
    this.durableDecree = this.meta.lastAppliedDecree;
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
  private writeSync<T>(operation: "apply" | "sweep", write: () => T): T {
    const startedMs = performance.now();
    try {
      return this.env.root.transactionSync(write, SYNC_WRITE_FLAGS);
    } finally {
      const heldMs = performance.now() - startedMs;
      this.counters.writeTransactions++;
      this.counters.writeTransactionSeconds += heldMs / 1000;
      if (heldMs >= this.slowWriteTransactionMs) {
        this.counters.slowWriteTransactions++;
        const nowMs = performance.now();
        if (nowMs - this.slowWarnedAtMs >= SLOW_WRITE_WARN_INTERVAL_MS) {
          this.slowWarnedAtMs = nowMs;
          this.logger.warn(
            {
              operation,
              ms: Math.round(heldMs),
              slowWriteTransactions: this.counters.slowWriteTransactions,
            },
            "slow lmdb write transaction held the event loop (a slow disk flush?)",
          );
        }
      }
    }
  }

  private noteDurableWhenFlushed(decree: number): void {
    void this.env.root.flushed.then(
      () => {
        this.durableDecree = Math.max(this.durableDecree, decree);
      },
      (error: unknown) => this.logger.error({ err: error, decree }, "flush failed"),
    );
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
