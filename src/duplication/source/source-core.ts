/**
 * The source side of one duplication on one primary partition, as a pure state machine: events in
 * (events.ts), actions out. No I/O, no clock, no timers: the runtime (shipper.ts) and the
 * simulator (src/sim/dup) perform the actions and feed TICKs, so one code path runs in both.
 *
 *   idle ─LOAD→ loading ─BATCH_LOADED→ shipping ─all streams acked→ PROGRESS, idle ─→ …
 *
 * Batches are pipelined: while up to pipelineBatchesMax batches are in flight the next one is
 * already loaded and planned and its requests go out at once, beside the earlier batches' requests
 * to the same target partitions — neither the slowest partition nor a round trip per batch holds
 * the next one back. Batches still complete (PROGRESS) in decree order.
 *
 * Invariants:
 *  - lastDecree advances only when EVERY entry of the batch up to it is acknowledged by the
 *    remote or durably dead-lettered (FAIL_SKIP) — including a batch whose entries are all skipped
 *    (DUPLICATE / EMPTY), and whatever the batch ends with: nothing is dropped silently.
 *  - At most pipelineBatchesMax batches and one LOAD in flight. Within a batch, each target
 *    partition's stream has one request in flight, sent in decree order and resent unchanged
 *    until acknowledged; a source mutation's entries for one partition travel in one request.
 *    Streams of different batches to the same partition run concurrently (at most one request
 *    per batch, so pipelineBatchesMax per partition): they carry different mutations, whose
 *    timetags differ, and the target is last-write-wins by timetag (storage/apply.ts), so the
 *    order they land in does not change the result — only the round trips no longer add up.
 *  - lastDecree and confirmedDecree never decrease; confirmedDecree <= what meta persisted.
 *  - The plog may be collected below gcHoldDecree() = confirmedDecree + 1 (nothing is held once
 *    the duplication is removed or fell out of the log). The hold never outlives the retention
 *    bounds: past them the core reports LOG_TRUNCATED and stops, instead of losing data silently.
 *  - Remote failures are data: any error (garbage, wrong cluster, unknown table, partition count
 *    change) is retried, dead-lettered or pauses the duplication per the fail mode; none throws.
 */

import { type Mutation, UpdateKind } from "../../codec/mutation.ts";
import { assert } from "../../common/assert.ts";
import { type PlannedBatch, planBatch } from "./batch-plan.ts";
import type {
  DuplicationError,
  LogTruncatedReason,
  RunStatus,
  SourceAction,
  SourceEvent,
} from "./events.ts";
import {
  type FailMode,
  type ResolvedSourceOptions,
  resolveSourceOptions,
  retryDelayMs,
  type SourceOptions,
} from "./options.ts";
import { RetentionMarks } from "./retention-marks.ts";
import {
  emptySourceStats,
  type SourcePhase,
  type SourceSnapshot,
  type SourceStats,
} from "./source-stats.ts";
import {
  type BatchState,
  issueStreamActions,
  type StreamState,
  startBatch,
} from "./stream-state.ts";

export interface SourceInit {
  /** Meta's persisted confirmed decree for this partition: shipping resumes after it. */
  readonly confirmedDecree: number;
  /** The remote table's partition count; 0 = not known yet (nothing loads until CONFIGURE). */
  readonly targetPartitionCount: number;
  readonly failMode: FailMode;
  readonly status: RunStatus;
  /** The core's clock at creation (the runtime's monotonic milliseconds). */
  readonly nowMs: number;
  /** The replica's committed decree at creation, when known. */
  readonly committedDecree?: number;
}

type PausedBy = "meta" | "error";
/** Where the core is; "running" is reported as idle, loading or shipping (snapshot). */
type CorePhase = "running" | "skipping" | "paused" | "log_truncated" | "removed";

export class DuplicationSourceCore {
  private readonly options: ResolvedSourceOptions;
  private readonly marks: RetentionMarks;
  private readonly counters: SourceStats = emptySourceStats();
  private phase: CorePhase;
  private pausedBy: PausedBy | undefined;
  private metaStatus: RunStatus;
  private failMode: FailMode;
  private targetPartitionCount: number;
  private nowMs: number;
  private lastDecree: number;
  private confirmedDecree: number;
  private committedDecree: number;
  private retainedBytes = 0;
  /** The table receives a re-sync (LOG_STATE): the byte bound waits, the age bound does not. */
  private receivingResync = false;
  /** The last decree known to hold received re-sync writes (LOG_STATE); 0 when none. */
  private resyncReceivedThrough = 0;
  private lastProgressAtMs: number;
  private nextId = 1;
  /** Earliest time of the next LOAD (retry backoff, or nothing new last time). */
  private loadAtMs: number;
  /** The LOAD in flight, 0 when none. */
  private loadId = 0;
  /** The first decree of the LOAD in flight (lastDecree may move on meanwhile: CONFIRMED). */
  private loadFromDecree = 0;
  private loadFailures = 0;
  /** FAIL_SKIP of an unreadable decree: the dead letter in flight, or due again at loadAtMs. */
  private skip: { decree: number; error: DuplicationError; deadLetterId: number } | undefined;
  /** The batches in flight, in decree order (at most pipelineBatchesMax). */
  private batches: BatchState[] = [];
  private lastError: DuplicationError | undefined;
  private pausedWithError: DuplicationError | undefined;
  private truncated: { reason: LogTruncatedReason; firstMissingDecree: number } | undefined;
  private out: SourceAction[] = [];

  constructor(options: SourceOptions, init: SourceInit) {
    this.options = resolveSourceOptions(options);
    assert(
      Number.isSafeInteger(init.confirmedDecree) && init.confirmedDecree >= 0,
      `confirmed decree ${init.confirmedDecree} is not known`,
    );
    assert(
      init.targetPartitionCount === 0 || isPartitionCount(init.targetPartitionCount),
      "target partition count",
    );
    this.marks = new RetentionMarks(this.options.retainedLogMsMax);
    this.failMode = init.failMode;
    this.targetPartitionCount = init.targetPartitionCount;
    this.nowMs = init.nowMs;
    this.lastDecree = init.confirmedDecree;
    this.confirmedDecree = init.confirmedDecree;
    this.committedDecree = Math.max(init.committedDecree ?? 0, init.confirmedDecree);
    this.lastProgressAtMs = init.nowMs;
    this.loadAtMs = init.nowMs;
    this.metaStatus = init.status;
    this.phase =
      init.status === "start" ? "running" : init.status === "pause" ? "paused" : "removed";
    if (this.phase === "paused") this.pausedBy = "meta";
  }

  /** Feeds one event; returns the actions to perform, in order. */
  step(event: SourceEvent): SourceAction[] {
    this.out = [];
    switch (event.type) {
      case "TICK":
        this.nowMs = Math.max(this.nowMs, event.nowMs);
        this.checkRetention();
        break;
      case "LOG_STATE":
        this.committedDecree = Math.max(this.committedDecree, event.committedDecree);
        this.retainedBytes = event.retainedBytes;
        this.receivingResync = event.receivingResync === true;
        this.resyncReceivedThrough = Math.max(
          this.resyncReceivedThrough,
          event.resyncReceivedThroughDecree ?? 0,
        );
        this.marks.record(this.committedDecree, this.nowMs);
        this.checkRetention();
        break;
      case "BATCH_LOADED":
        if (this.phase === "running" && event.loadId === this.loadId && event.loadId !== 0) {
          this.loadId = 0;
          this.onLoaded(event);
        }
        break;
      case "LOAD_FAILED":
        if (this.phase === "running" && event.loadId === this.loadId && event.loadId !== 0) {
          this.loadId = 0;
          this.onLoadFailed(event.error, event.truncated);
        }
        break;
      case "SHIP_ACKED":
        this.onShipAcked(event.shipId);
        break;
      case "SHIP_FAILED":
        this.onShipFailed(event.shipId, event.error, event.partitionCount);
        break;
      case "DEAD_LETTERED":
        this.onDeadLettered(event.deadLetterId);
        break;
      case "DEAD_LETTER_FAILED":
        this.onDeadLetterFailed(event.deadLetterId, event.error);
        break;
      case "CONFIRMED":
        this.onConfirmed(event.confirmedDecree);
        break;
      case "CONFIGURE":
        this.onConfigure(event);
        break;
    }
    this.pump();
    const actions = this.out;
    this.out = [];
    return actions;
  }

  /** The decree below which the plog may be garbage-collected, or undefined for no hold. */
  gcHoldDecree(): number | undefined {
    return this.phase === "log_truncated" || this.phase === "removed"
      ? undefined
      : this.confirmedDecree + 1;
  }

  get stats(): Readonly<SourceStats> {
    return { ...this.counters };
  }

  snapshot(): SourceSnapshot {
    const batches = this.batches;
    const first = batches[0];
    const last = batches[batches.length - 1];
    let inFlightRequests = 0;
    for (const batch of batches) {
      for (const stream of batch.streams) if (stream.shipId !== undefined) inFlightRequests++;
    }
    return {
      phase: this.reportedPhase(),
      lastDecree: this.lastDecree,
      confirmedDecree: this.confirmedDecree,
      committedDecree: this.committedDecree,
      backlog: Math.max(0, this.committedDecree - this.confirmedDecree),
      unshipped: Math.max(0, this.committedDecree - this.lastDecree),
      stalled: this.isStalled(),
      targetPartitionCount: this.targetPartitionCount,
      failMode: this.failMode,
      inFlightRequests,
      batchesInFlight: batches.length,
      stats: this.stats,
      ...(first === undefined || last === undefined
        ? {}
        : { batch: { fromDecree: first.fromDecree, toDecree: last.toDecree } }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      ...(this.pausedWithError === undefined ? {} : { pausedWithError: this.pausedWithError }),
      ...(this.truncated === undefined ? {} : { logTruncated: this.truncated }),
    };
  }

  private reportedPhase(): SourcePhase {
    if (this.phase !== "running") return this.phase;
    if (this.batches.length > 0) return "shipping";
    return this.loadId !== 0 ? "loading" : "idle";
  }

  /** The last decree loaded into a batch (or shipped): the next LOAD starts after it. */
  private lastLoadedDecree(): number {
    const last = this.batches[this.batches.length - 1];
    return Math.max(this.lastDecree, last?.toDecree ?? 0);
  }

  private isStalled(): boolean {
    const running = this.phase !== "paused" && !this.isStopped();
    return (
      running &&
      this.committedDecree > this.lastDecree &&
      this.nowMs - this.lastProgressAtMs >= this.options.stalledAfterMs
    );
  }

  private isStopped(): boolean {
    return this.phase === "log_truncated" || this.phase === "removed";
  }

  // ---- loading -------------------------------------------------------------------------------

  private onLoaded(event: Extract<SourceEvent, { type: "BATCH_LOADED" }>): void {
    const from = this.loadFromDecree;
    const mutations = event.mutations;
    if (mutations.length === 0) {
      this.counters.emptyLoads++;
      this.loadFailures = 0;
      this.loadAtMs = this.nowMs + this.options.noMutationLoadDelayMs;
      return;
    }
    const first = mutations[0];
    if (first !== undefined && first.decree > from) {
      this.logTruncated("log_gone", from, `the plog resumes at decree ${first.decree}`);
      return;
    }
    let expected = from;
    for (const mutation of mutations) {
      if (mutation.decree !== expected || mutation.decree > this.committedDecree) {
        this.onLoadFailed(
          {
            code: "ERR_INVALID_DATA",
            message: `plog read from ${from} returned decree ${mutation.decree} where ${expected} (committed ${this.committedDecree}) was due`,
          },
          false,
        );
        return;
      }
      expected++;
    }
    // The age bound by the write's own time: the marks (checkRetention) count from when this
    // shipper saw a decree committed, and restart with it; a shipper that starts after a long
    // re-sync or outage must still not ship a write older than its tombstones may be. Received
    // writes (DUPLICATE) and empty mutations are never shipped on: their age does not count.
    const shipped = mutations.find((m) =>
      m.updates.some((u) => u.kind !== UpdateKind.DUPLICATE && u.kind !== UpdateKind.EMPTY),
    );
    const ageMs =
      shipped === undefined || event.wallNowMs === undefined
        ? 0
        : event.wallNowMs - shipped.timestampUs / 1000;
    if (ageMs > this.options.retainedLogMsMax) {
      this.logTruncated(
        "retained_seconds",
        this.confirmedDecree + 1,
        `decree ${shipped?.decree} was written ${Math.round(ageMs / 1000)} s ago, over dup_max_retained_log_seconds = ${this.options.retainedLogMsMax / 1000}`,
      );
      return;
    }
    this.counters.plogReadBytes += event.bytes;
    this.counters.plogReadMutations += mutations.length;
    this.loadFailures = 0;
    const plan = this.plan(mutations);
    this.counters.skippedDuplicateUpdates += plan.skippedDuplicateUpdates;
    this.batches.push(startBatch(mutations, plan, this.targetPartitionCount));
    this.loadAtMs = this.nowMs;
    this.completeBatches();
  }

  private onLoadFailed(error: DuplicationError, truncated: boolean): void {
    const from = this.loadFromDecree;
    this.counters.loadFailures++;
    this.lastError = error;
    if (truncated) {
      this.logTruncated("log_gone", from, error.message);
      return;
    }
    this.loadFailures++;
    if (this.failMode === "FAIL_FAST" && this.loadFailures >= this.options.failFastAfterFailures) {
      this.pauseWithError(error);
    } else if (
      this.failMode === "FAIL_SKIP" &&
      this.loadFailures >= this.options.skipAfterFailures &&
      // Skipping a decree moves lastDecree to it: only once everything before it is shipped.
      this.batches.length === 0
    ) {
      this.phase = "skipping";
      this.skip = { decree: from, error, deadLetterId: 0 };
      this.loadAtMs = this.nowMs;
    } else {
      this.loadAtMs = this.nowMs + retryDelayMs(this.options, this.loadFailures);
    }
  }

  // ---- shipping ------------------------------------------------------------------------------

  private streamOf(predicate: (stream: StreamState) => boolean): StreamOfBatch | undefined {
    if (this.phase !== "running") return undefined;
    for (const batch of this.batches) {
      const stream = batch.streams.find(predicate);
      if (stream !== undefined) return { batch, stream };
    }
    return undefined;
  }

  private onShipAcked(shipId: number): void {
    const found = this.streamOf((s) => s.shipId === shipId);
    if (found === undefined) return;
    const request = found.stream.requests[found.stream.next];
    assert(request !== undefined, "an acknowledged request exists");
    this.counters.shippedEntries += request.entries.length;
    this.counters.shippedBytes += request.bytes;
    this.counters.shippedRequests++;
    this.advanceStream(found);
  }

  private onShipFailed(shipId: number, error: DuplicationError, partitionCount?: number): void {
    const stream = this.streamOf((s) => s.shipId === shipId)?.stream;
    if (stream === undefined) return;
    stream.shipId = undefined;
    this.counters.failedShips++;
    this.lastError = error;
    if (
      partitionCount !== undefined &&
      isPartitionCount(partitionCount) &&
      partitionCount !== this.targetPartitionCount
    ) {
      this.reroute(partitionCount);
      return;
    }
    stream.failures++;
    if (this.failMode === "FAIL_FAST" && stream.failures >= this.options.failFastAfterFailures) {
      this.pauseWithError(error);
    } else if (this.failMode === "FAIL_SKIP" && stream.failures >= this.options.skipAfterFailures) {
      stream.deadLetter = { error, writeFailures: 0 };
      stream.retryAtMs = this.nowMs;
    } else {
      stream.retryAtMs = this.nowMs + retryDelayMs(this.options, stream.failures);
    }
  }

  private onDeadLettered(deadLetterId: number): void {
    if (this.phase === "skipping" && this.skip?.deadLetterId === deadLetterId) {
      const decree = this.skip.decree;
      this.skip = undefined;
      this.counters.deadLetters++;
      this.loadFailures = 0;
      this.advanceTo(decree);
      return;
    }
    const found = this.streamOf((s) => s.deadLetterId === deadLetterId);
    if (found === undefined) return;
    const request = found.stream.requests[found.stream.next];
    assert(request !== undefined, "a dead-lettered request exists");
    this.counters.deadLetters++;
    this.counters.deadLetteredEntries += request.entries.length;
    this.advanceStream(found);
  }

  private onDeadLetterFailed(deadLetterId: number, error: DuplicationError): void {
    this.lastError = error;
    if (this.phase === "skipping" && this.skip?.deadLetterId === deadLetterId) {
      this.counters.deadLetterWriteFailures++;
      this.skip.deadLetterId = 0;
      this.loadFailures++;
      this.loadAtMs = this.nowMs + retryDelayMs(this.options, this.loadFailures);
      return;
    }
    const stream = this.streamOf((s) => s.deadLetterId === deadLetterId)?.stream;
    if (stream?.deadLetter === undefined) return;
    this.counters.deadLetterWriteFailures++;
    stream.deadLetterId = undefined;
    stream.deadLetter.writeFailures++;
    // A store that keeps failing holds the duplication here: skipping means kept, never dropped.
    stream.retryAtMs = this.nowMs + retryDelayMs(this.options, stream.deadLetter.writeFailures);
  }

  private advanceStream({ batch, stream }: StreamOfBatch): void {
    stream.shipId = undefined;
    stream.deadLetterId = undefined;
    stream.deadLetter = undefined;
    stream.failures = 0;
    stream.retryAtMs = undefined;
    stream.next++;
    if (stream.next < stream.requests.length) return;
    batch.remaining--;
    this.completeBatches();
  }

  /** Completes the done batches at the head, in decree order (a later one may finish first). */
  private completeBatches(): void {
    for (;;) {
      const head = this.batches[0];
      if (head === undefined || head.remaining > 0) return;
      this.batches.shift();
      this.advanceTo(head.toDecree);
    }
  }

  private advanceTo(decree: number): void {
    this.phase = "running";
    this.loadAtMs = this.nowMs;
    if (decree <= this.lastDecree) return;
    this.lastDecree = decree;
    this.lastProgressAtMs = this.nowMs;
    this.out.push({ type: "PROGRESS", lastDecree: decree });
  }

  /**
   * The remote table's partition count changed: route the batches in flight again, from their
   * first request (re-ships are harmless; what is in flight now is ignored when it answers).
   */
  private reroute(partitionCount: number): void {
    this.targetPartitionCount = partitionCount;
    this.counters.reroutes++;
    if (this.phase !== "running" || this.batches.length === 0) return;
    this.batches = this.batches.map((batch) =>
      startBatch(batch.mutations, this.plan(batch.mutations), partitionCount),
    );
    this.completeBatches();
  }

  private plan(mutations: readonly Mutation[]): PlannedBatch {
    return planBatch(mutations, {
      targetPartitionCount: this.targetPartitionCount,
      sourceClusterId: this.options.sourceClusterId,
      requestBytesMax: this.options.requestBytesMax,
      requestEntriesMax: this.options.requestEntriesMax,
      shipDuplicateEntries: this.options.shipDuplicateEntries,
    });
  }

  // ---- meta ----------------------------------------------------------------------------------

  private onConfirmed(confirmedDecree: number): void {
    if (!Number.isSafeInteger(confirmedDecree) || confirmedDecree <= this.confirmedDecree) return;
    this.counters.confirmedMutations += confirmedDecree - this.confirmedDecree;
    this.confirmedDecree = confirmedDecree;
    this.committedDecree = Math.max(this.committedDecree, confirmedDecree);
    this.marks.dropThrough(confirmedDecree);
    // Another primary got this far: what lies below is shipped (a batch in flight still ends).
    if (confirmedDecree > this.lastDecree) {
      this.lastDecree = confirmedDecree;
      this.lastProgressAtMs = this.nowMs;
    }
  }

  private onConfigure(event: Extract<SourceEvent, { type: "CONFIGURE" }>): void {
    if (this.isStopped()) return;
    if (event.failMode !== undefined) this.failMode = event.failMode;
    const count = event.targetPartitionCount;
    if (count !== undefined && isPartitionCount(count) && count !== this.targetPartitionCount) {
      this.reroute(count);
    }
    const status = event.status;
    if (status === undefined) return;
    const previous = this.metaStatus;
    this.metaStatus = status;
    if (status === "remove") {
      this.stop("removed");
    } else if (status === "pause") {
      if (this.phase !== "paused") this.stop("paused");
      this.pausedBy ??= "meta";
    } else if (this.phase === "paused" && (this.pausedBy === "meta" || previous === "pause")) {
      // FAIL_FAST's pause holds until an operator pauses and starts again (previous = pause).
      this.pausedBy = undefined;
      this.pausedWithError = undefined;
      this.phase = "running";
      this.loadFailures = 0;
      this.loadAtMs = this.nowMs;
    }
  }

  private pauseWithError(error: DuplicationError): void {
    this.stop("paused");
    this.pausedBy = "error";
    this.pausedWithError = error;
    this.out.push({ type: "PAUSED_WITH_ERROR", error, atDecree: this.lastDecree + 1 });
  }

  private logTruncated(reason: LogTruncatedReason, firstMissingDecree: number, message: string) {
    this.stop("log_truncated");
    this.truncated = { reason, firstMissingDecree };
    this.out.push({ type: "LOG_TRUNCATED", reason, firstMissingDecree, message });
  }

  /** Abandons whatever is in flight: outcomes of its actions are ignored from now on. */
  private stop(phase: "paused" | "log_truncated" | "removed"): void {
    this.phase = phase;
    this.batches = [];
    this.skip = undefined;
    this.loadId = 0;
  }

  private checkRetention(): void {
    if (this.isStopped() || this.committedDecree <= this.confirmedDecree) return;
    const first = this.confirmedDecree + 1;
    const o = this.options;
    // A re-sync into this table writes its whole checkpoint into the log faster than meta confirms
    // what this duplication passed over (received writes are never shipped on). Counting those
    // bytes would push the duplication out of its log — and with a two-way duplication, each
    // side's re-sync would push the other out again, for ever. So the byte bound waits while the
    // writes arrive and until the confirmed decree passed the last of them (this duplication may
    // itself have been re-syncing or cut off meanwhile, holding the log below them).
    const holdsResync = this.receivingResync || this.confirmedDecree < this.resyncReceivedThrough;
    if (this.retainedBytes > o.retainedLogBytesMax && !holdsResync) {
      this.logTruncated(
        "retained_bytes",
        first,
        `the plog holds ${this.retainedBytes} bytes above confirmed decree ${this.confirmedDecree}, over dup_max_retained_log_bytes = ${o.retainedLogBytesMax}`,
      );
      return;
    }
    const ageMs = this.marks.ageAboveMs(this.confirmedDecree, this.nowMs);
    if (ageMs > o.retainedLogMsMax) {
      this.logTruncated(
        "retained_seconds",
        first,
        `decree ${first} is unconfirmed for ${Math.round(ageMs / 1000)} s, over dup_max_retained_log_seconds = ${o.retainedLogMsMax / 1000}`,
      );
    }
  }

  // ---- issuing actions -----------------------------------------------------------------------

  private pump(): void {
    if (this.phase === "running") {
      // Each batch's streams move independently of the other batches' (header: why that is safe).
      for (const batch of this.batches) {
        this.out.push(...issueStreamActions(batch, this.nowMs, () => this.nextId++));
      }
      this.pumpLoad();
    } else if (this.phase === "skipping") this.pumpSkip();
    if (this.committedDecree <= this.lastDecree) this.lastProgressAtMs = this.nowMs;
  }

  private pumpLoad(): void {
    const from = this.lastLoadedDecree() + 1;
    if (this.loadId !== 0 || this.batches.length >= this.options.pipelineBatchesMax) return;
    if (this.committedDecree < from || this.nowMs < this.loadAtMs) return;
    if (this.targetPartitionCount === 0) return;
    this.loadId = this.nextId++;
    this.loadFromDecree = from;
    this.out.push({
      type: "LOAD",
      loadId: this.loadId,
      fromDecree: this.loadFromDecree,
      toDecree: this.committedDecree,
      // 0 = one mutation per batch: the plog returns at least one record.
      bytesMax: Math.max(1, this.options.batchBytes),
    });
  }

  private pumpSkip(): void {
    const skip = this.skip;
    assert(skip !== undefined, "skipping has a decree to skip");
    if (skip.deadLetterId !== 0 || this.nowMs < this.loadAtMs) return;
    skip.deadLetterId = this.nextId++;
    this.out.push({
      type: "DEAD_LETTER",
      deadLetterId: skip.deadLetterId,
      letter: {
        kind: "load",
        fromDecree: skip.decree,
        toDecree: skip.decree,
        targetPartition: -1,
        targetPartitionCount: this.targetPartitionCount,
        entries: [],
        error: skip.error,
        attempts: this.loadFailures,
      },
    });
  }
}

interface StreamOfBatch {
  readonly batch: BatchState;
  readonly stream: StreamState;
}

function isPartitionCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1;
}

/** The plog GC bound of a replica over its duplications' holds (undefined: nothing held). */
export function minGcHoldDecree(holds: Iterable<number | undefined>): number | undefined {
  let min: number | undefined;
  for (const hold of holds) {
    if (hold !== undefined && (min === undefined || hold < min)) min = hold;
  }
  return min;
}
