/**
 * A full re-sync on one source primary (fullSync "resync", DS_APP): every record of the
 * partition's dup checkpoint goes to the EXISTING remote table as DUPLICATE entries carrying the
 * record's own timetag, so the remote's last-write-wins keeps what it has that is newer.
 *
 * It is a DuplicationShipper whose log is the checkpoint (duplication/source/resync-reader.ts):
 * routing by each key's hash modulo the remote table's partition count, batching, per batch one
 * ordered stream per remote partition with one request in flight, retries with backoff, the remote's
 * partition count looked up and re-routed on change — all the shipper's.
 *
 * Invariants:
 *  - `done` only once the remote acknowledged every record of the checkpoint. So a re-sync never
 *    skips: FAIL_SKIP retries like FAIL_SLOW here (nothing is dead-lettered); FAIL_FAST stops at
 *    the first failure and reports it until the sender is restarted.
 *  - The checkpoint stays pinned (not evicted or cleared) while the sender runs.
 *  - Sending is idempotent: a restart (new primary, closed sender) sends everything again.
 */
import { setImmediate } from "node:timers/promises";
import type { Logger } from "../common/logger.ts";
import {
  countRecords,
  DuplicationShipper,
  type FailMode,
  MemoryDeadLetterStore,
  type RemoteTableWithCount,
  type ResyncIds,
  ResyncLogReader,
  type ResyncReport,
  type SourceOptions,
} from "../duplication/index.ts";
import type { DuplicationFailure } from "../protocol/duplication-messages.ts";
import type { TickTimer } from "../replica/index.ts";
import { CheckpointReader } from "../storage/index.ts";
import type { DupCheckpoint } from "./dup-checkpoint-store.ts";

/** Named bounds of a re-sync (docs/limits.md). */
export const resyncLimits = {
  /** Checkpoint entry bytes read per batch: larger than the log's, a checkpoint is all backlog. */
  resyncBatchBytes: 4 * 1024 * 1024,
} as const;

export interface ResyncSenderOptions {
  readonly dupid: number;
  readonly gpid: string;
  readonly checkpoint: DupCheckpoint;
  /** The source side's settings (request bounds, backoff); batch bytes are the re-sync's own. */
  readonly source: SourceOptions;
  readonly failMode: FailMode;
  readonly ids: ResyncIds;
  readonly batchBytes?: number;
  readonly tickIntervalMs?: number;
  readonly logger: Logger;
}

export interface ResyncSenderDeps {
  readonly remote: RemoteTableWithCount;
  readonly timer?: TickTimer;
}

/** A re-sync never skips records: FAIL_SKIP retries like FAIL_SLOW. */
export function resyncFailMode(failMode: FailMode): FailMode {
  return failMode === "FAIL_SKIP" ? "FAIL_SLOW" : failMode;
}

export class ResyncSender {
  private sentBytes = 0;
  private stopped: DuplicationFailure | undefined;

  private constructor(
    public failMode: FailMode,
    readonly checkpoint: DupCheckpoint,
    private readonly reader: CheckpointReader,
    private readonly log: ResyncLogReader,
    private shipper: DuplicationShipper | undefined,
    private readonly logger: Logger,
  ) {}

  /** Opens the checkpoint, counts what it will send, and starts sending. */
  static async start(options: ResyncSenderOptions, deps: ResyncSenderDeps): Promise<ResyncSender> {
    const logger = options.logger.child({ gpid: options.gpid, dupid: options.dupid });
    const reader = await CheckpointReader.open(options.checkpoint.path);
    try {
      const totals = await countRecords(reader, options.ids, () => setImmediate());
      const log = new ResyncLogReader(reader, options.ids, totals);
      const sender = new ResyncSender(
        options.failMode,
        options.checkpoint,
        reader,
        log,
        undefined,
        logger,
      );
      const shipper = new DuplicationShipper(
        {
          ...options.source,
          batchBytes: options.batchBytes ?? resyncLimits.resyncBatchBytes,
          shipDuplicateEntries: true,
          // The log retention bounds guard the plog; a re-sync reads a pinned checkpoint, so a
          // long outage of the remote (FAIL_SLOW) must not end it.
          retainedLogBytesMax: Number.MAX_SAFE_INTEGER,
          retainedLogMsMax: Number.MAX_SAFE_INTEGER,
          dupid: options.dupid,
          gpid: options.gpid,
          logger,
          ...(options.tickIntervalMs === undefined
            ? {}
            : { tickIntervalMs: options.tickIntervalMs }),
        },
        {
          log,
          remote: deps.remote,
          deadLetters: new MemoryDeadLetterStore(),
          init: {
            confirmedDecree: 0,
            targetPartitionCount: 0,
            failMode: resyncFailMode(options.failMode),
            status: "start",
          },
          ...(deps.timer === undefined ? {} : { timer: deps.timer }),
          reports: {
            onProgress: (lastDecree) => sender.onProgress(lastDecree),
            onPausedWithError: (error, atDecree) => {
              sender.stopped = {
                kind: "paused_with_error",
                code: error.code,
                message: `re-sync stopped (FAIL_FAST): ${error.message}`,
                atDecree,
              };
            },
            // Not expected (no retention bound applies); reported rather than hidden if it is.
            onLogTruncated: (reason, atDecree, message) => {
              sender.stopped = { kind: "paused_with_error", code: reason, message, atDecree };
            },
          },
        },
      );
      sender.shipper = shipper;
      logger.info(
        {
          dupCheckpoint: options.checkpoint.id,
          records: totals.records,
          totalBytes: totals.bytes,
          failMode: options.failMode,
        },
        "re-sync started",
      );
      shipper.start();
      return sender;
    } catch (error) {
      await reader.close();
      throw error;
    }
  }

  private onProgress(lastDecree: number): void {
    this.sentBytes = this.log.bytesThrough(lastDecree) ?? this.sentBytes;
    // Fed back as "confirmed" so the core's retention bounds and stall watch follow the sending.
    queueMicrotask(() => this.shipper?.confirm(lastDecree));
    if (lastDecree >= this.log.totals.records) {
      this.logger.info(
        { records: this.log.totals.records, sentBytes: this.sentBytes },
        "re-sync done: the remote acknowledged every record",
      );
    }
  }

  /** Progress as reported in the duplication sync, and why it stopped (FAIL_FAST), if it did. */
  report(): ResyncReport {
    const lastDecree = this.shipper?.snapshot().lastDecree ?? 0;
    const done = lastDecree >= this.log.totals.records;
    return {
      progress: {
        sentBytes: done ? this.log.totals.bytes : this.sentBytes,
        totalBytes: this.log.totals.bytes,
        done,
      },
      ...(this.stopped === undefined ? {} : { failure: this.stopped }),
    };
  }

  /** The operator changed the fail mode (FAIL_SKIP still never skips). */
  configure(failMode: FailMode): void {
    this.failMode = failMode;
    this.shipper?.configure({ failMode: resyncFailMode(failMode) });
  }

  /** Whether FAIL_FAST stopped it (it resumes only by a restart). */
  get failed(): boolean {
    return this.stopped !== undefined;
  }

  /** Stops sending and closes the checkpoint. Idempotent. */
  async close(): Promise<void> {
    await this.shipper?.close();
    await this.reader.close();
  }
}
