/**
 * DuplicationShipper: the thin runtime around one DuplicationSourceCore (one duplication on one
 * primary partition). It performs the core's actions with real I/O — plog reads through a
 * DuplicationLogReader, DUPLICATE requests through a RemoteTable, dead letters through a
 * DeadLetterStore — feeds their outcomes back, and ticks the core on a timer.
 *
 * Invariants:
 *  - The core is stepped synchronously and its actions are started in the order returned.
 *  - Every started I/O feeds exactly one outcome event back (or none once closed); a rejection,
 *    a timeout or a garbage answer becomes error data (toDuplicationError), never a throw.
 *  - Reports (progress, pause, log truncated) go to the owner's callbacks; a throwing callback is
 *    logged and ignored.
 */

import type { Mutation } from "../../codec/mutation.ts";
import { decodeMutation } from "../../codec/mutation-codec.ts";
import type { Clock } from "../../common/clock.ts";
import { systemClock } from "../../common/clock.ts";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/logger.ts";
import { monotonicClock } from "../../common/monotonic-clock.ts";
import { systemTickTimer, type TickTimer } from "../../replica/index.ts";
import { AckLagMarks } from "./ack-lag.ts";
import type { DeadLetterStore } from "./dead-letter-store.ts";
import type {
  DuplicationError,
  LogTruncatedReason,
  RunStatus,
  SourceAction,
  SourceEvent,
} from "./events.ts";
import { type FailMode, type SourceOptions, sourceDefaults } from "./options.ts";
import {
  type DuplicationLogReader,
  type RemoteTable,
  remotePartitionCount,
  toDuplicationError,
} from "./ports.ts";
import { type RemoteClockReading, readRemoteClock, receiverNowOf } from "./remote-clock.ts";
import { DuplicationSourceCore, type SourceInit } from "./source-core.ts";
import type { SourceSnapshot } from "./source-stats.ts";

export interface DuplicationShipperOptions extends SourceOptions {
  readonly dupid: number;
  /** `<appId>.<partitionIndex>` of the source partition (logs, metrics, dead letters). */
  readonly gpid: string;
  /** Period of the core's TICK and of the LOG_STATE it is fed (100 ms). */
  readonly tickIntervalMs?: number;
  readonly logger?: Logger;
}

export interface ShipperReports {
  /** Every entry up to `lastDecree` is acknowledged: report it as confirmed in the next sync. */
  onProgress?(lastDecree: number): void;
  /** FAIL_FAST paused the duplication: report the error to meta. */
  onPausedWithError?(error: DuplicationError, atDecree: number): void;
  /** The duplication fell out of the log; it stopped and holds nothing any more. */
  onLogTruncated?(reason: LogTruncatedReason, firstMissingDecree: number, message: string): void;
}

/** Where the time of shipping goes (metrics.ts turns these into histograms). */
export interface ShipperTimings {
  /** A DUPLICATE request was acknowledged `ms` after it was sent (failed requests not counted). */
  shipAcknowledged?(ms: number): void;
  /** `count` mutations were acknowledged (or dead-lettered) `ms` after they were seen committed. */
  mutationsAcknowledged?(ms: number, count: number): void;
}

export interface RemoteTableWithCount extends RemoteTable {
  /** The remote table's partition count (asked when it is not known yet). */
  partitionCount(timeoutMs: number): Promise<number>;
}

export interface DuplicationShipperDeps {
  readonly log: DuplicationLogReader;
  readonly remote: RemoteTableWithCount;
  readonly deadLetters: DeadLetterStore;
  /** Where to start; targetPartitionCount 0 = ask the remote. nowMs comes from timeClock. */
  readonly init: Omit<SourceInit, "nowMs" | "committedDecree">;
  /** The core's time (backoff, stall, retention age): must not jump back. Default monotonic. */
  readonly timeClock?: Clock;
  /** Wall clock: dead letters' createdAtMs, and the remote clock's reading (remote-clock.ts). */
  readonly clock?: Clock;
  readonly timer?: TickTimer;
  readonly reports?: ShipperReports;
  readonly timings?: ShipperTimings;
  /** Whether the table receives a re-sync from a remote cluster now (LOG_STATE). */
  readonly receivingResync?: () => boolean;
  /** The last decree of the log known to hold received re-sync writes, if any (LOG_STATE). */
  readonly resyncReceivedThrough?: () => number | undefined;
}

export const shipperDefaults = {
  tickIntervalMs: 100,
  shipTimeoutMs: sourceDefaults.shipTimeoutMs,
} as const;

export class DuplicationShipper {
  readonly dupid: number;
  readonly gpid: string;
  private readonly core: DuplicationSourceCore;
  private readonly log: Logger;
  private readonly timeClock: Clock;
  private readonly clock: Clock;
  private readonly shipTimeoutMs: number;
  /** Ships a checkpoint's records (a re-sync): its requests say so. */
  private readonly resync: boolean;
  private readonly tickIntervalMs: number;
  private readonly inFlight = new Set<Promise<void>>();
  private stopTicks: (() => void) | undefined;
  private pokeScheduled = false;
  private closed = false;
  private lookingUpCount = false;
  private lookupAtMs = 0;
  private lookupFailures = 0;
  private remoteError: DuplicationError | undefined;
  private wasStalled = false;
  private readonly maxClockSkewMs: number;
  private remoteClock: RemoteClockReading | undefined;
  private readonly ackLag = new AckLagMarks();

  constructor(
    options: DuplicationShipperOptions,
    private readonly deps: DuplicationShipperDeps,
  ) {
    this.dupid = options.dupid;
    this.gpid = options.gpid;
    this.timeClock = deps.timeClock ?? monotonicClock();
    this.clock = deps.clock ?? systemClock;
    this.shipTimeoutMs = options.shipTimeoutMs ?? shipperDefaults.shipTimeoutMs;
    this.maxClockSkewMs = options.maxClockSkewMs ?? sourceDefaults.maxClockSkewMs;
    this.resync = options.shipDuplicateEntries === true;
    this.tickIntervalMs = options.tickIntervalMs ?? shipperDefaults.tickIntervalMs;
    this.log = (options.logger ?? silentLogger).child({ gpid: options.gpid, dupid: options.dupid });
    this.core = new DuplicationSourceCore(options, {
      ...deps.init,
      nowMs: this.timeClock.nowMs(),
      committedDecree: deps.log.committedDecree(),
    });
    this.log.info(
      { confirmedDecree: deps.init.confirmedDecree, status: deps.init.status },
      "duplication shipper created",
    );
  }

  /** Starts ticking on the timer (the replica server calls this; tests may call tick instead). */
  start(): void {
    if (this.stopTicks !== undefined || this.closed) return;
    const timer = this.deps.timer ?? systemTickTimer;
    this.stopTicks = timer.every(this.tickIntervalMs, () => this.tick());
    this.tick();
  }

  /** Feeds the replica's log state and the time; issues whatever is due. */
  tick(): void {
    if (this.closed) return;
    this.feedLogState();
    this.feed({ type: "TICK", nowMs: this.timeClock.nowMs() });
    this.maybeLookUpPartitionCount();
    const stalled = this.core.snapshot().stalled;
    if (stalled !== this.wasStalled) {
      this.wasStalled = stalled;
      if (stalled) this.log.warn(this.core.snapshot(), "duplication stalled");
      else this.log.info("duplication no longer stalled");
    }
  }

  /**
   * The replica committed more: tick soon (once per turn of the event loop however many commits
   * arrive), so shipping does not wait for the next timer tick.
   */
  poke(): void {
    if (this.pokeScheduled || this.closed) return;
    this.pokeScheduled = true;
    setImmediate(() => {
      this.pokeScheduled = false;
      this.tick();
    });
  }

  private feedLogState(): void {
    const snapshot = this.core.snapshot();
    const committedDecree = this.deps.log.committedDecree();
    this.ackLag.committed(committedDecree, this.timeClock.nowMs());
    const resyncThrough = this.deps.resyncReceivedThrough?.();
    this.feed({
      type: "LOG_STATE",
      committedDecree,
      retainedBytes: this.deps.log.retainedBytesFrom(snapshot.confirmedDecree + 1),
      ...(this.deps.receivingResync?.() === true ? { receivingResync: true } : {}),
      ...(resyncThrough === undefined ? {} : { resyncReceivedThroughDecree: resyncThrough }),
    });
  }

  /** Meta persisted `confirmedDecree` (duplication sync reply). */
  confirm(confirmedDecree: number): void {
    // Up to what this shipper reported this skips nothing; beyond it, another primary shipped.
    this.ackLag.skipThrough(confirmedDecree);
    this.feed({ type: "CONFIRMED", confirmedDecree });
  }

  /** Meta's assignment (sync reply) changed: status, fail mode, or the remote's partition count. */
  configure(change: {
    readonly status?: RunStatus;
    readonly failMode?: FailMode;
    readonly targetPartitionCount?: number;
  }): void {
    this.feed({ type: "CONFIGURE", ...change });
  }

  snapshot(): SourceSnapshot {
    const snapshot = this.core.snapshot();
    return {
      ...snapshot,
      ...(snapshot.lastError === undefined && this.remoteError !== undefined
        ? { lastError: this.remoteError }
        : {}),
      ...(this.remoteClock === undefined ? {} : { remoteClock: this.remoteClock }),
    };
  }

  /** The decree below which this duplication lets the plog be collected (undefined: no hold). */
  gcHoldDecree(): number | undefined {
    return this.core.gcHoldDecree();
  }

  /** Resolves once no I/O started so far is still running. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops ticking and waits for I/O in flight (its outcomes are dropped). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopTicks?.();
    this.stopTicks = undefined;
    await this.settled();
  }

  // ---- performing actions --------------------------------------------------------------------

  private feed(event: SourceEvent): void {
    if (this.closed) return;
    for (const action of this.core.step(event)) this.perform(action);
  }

  private track(work: () => Promise<SourceEvent>): void {
    const done = work()
      .catch((error: unknown): SourceEvent | undefined => {
        this.log.error({ err: error }, "duplication shipper: unexpected failure");
        return undefined;
      })
      .then((event) => {
        if (event === undefined) return;
        // What committed meanwhile is known before the outcome lets the core load again.
        this.feedLogState();
        this.feed(event);
      });
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  private perform(action: SourceAction): void {
    switch (action.type) {
      case "LOAD":
        this.track(() => this.load(action));
        return;
      case "SHIP":
        this.track(() => this.ship(action));
        return;
      case "DEAD_LETTER":
        this.track(async () => {
          try {
            const id = await this.deps.deadLetters.append(
              this.dupid,
              action.letter,
              this.clock.nowMs(),
            );
            this.log.warn(
              { letter: id, ...summary(action.letter) },
              "duplication: dead-lettered what it could not ship or read (FAIL_SKIP)",
            );
            return { type: "DEAD_LETTERED", deadLetterId: action.deadLetterId };
          } catch (error) {
            return {
              type: "DEAD_LETTER_FAILED",
              deadLetterId: action.deadLetterId,
              error: toDuplicationError(error),
            };
          }
        });
        return;
      case "PROGRESS":
        this.log.debug({ lastDecree: action.lastDecree }, "duplication progress");
        this.ackLag.acknowledged(action.lastDecree, this.timeClock.nowMs(), (ms, count) =>
          this.report(() => this.deps.timings?.mutationsAcknowledged?.(ms, count)),
        );
        this.report(() => this.deps.reports?.onProgress?.(action.lastDecree));
        return;
      case "PAUSED_WITH_ERROR":
        this.log.error(
          { error: action.error, atDecree: action.atDecree },
          "duplication paused by FAIL_FAST",
        );
        this.report(() => this.deps.reports?.onPausedWithError?.(action.error, action.atDecree));
        return;
      case "LOG_TRUNCATED":
        this.log.error(
          { reason: action.reason, firstMissingDecree: action.firstMissingDecree },
          `duplication fell out of the log: ${action.message}`,
        );
        this.report(() =>
          this.deps.reports?.onLogTruncated?.(
            action.reason,
            action.firstMissingDecree,
            action.message,
          ),
        );
        return;
    }
  }

  private report(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.log.error({ err: error }, "duplication shipper: a report callback threw");
    }
  }

  private async load(action: Extract<SourceAction, { type: "LOAD" }>): Promise<SourceEvent> {
    try {
      const options = { bytesMax: action.bytesMax, toDecree: action.toDecree };
      if (this.deps.log.readMutations !== undefined) {
        const batch = await this.deps.log.readMutations(action.fromDecree, options);
        return {
          type: "BATCH_LOADED",
          loadId: action.loadId,
          ...batch,
          wallNowMs: this.clock.nowMs(),
        };
      }
      const records = await this.deps.log.read(action.fromDecree, options);
      let bytes = 0;
      const mutations: Mutation[] = [];
      for (const record of records) {
        bytes += record.payload.length;
        mutations.push(decodeMutation(record.payload));
      }
      return {
        type: "BATCH_LOADED",
        loadId: action.loadId,
        mutations,
        bytes,
        wallNowMs: this.clock.nowMs(),
      };
    } catch (error) {
      return {
        type: "LOAD_FAILED",
        loadId: action.loadId,
        error: toDuplicationError(error),
        truncated: isTalariaError(error, "ERR_OBJECT_NOT_FOUND"),
      };
    }
  }

  private async ship(action: Extract<SourceAction, { type: "SHIP" }>): Promise<SourceEvent> {
    const sentAtMs = this.timeClock.nowMs();
    const sentAtWallMs = this.clock.nowMs();
    try {
      const answer = await withTimeout(
        this.deps.remote.duplicate(action.targetPartition, action.entries, {
          partitionCount: action.targetPartitionCount,
          timeoutMs: this.shipTimeoutMs,
          // Only a re-sync ships DUPLICATE entries (a checkpoint's records): say so.
          ...(this.resync ? { resync: true } : {}),
        }),
        // The remote port keeps its own deadline; this only guards against one that never settles.
        this.shipTimeoutMs * 2,
      );
      const roundTripMs = this.timeClock.nowMs() - sentAtMs;
      this.report(() => this.deps.timings?.shipAcknowledged?.(roundTripMs));
      this.noteRemoteClock(sentAtWallMs, answer);
      return { type: "SHIP_ACKED", shipId: action.shipId };
    } catch (error) {
      const count = remotePartitionCount(error);
      return {
        type: "SHIP_FAILED",
        shipId: action.shipId,
        error: toDuplicationError(error),
        ...(count === undefined ? {} : { partitionCount: count }),
      };
    }
  }

  /** Keeps the remote clock's latest reading; logs when it starts or stops exceeding the skew. */
  private noteRemoteClock(sentAtWallMs: number, answer: unknown): void {
    const reading = readRemoteClock(
      sentAtWallMs,
      this.clock.nowMs(),
      receiverNowOf(answer),
      this.maxClockSkewMs,
    );
    if (reading === undefined) return;
    const was = this.remoteClock?.skewExceeded === true;
    this.remoteClock = reading;
    if (reading.skewExceeded === was) return;
    const fields = { ...reading, maxClockSkewMs: this.maxClockSkewMs };
    if (reading.skewExceeded)
      this.log.warn(
        fields,
        "duplication: the remote cluster's clock differs from ours by more than dup_max_clock_skew_seconds; a write shipped late could outlive a tombstone there (fix the clocks, or raise tombstone_retention_seconds and the skew setting)",
      );
    else this.log.info(fields, "duplication: the remote cluster's clock is within the skew again");
  }

  private maybeLookUpPartitionCount(): void {
    if (this.core.snapshot().targetPartitionCount !== 0 || this.lookingUpCount) return;
    if (this.timeClock.nowMs() < this.lookupAtMs) return;
    this.lookingUpCount = true;
    this.track(async () => {
      try {
        const count = await this.deps.remote.partitionCount(this.shipTimeoutMs);
        if (!Number.isSafeInteger(count) || count < 1) {
          throw new TalariaError("ERR_INVALID_DATA", `remote partition count ${String(count)}`);
        }
        this.lookupFailures = 0;
        this.remoteError = undefined;
        return { type: "CONFIGURE", targetPartitionCount: count };
      } catch (error) {
        this.lookupFailures++;
        this.remoteError = toDuplicationError(error);
        this.lookupAtMs =
          this.timeClock.nowMs() + Math.min(10_000, 100 * 2 ** Math.min(this.lookupFailures, 10));
        this.log.warn({ error: this.remoteError }, "duplication: cannot reach the remote table");
        return { type: "TICK", nowMs: this.timeClock.nowMs() };
      } finally {
        this.lookingUpCount = false;
      }
    });
  }
}

function summary(letter: Extract<SourceAction, { type: "DEAD_LETTER" }>["letter"]) {
  return {
    kind: letter.kind,
    fromDecree: letter.fromDecree,
    toDecree: letter.toDecree,
    targetPartition: letter.targetPartition,
    entries: letter.entries.length,
    error: letter.error,
  };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TalariaError("ERR_TIMEOUT", `no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The source side's view of meta's duplication status (undefined: nothing to run yet). */
export function runStatusOf(status: string): RunStatus | undefined {
  switch (status) {
    case "DS_LOG":
      return "start";
    case "DS_PAUSE":
      return "pause";
    case "DS_REMOVED":
      return "remove";
    default:
      return undefined;
  }
}
