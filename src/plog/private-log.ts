/**
 * The private log (plog) of one replica: a sequence of `{ decree, payload }` records in a
 * directory of segment files (layout in format.ts), appended to at the end, cut back at the end
 * (truncateAfter) or emptied (resetTo). Payload-agnostic: a wrapper elsewhere encodes mutations;
 * ballots and commit points are the caller's business.
 *
 * Invariants:
 * - decrees strictly increase (gaps allowed) across the records held; an append that does not
 *   increase over lastDecree (the last record held, after any truncation) is refused;
 * - append, truncateAfter and resetTo take effect in call order: lastDecree and firstDecree change
 *   at the call, and the disk follows in the same order; each resolves only once it and everything
 *   called before it is durable (group-commit.ts);
 * - firstDecree <= durableDecree + 1, durableDecree <= lastDecree; reads return durable records
 *   only, never one a truncation or reset already called will remove (decree-ledger.ts);
 * - after a failed write the log is failed: it accepts nothing more and never reports it durable;
 * - GC deletes whole segments below a decree, never the active (last) segment;
 * - a read-only log (options.readOnly) never writes, truncates, creates or deletes anything.
 *
 * Public methods validate and hand the work to the modules: recovery (open), group-commit and
 * segment-writer (append), truncation (truncateAfter, resetTo), log-reader (read), decree-ledger
 * (decree bookkeeping), segment-table (index, GC).
 */
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { assert } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";
import { DecreeLedger } from "./decree-ledger.ts";
import { isDecree, type LogRecord, recordBytes } from "./format.ts";
import { fsOp, isNotFound, nodeFs, type PlogFs } from "./fs-port.ts";
import { GroupCommit } from "./group-commit.ts";
import { readRecords } from "./log-reader.ts";
import {
  type PrivateLogOptions,
  type ResolvedPrivateLogOptions,
  resolveOptions,
} from "./options.ts";
import { ReadGate } from "./read-gate.ts";
import { type OpenReport, recoverLog } from "./recovery.ts";
import type { SegmentTable } from "./segment-table.ts";
import { type PrivateLogStats, type RandomBytes, SegmentWriter } from "./segment-writer.ts";
import { TailCache } from "./tail-cache.ts";
import { type RewriteDeps, resetSegments, truncateSegments } from "./truncation.ts";

export interface ReadOptions {
  /** Stop once returned payload bytes reach this; one record is returned even if larger. */
  readonly bytesMax: number;
  /** Inclusive upper bound. */
  readonly toDecree?: number;
}

export interface ReplayOptions {
  /** Payload bytes per underlying read. */
  readonly batchBytes: number;
  readonly toDecree?: number;
}

/** A record queued for the disk, with the ledger ticket that marks it durable. */
interface QueuedRecord extends LogRecord {
  readonly ticket: number;
}

/** One segment as the index sees it (durable bytes only: a torn tail is not counted). */
export interface SegmentInfo {
  readonly fileName: string;
  readonly sequence: number;
  readonly firstDecree: number;
  /** firstDecree - 1 for a segment that holds no record yet. */
  readonly lastDecree: number;
  readonly recordCount: number;
  /** Bytes of the segment header and its valid blocks. */
  readonly bytes: number;
}

export interface GcResult {
  readonly segmentsDeleted: number;
  readonly bytesDeleted: number;
}

export interface PrivateLogDeps {
  /** File-system port; defaults to node:fs. Tests and the simulator inject faults through it. */
  readonly fs?: PlogFs;
  /** Source of segment nonces; defaults to node:crypto randomBytes. Tests pass a seeded one. */
  readonly randomBytes?: RandomBytes;
}

function invalidParameter(name: string, value: unknown, rule: string): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", `${name} ${String(value)} ${rule}`, {
    details: { [name]: value },
  });
}

export class PrivateLog {
  /** What open found and repaired. */
  readonly openReport: OpenReport;
  private readonly options: ResolvedPrivateLogOptions;
  private readonly fs: PlogFs;
  private readonly table: SegmentTable;
  private readonly writer: SegmentWriter;
  private readonly committer: GroupCommit<QueuedRecord>;
  private readonly counters: PrivateLogStats;
  private readonly ledger: DecreeLedger;
  private readonly rewrite: RewriteDeps;
  private readonly gate = new ReadGate();
  private readonly tail: TailCache;
  /** Truncations and resets called and not yet settled; GC waits them out. */
  private rewritesPending = 0;
  /** Segment deletions of GC calls in progress; a truncation or reset waits them out. */
  private readonly gcDeletions = new Set<Promise<void>>();
  private closing: Promise<void> | null = null;

  private constructor(
    options: ResolvedPrivateLogOptions,
    { fs, randomBytes }: Required<PrivateLogDeps>,
    recovered: Awaited<ReturnType<typeof recoverLog>>,
  ) {
    this.options = options;
    this.fs = fs;
    this.table = recovered.table;
    this.openReport = recovered.report;
    this.counters = {
      appends: 0,
      flushes: 0,
      bytesWritten: 0,
      truncations: 0,
      resets: 0,
      reads: 0,
      tailCacheReads: 0,
    };
    this.tail = new TailCache(options.tailCacheBytes);
    this.writer = new SegmentWriter(options, {
      fs,
      table: this.table,
      stats: this.counters,
      randomBytes,
      activeHandle: recovered.activeHandle,
      nextSequence: recovered.nextSequence,
    });
    this.committer = new GroupCommit<QueuedRecord>(options, (records) => this.flushGroup(records));
    this.ledger = new DecreeLedger({
      floor: this.table.first()?.firstDecree ?? null,
      runs: recovered.runs,
    });
    this.rewrite = {
      dir: options.dir,
      fs,
      fsync: options.fsync,
      indexIntervalBytes: options.indexIntervalBytes,
      table: this.table,
      writer: this.writer,
      randomBytes,
      stats: this.counters,
    };
  }

  /**
   * Opens (creating if needed) the log in `options.dir`, validating and repairing it; with
   * `readOnly`, validating only (see PrivateLogOptions.readOnly).
   */
  static async open(options: PrivateLogOptions, deps: PrivateLogDeps = {}): Promise<PrivateLog> {
    const resolved = resolveOptions(options);
    const fs = deps.fs ?? nodeFs;
    const random = deps.randomBytes ?? randomBytes;
    const recovered = await recoverLog(resolved, fs, random);
    const log = new PrivateLog(resolved, { fs, randomBytes: random }, recovered);
    resolved.logger.info(
      {
        dir: resolved.dir,
        segments: recovered.report.segments,
        firstDecree: log.firstDecree,
        lastDecree: log.lastDecree,
        readOnly: resolved.readOnly,
      },
      "plog: opened",
    );
    return log;
  }

  /**
   * Decree of the last record held, durable or not, after every truncation and reset called so
   * far; firstDecree - 1 for an empty log (0 for one never written).
   */
  get lastDecree(): number {
    return this.ledger.lastDecree;
  }

  /** Decree of the last record known durable (and not being discarded). */
  get durableDecree(): number {
    return this.ledger.durableDecree;
  }

  /**
   * The log's first decree: nothing below it can be read (garbage-collected, or before a reset).
   * The first record's decree, or after resetTo(d) d + 1; lastDecree + 1 for a log never written.
   */
  get firstDecree(): number {
    return this.ledger.firstDecree;
  }

  get stats(): Readonly<PrivateLogStats> {
    return { ...this.counters };
  }

  /** The segments held, in log order. */
  segments(): SegmentInfo[] {
    return this.table.all().map((segment) => ({
      fileName: segment.fileName,
      sequence: segment.sequence,
      firstDecree: segment.firstDecree,
      lastDecree: segment.lastDecree,
      recordCount: segment.recordCount,
      bytes: segment.durableBytes,
    }));
  }

  /**
   * Durable bytes held from `decree` on (what a reader from `decree` keeps on disk), to within one
   * seek interval (`indexIntervalBytes`) and one block: never fewer than the records' own bytes.
   */
  bytesFrom(decree: number): number {
    let bytes = 0;
    for (const segment of this.table.segmentsFrom(decree)) bytes += segment.bytesFrom(decree);
    return bytes;
  }

  /**
   * Appends one record; resolves once it is durable. `payload` is referenced, not copied (until
   * then, and afterwards while the tail cache keeps it): do not modify it. Rejects
   * ERR_INVALID_STATE for a decree that does not increase or a closed log, ERR_LIMIT_EXCEEDED for
   * a payload over payloadBytesMax, ERR_BUSY when it would have to wait behind blockedAppendsMax
   * others (nothing changes: retry later), and ERR_FILE_OPERATION_FAILED when a write fails (then
   * and for every append after). A read-only log refuses every append with ERR_INVALID_STATE.
   */
  async append(decree: number, payload: Buffer): Promise<void> {
    // Everything up to submit runs synchronously, so decrees are checked in call order.
    if (this.closing !== null) {
      throw new TalariaError("ERR_INVALID_STATE", "append on a closed private log");
    }
    this.checkWritable("append");
    if (!isDecree(decree))
      throw invalidParameter("decree", decree, "is not a positive safe integer");
    if (payload.length > this.options.payloadBytesMax) {
      throw new TalariaError(
        "ERR_LIMIT_EXCEEDED",
        `plog payload is ${payload.length} bytes, over payloadBytesMax = ${this.options.payloadBytesMax}`,
        {
          details: {
            limit: "payloadBytesMax",
            value: payload.length,
            max: this.options.payloadBytesMax,
          },
        },
      );
    }
    const lastDecree = this.ledger.lastDecree;
    if (decree <= lastDecree) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `decree ${decree} does not follow the last decree ${lastDecree}`,
        { details: { decree, lastDecree } },
      );
    }
    const bytes = recordBytes(payload.length);
    // Refused before any state changes, so the same decree can be appended again.
    this.committer.checkAdmission(bytes);
    let ticket = 0;
    if (this.committer.failedWith === null) {
      ticket = this.ledger.append(decree);
      this.tail.append({ decree, payload });
      this.counters.appends += 1;
    }
    return this.committer.submit({ decree, payload, ticket }, bytes);
  }

  /**
   * Discards every record with a decree above `afterDecree`; lastDecree becomes the largest
   * decree left (<= afterDecree) at once, and the next append may use any decree above it.
   * Ordered with appends: those called before are written first (and discarded if above),
   * those called after go after it; it resolves once the truncation is durable, and an append
   * called after it resolving implies it is. Crash-safe: reopening gives the log before it or
   * after it (truncation.ts). Discarding every record leaves an empty log that keeps its
   * firstDecree, like resetTo(firstDecree - 1). Nothing above lastDecree: nothing changes, but
   * it still resolves only after everything called before it is durable.
   * Rejects ERR_INVALID_PARAMETERS for a negative or unsafe `afterDecree`, ERR_INVALID_STATE
   * below firstDecree - 1 (those records are gone already), on a closed or read-only log; the rest
   * as append (ERR_BUSY, ERR_FILE_OPERATION_FAILED).
   */
  async truncateAfter(afterDecree: number): Promise<void> {
    this.checkRewritable("truncateAfter", "afterDecree", afterDecree);
    const firstDecree = this.ledger.firstDecree;
    if (afterDecree < firstDecree - 1) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `cannot truncate after ${afterDecree}: the log starts at ${firstDecree}`,
        { details: { afterDecree, firstDecree } },
      );
    }
    this.committer.checkAdmission(0);
    let work = async (): Promise<void> => {};
    if (this.committer.failedWith === null) {
      const outcome = this.ledger.truncateAfter(afterDecree);
      this.tail.truncateAfter(afterDecree);
      this.counters.truncations += 1;
      if (outcome === "tail") {
        work = () => truncateSegments(this.rewrite, afterDecree);
      } else if (outcome === "everything") {
        // Keeps the floor: the empty log still starts at firstDecree.
        work = () => resetSegments(this.rewrite, firstDecree - 1);
      }
      this.options.logger.info(
        { dir: this.options.dir, afterDecree, outcome, lastDecree: this.ledger.lastDecree },
        "plog: truncating",
      );
    }
    return this.submitRewrite(work);
  }

  /**
   * Empties the log so that it starts after `decree` (a learner installed a checkpoint there):
   * firstDecree becomes decree + 1 and lastDecree `decree` at once, and the next append may use
   * any decree above it. Ordered with appends like truncateAfter, durable when it resolves, and
   * crash-safe (truncation.ts); reopening an empty log gives firstDecree = decree + 1. Rejects as
   * truncateAfter, except that any `decree` >= 0 is accepted.
   */
  async resetTo(decree: number): Promise<void> {
    this.checkRewritable("resetTo", "decree", decree);
    this.committer.checkAdmission(0);
    if (this.committer.failedWith === null) {
      this.ledger.resetTo(decree);
      this.tail.reset();
      this.counters.resets += 1;
      this.options.logger.info({ dir: this.options.dir, decree }, "plog: resetting");
    }
    return this.submitRewrite(() => resetSegments(this.rewrite, decree));
  }

  /**
   * Durable records with decree >= fromDecree (and <= toDecree), in order, starting at the first
   * one >= fromDecree, until their payload bytes reach bytesMax (at least one record if any).
   * An empty result means nothing durable is left in range. Throws ERR_OBJECT_NOT_FOUND when
   * fromDecree is below firstDecree (garbage-collected). Records of the newest tailCacheBytes come
   * from memory (tail-cache.ts), their payloads shared with other readers: do not modify them.
   */
  async read(fromDecree: number, options: ReadOptions): Promise<LogRecord[]> {
    if (!isDecree(fromDecree)) throw invalidParameter("fromDecree", fromDecree, "is not a decree");
    const { bytesMax, toDecree } = options;
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 1) {
      throw invalidParameter("bytesMax", bytesMax, "is not a positive integer");
    }
    if (toDecree !== undefined && !isDecree(toDecree)) {
      throw invalidParameter("toDecree", toDecree, "is not a decree");
    }
    if (this.closing !== null)
      throw new TalariaError("ERR_INVALID_STATE", "read on a closed private log");
    // A truncation or reset rewriting the tail keeps reads out until it is done.
    return this.gate.shared(async () => {
      this.checkRetained(fromDecree);
      const upTo = Math.min(toDecree ?? Number.MAX_SAFE_INTEGER, this.ledger.durableDecree);
      if (fromDecree > upTo) return [];
      this.counters.reads += 1;
      const cached = this.tail.read(fromDecree, upTo, bytesMax);
      if (cached !== undefined) {
        this.counters.tailCacheReads += 1;
        return cached;
      }
      const segments = this.table.segmentsFrom(fromDecree);
      // A segment GC deletes mid-read surfaces as ERR_OBJECT_NOT_FOUND from the reader.
      return readRecords(this.fs, this.options.dir, segments, {
        fromDecree,
        toDecree: upTo,
        bytesMax,
      });
    });
  }

  /**
   * Every durable record from `fromDecree` on, read `batchBytes` at a time. Each batch is a read
   * of the log as it is then: across a truncation, records already yielded may since have been
   * discarded (and their decrees appended again).
   */
  async *replay(fromDecree: number, options: ReplayOptions): AsyncGenerator<LogRecord> {
    let next = fromDecree;
    // Bounded by the log: every read that returns records moves `next` past them.
    for (;;) {
      const readOptions =
        options.toDecree === undefined
          ? { bytesMax: options.batchBytes }
          : { bytesMax: options.batchBytes, toDecree: options.toDecree };
      const batch = await this.read(next, readOptions);
      const last = batch[batch.length - 1];
      if (last === undefined) return;
      yield* batch;
      next = last.decree + 1;
    }
  }

  /**
   * Deletes whole segments whose every record is below `belowDecree`; never the segment holding
   * it, never the active segment. Deletes nothing while a truncation or reset is pending (what
   * is left depends on it; the next call catches up). A read-only log refuses with
   * ERR_INVALID_STATE.
   */
  async gc(belowDecree: number): Promise<GcResult> {
    if (!isDecree(belowDecree))
      throw invalidParameter("belowDecree", belowDecree, "is not a decree");
    if (this.closing !== null)
      throw new TalariaError("ERR_INVALID_STATE", "gc on a closed private log");
    this.checkWritable("gc");
    if (this.rewritesPending > 0) return { segmentsDeleted: 0, bytesDeleted: 0 };
    // The index drops them first, so no read starts on a segment being deleted.
    const removed = this.table.takeBelow(belowDecree);
    if (removed.length === 0) return { segmentsDeleted: 0, bytesDeleted: 0 };
    const first = this.table.first();
    assert(first !== undefined, "GC never deletes the last segment");
    this.ledger.dropBelow(first.firstDecree);
    const { dir } = this.options;
    let bytesDeleted = 0;
    for (const segment of removed) bytesDeleted += segment.durableBytes;
    const deletion = this.deleteSegments(removed.map((segment) => segment.fileName));
    this.gcDeletions.add(deletion);
    try {
      await deletion;
    } finally {
      this.gcDeletions.delete(deletion);
    }
    this.options.logger.info(
      {
        dir,
        belowDecree,
        segmentsDeleted: removed.length,
        bytesDeleted,
        firstDecree: this.firstDecree,
      },
      "plog: garbage-collected segments",
    );
    return { segmentsDeleted: removed.length, bytesDeleted };
  }

  private async deleteSegments(fileNames: readonly string[]): Promise<void> {
    const { dir } = this.options;
    for (const fileName of fileNames) {
      const filePath = path.join(dir, fileName);
      await fsOp("unlink", filePath, async () => {
        try {
          await this.fs.unlink(filePath);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      });
    }
    await fsOp("fsync", dir, () => this.fs.syncDir(dir));
  }

  /** Flushes pending appends and closes files. Calling it again returns the same promise. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.committer.drain();
    await this.writer.close();
  }

  private checkWritable(operation: string): void {
    if (this.options.readOnly) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `${operation} on a private log opened read-only (${this.options.dir})`,
        { details: { operation, dir: this.options.dir } },
      );
    }
  }

  private checkRewritable(operation: string, name: string, decree: number): void {
    if (this.closing !== null) {
      throw new TalariaError("ERR_INVALID_STATE", `${operation} on a closed private log`);
    }
    this.checkWritable(operation);
    if (!Number.isSafeInteger(decree) || decree < 0) {
      throw invalidParameter(name, decree, "is not a non-negative safe integer");
    }
  }

  /**
   * Queues a truncation or reset as a barrier. It waits out GC deletions in progress (GC starts no
   * new ones while it is pending) and holds reads out while it rewrites the tail.
   */
  private submitRewrite(work: () => Promise<void>): Promise<void> {
    const done = this.committer.submitBarrier(async () => {
      await Promise.allSettled([...this.gcDeletions]);
      await this.gate.exclusive(work);
    });
    this.rewritesPending += 1;
    const settle = (): void => {
      this.rewritesPending -= 1;
    };
    done.then(settle, settle);
    return done;
  }

  private checkRetained(fromDecree: number): void {
    const firstDecree = this.firstDecree;
    if (fromDecree < firstDecree) {
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `decree ${fromDecree} was garbage-collected; the log starts at ${firstDecree}`,
        { details: { fromDecree, firstDecree } },
      );
    }
  }

  private async flushGroup(records: readonly QueuedRecord[]): Promise<void> {
    await this.writer.write(records, (durableCount) => {
      const last = records[durableCount - 1];
      assert(last !== undefined, "a durable prefix is not empty");
      this.ledger.markDurable(last.ticket);
    });
  }
}
