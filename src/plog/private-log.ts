/**
 * The private log (plog) of one replica: an append-only sequence of `{ decree, payload }` records
 * in a directory of segment files (layout in format.ts). Payload-agnostic: a wrapper elsewhere
 * encodes mutations.
 *
 * Invariants:
 * - decrees strictly increase (gaps allowed); an append that does not increase is refused;
 * - firstDecree <= durableDecree + 1, durableDecree <= lastDecree; reads return durable records
 *   only, and an append resolves only once its record is durable;
 * - after a failed write the log is failed: it accepts no append and never reports one durable;
 * - GC deletes whole segments below a decree, never the active (last) segment;
 * - a read-only log (options.readOnly) never writes, truncates, creates or deletes anything.
 *
 * Public methods validate and hand the work to the modules: recovery (open), group-commit and
 * segment-writer (append), log-reader (read), segment-table (index, GC).
 */
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { TalariaError } from "../common/errors.ts";
import { isDecree, type LogRecord, recordBytes } from "./format.ts";
import { fsOp, isNotFound, nodeFs, type PlogFs } from "./fs-port.ts";
import { GroupCommit } from "./group-commit.ts";
import { readRecords } from "./log-reader.ts";
import {
  type PrivateLogOptions,
  type ResolvedPrivateLogOptions,
  resolveOptions,
} from "./options.ts";
import { type OpenReport, recoverLog } from "./recovery.ts";
import type { SegmentTable } from "./segment-table.ts";
import { type PrivateLogStats, type RandomBytes, SegmentWriter } from "./segment-writer.ts";

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
  private readonly committer: GroupCommit;
  private readonly counters: PrivateLogStats;
  private lastAppendedDecree: number;
  private lastDurableDecree: number;
  /** First decree held, durable or queued; null while the log holds nothing. */
  private firstHeldDecree: number | null;
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
    this.counters = { appends: 0, flushes: 0, bytesWritten: 0 };
    this.writer = new SegmentWriter(options, {
      fs,
      table: this.table,
      stats: this.counters,
      randomBytes,
      activeHandle: recovered.activeHandle,
      nextSequence: recovered.nextSequence,
    });
    this.committer = new GroupCommit(options, (records) => this.flushGroup(records));
    this.lastDurableDecree = this.table.last()?.lastDecree ?? 0;
    this.lastAppendedDecree = this.lastDurableDecree;
    this.firstHeldDecree = this.table.first()?.firstDecree ?? null;
  }

  /**
   * Opens (creating if needed) the log in `options.dir`, validating and repairing it; with
   * `readOnly`, validating only (see PrivateLogOptions.readOnly).
   */
  static async open(options: PrivateLogOptions, deps: PrivateLogDeps = {}): Promise<PrivateLog> {
    const resolved = resolveOptions(options);
    const fs = deps.fs ?? nodeFs;
    const recovered = await recoverLog(resolved, fs);
    const log = new PrivateLog(
      resolved,
      { fs, randomBytes: deps.randomBytes ?? randomBytes },
      recovered,
    );
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

  /** Decree of the last record appended (durable or not); 0 for a log that never held one. */
  get lastDecree(): number {
    return this.lastAppendedDecree;
  }

  /** Decree of the last record known durable. */
  get durableDecree(): number {
    return this.lastDurableDecree;
  }

  /** Smallest decree retained; lastDecree + 1 while the log holds nothing. */
  get firstDecree(): number {
    return this.firstHeldDecree ?? this.lastAppendedDecree + 1;
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
   * Appends one record; resolves once it is durable. `payload` is referenced, not copied, until
   * then: do not modify it. Rejects ERR_INVALID_STATE for a decree that does not increase or a
   * closed log, ERR_LIMIT_EXCEEDED for a payload over payloadBytesMax, ERR_BUSY when it would
   * have to wait behind blockedAppendsMax others (nothing changes: retry later), and
   * ERR_FILE_OPERATION_FAILED when a write fails (then and for every append after). A read-only
   * log refuses every append with ERR_INVALID_STATE.
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
    if (decree <= this.lastAppendedDecree) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `decree ${decree} does not follow the last decree ${this.lastAppendedDecree}`,
        { details: { decree, lastDecree: this.lastAppendedDecree } },
      );
    }
    const bytes = recordBytes(payload.length);
    // Refused before any state changes, so the same decree can be appended again.
    this.committer.checkAdmission(bytes);
    if (this.committer.failedWith === null) {
      this.lastAppendedDecree = decree;
      this.firstHeldDecree ??= decree;
      this.counters.appends += 1;
    }
    return this.committer.submit({ decree, payload }, bytes);
  }

  /**
   * Durable records with decree >= fromDecree (and <= toDecree), in order, starting at the first
   * one >= fromDecree, until their payload bytes reach bytesMax (at least one record if any).
   * An empty result means nothing durable is left in range. Throws ERR_OBJECT_NOT_FOUND when
   * fromDecree is below firstDecree (garbage-collected).
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
    this.checkRetained(fromDecree);
    const upTo = Math.min(toDecree ?? Number.MAX_SAFE_INTEGER, this.lastDurableDecree);
    if (fromDecree > upTo) return [];
    const segments = this.table.segmentsFrom(fromDecree);
    // A segment GC deletes mid-read surfaces as ERR_OBJECT_NOT_FOUND from the reader.
    return readRecords(this.fs, this.options.dir, segments, {
      fromDecree,
      toDecree: upTo,
      bytesMax,
    });
  }

  /** Every durable record from `fromDecree` on, read `batchBytes` at a time. */
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
   * it, never the active segment. A read-only log refuses with ERR_INVALID_STATE.
   */
  async gc(belowDecree: number): Promise<GcResult> {
    if (!isDecree(belowDecree))
      throw invalidParameter("belowDecree", belowDecree, "is not a decree");
    if (this.closing !== null)
      throw new TalariaError("ERR_INVALID_STATE", "gc on a closed private log");
    this.checkWritable("gc");
    // The index drops them first, so no read starts on a segment being deleted.
    const removed = this.table.takeBelow(belowDecree);
    if (removed.length === 0) return { segmentsDeleted: 0, bytesDeleted: 0 };
    const first = this.table.first();
    this.firstHeldDecree = first === undefined ? null : first.firstDecree;
    let bytesDeleted = 0;
    const { dir } = this.options;
    for (const segment of removed) {
      const filePath = path.join(dir, segment.fileName);
      await fsOp("unlink", filePath, async () => {
        try {
          await this.fs.unlink(filePath);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      });
      bytesDeleted += segment.durableBytes;
    }
    await fsOp("fsync", dir, () => this.fs.syncDir(dir));
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

  private async flushGroup(records: readonly LogRecord[]): Promise<void> {
    await this.writer.write(records, (decree) => {
      this.lastDurableDecree = decree;
    });
  }
}
