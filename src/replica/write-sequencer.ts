/**
 * Client writes on their way into the replication core: arrival order, hybrid-clock timestamps,
 * and atomic operations (incr, checkAndSet, checkAndMutate) resolved into plain updates.
 *
 * Invariants:
 *  - Writes reach the core (CLIENT_WRITE) in arrival order, and the core gives client writes
 *    decrees in the order it receives them (its write queue is FIFO), so arrival order is decree
 *    order. Timestamps come from the hybrid clock at submission, so they increase with decrees.
 *  - An atomic operation is evaluated only when the host says every earlier decree is applied
 *    on this active primary and no earlier write awaits its answer. It is submitted in the same
 *    synchronous turn as its evaluation, and the core then assigns it the next decree at once
 *    (nothing is in flight), so no other decree comes between the state it read and its own.
 *  - Writes behind a waiting atomic operation wait too: at most pendingWritesMax, then ERR_BUSY.
 *  - Nothing here has happened when a write is refused before submission: such refusals carry
 *    `details.beforeExecution`, so clients may retry even non-idempotent requests elsewhere.
 *  - Plain writes (set, multiSet, del, multiDel) and duplicate requests (each one DUPLICATE
 *    update) that start while an earlier coalesced mutation is still unanswered are coalesced
 *    into one mutation, in arrival order, up to `CoalesceLimits` (Pegasus batches client writes
 *    the same way): one decree, one log record, one prepare per peer and one apply for the lot,
 *    all sharing one timestamp (after every duplicated entry's, which the clock observed). Every
 *    write of a batch gets the same answer (a duplicate request its own stale count). A batch is
 *    submitted before an atomic operation evaluates, so coalescing never reorders writes. Equal
 *    timestamps are safe for last-write-wins: the updates of one mutation apply in order on every
 *    cluster (storage/apply.ts).
 *  - At most `writeCoalesceInFlightMax` coalesced mutations are unanswered at once, except that a
 *    full batch and a batch ahead of an atomic operation leave at once: a batch that is not full
 *    leaves at the end of its event-loop turn while fewer are in flight, otherwise when one of
 *    them is answered (or fails). So under load batches grow instead of mutations multiplying,
 *    and no batch is held once nothing is in flight.
 *  - With `writeCoalesceMinIntervalMs` > 0 (a commit delay, off by default), a batch that would
 *    leave sooner than that after the previous mutation was submitted waits for the rest of the
 *    interval (or longer, for the in-flight bound). A full batch and a batch ahead of an atomic
 *    operation still leave at once. On CPU-bound nodes this trades latency for fewer, larger
 *    mutations (docs/benchmarks.md, "A commit delay").
 */
import { type DuplicateUpdate, type Update, UpdateKind } from "../codec/mutation.ts";
import { TalariaError } from "../common/errors.ts";
import {
  type CheckResolution,
  type RecordReader,
  resolveCheckAndMutate,
  resolveCheckAndSet,
  resolveIncr,
} from "./atomic-ops.ts";
import type { HybridClock } from "./hybrid-clock.ts";
import {
  type AtomicRequest,
  isAtomicRequest,
  requestToUpdate,
  type WriteRequest,
  type WriteResult,
} from "./write-request.ts";

/** What the core answered for one submitted write. */
export interface CoreWriteOutcome {
  readonly decree: number;
  readonly staleEntriesSkipped: number;
  /** Per update, when the mutation held several DUPLICATE updates. */
  readonly staleEntriesSkippedByUpdate?: readonly number[];
}

export type AtomicReadiness =
  | { readonly ready: true }
  /** Not yet: try again when something is applied or answered. */
  | { readonly ready: false; readonly refusal?: undefined }
  /** Never on this replica as it is now (not primary, closed, failed). */
  | { readonly ready: false; readonly refusal: string };

export interface SequencerHost {
  atomicReadiness(): AtomicReadiness;
  /** Reads the applied state (what atomic operations evaluate against). */
  readonly read: RecordReader;
  readonly clock: HybridClock;
  /** Hands updates to the core as one CLIENT_WRITE; resolves on its REPLY. */
  submit(updates: readonly Update[], timestampUs: number): Promise<CoreWriteOutcome>;
  /** Error for a refusal before execution (adds gpid and beforeExecution). */
  refuse(code: "ERR_INVALID_STATE" | "ERR_BUSY", reason: string): TalariaError;
}

interface WaitingWrite {
  readonly request: WriteRequest;
  /** The request's size as validateWrite counted it (keys + values). */
  readonly bytes: number;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/** How many plain and duplicate writes one coalesced mutation may carry. */
export interface CoalesceLimits {
  /** Most updates in one coalesced mutation; 1 turns coalescing off. */
  readonly writeCoalesceUpdatesMax: number;
  /** Most request bytes (keys + values) in one coalesced mutation; a larger write goes alone. */
  readonly writeCoalesceBytesMax: number;
  /**
   * Most coalesced mutations unanswered at once before the next batch waits for an answer
   * (a full batch does not wait). Default 1.
   */
  readonly writeCoalesceInFlightMax?: number;
  /**
   * Least time from one coalesced mutation's submission to the next one's, unless that one is
   * full or ahead of an atomic operation. Default 0: no delay.
   */
  readonly writeCoalesceMinIntervalMs?: number;
}

/** The sequencer's clock and timer (tests drive them by hand). */
export interface SequencerTimers {
  nowMs(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: SequencerTimers = {
  nowMs: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const defaultCoalesceLimits: CoalesceLimits = {
  writeCoalesceUpdatesMax: 256,
  writeCoalesceBytesMax: 1024 * 1024,
  writeCoalesceInFlightMax: 1,
};

/** Writes waiting for the end of the turn to be submitted as one mutation. */
interface CoalescedBatch {
  readonly updates: Update[];
  bytes: number;
  readonly waiters: BatchWaiter[];
}

interface BatchWaiter {
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
  /** A duplicate request: answered with its own update's stale-entry count. */
  readonly duplicate: boolean;
}

export class WriteSequencer {
  private queue: WaitingWrite[] = [];
  private pumping = false;
  private batch: CoalescedBatch | undefined;
  private flushScheduled = false;
  /** Coalesced mutations submitted and not yet answered. */
  private submittedUnanswered = 0;
  private readonly inFlightMax: number;
  private readonly minIntervalMs: number;
  /** When the previous coalesced mutation was submitted (timers.nowMs). */
  private lastSubmitMs = Number.NEGATIVE_INFINITY;
  /** Armed while a batch waits for the commit delay (writeCoalesceMinIntervalMs). */
  private delayTimer: unknown;
  /** Cumulative: mutations submitted for plain and duplicate writes, and the writes they held. */
  readonly stats = { mutations: 0, writes: 0 };

  constructor(
    private readonly host: SequencerHost,
    private readonly pendingWritesMax: number,
    private readonly coalesce: CoalesceLimits = defaultCoalesceLimits,
    private readonly timers: SequencerTimers = systemTimers,
  ) {
    this.inFlightMax = Math.max(1, coalesce.writeCoalesceInFlightMax ?? 1);
    this.minIntervalMs = Math.max(0, coalesce.writeCoalesceMinIntervalMs ?? 0);
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** `bytes`: the request's size as validateWrite returned it (bounds coalescing). */
  enqueue(request: WriteRequest, bytes = 0): Promise<WriteResult> {
    if (this.queue.length >= this.pendingWritesMax) {
      return Promise.reject(
        this.host.refuse("ERR_BUSY", "too many writes waiting behind an atomic operation"),
      );
    }
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ request, bytes, resolve, reject });
      this.pump();
    });
  }

  /** Starts every write that may start now, in order. Call whenever readiness may have changed. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const head = this.queue[0];
        if (head === undefined || !this.tryStart(head)) return;
        this.queue.shift();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Refuses every waiting write (the replica closed or failed). */
  refuseAll(reason: string): void {
    this.disarmDelay();
    const batch = this.batch;
    this.batch = undefined;
    for (const waiter of batch?.waiters ?? []) {
      waiter.reject(this.host.refuse("ERR_INVALID_STATE", reason));
    }
    const waiting = this.queue;
    this.queue = [];
    for (const write of waiting) write.reject(this.host.refuse("ERR_INVALID_STATE", reason));
  }

  /**
   * Submits the coalesced batch, if any, as one mutation; unless `now` is false and the commit
   * delay holds it (it then leaves when the delay is over, or at an answer after that).
   */
  flush(now = true): void {
    const batch = this.batch;
    if (batch === undefined) return;
    if (!now && this.delayed()) return;
    this.disarmDelay();
    this.lastSubmitMs = this.timers.nowMs();
    this.batch = undefined;
    let submitted: Promise<CoreWriteOutcome>;
    try {
      submitted = this.host.submit(batch.updates, this.host.clock.next());
    } catch (error) {
      submitted = Promise.reject(error);
    }
    this.submittedUnanswered++;
    this.stats.mutations++;
    this.stats.writes += batch.waiters.length;
    submitted.then(
      (outcome) => {
        this.answered();
        batch.waiters.forEach((waiter, index) => {
          waiter.resolve(
            waiter.duplicate
              ? {
                  decree: outcome.decree,
                  staleEntriesSkipped:
                    outcome.staleEntriesSkippedByUpdate?.[index] ?? outcome.staleEntriesSkipped,
                }
              : { decree: outcome.decree },
          );
        });
      },
      (error: unknown) => {
        this.answered();
        for (const waiter of batch.waiters) waiter.reject(error);
      },
    );
  }

  /** One coalesced mutation was answered: a batch held behind the in-flight bound may leave. */
  private answered(): void {
    this.submittedUnanswered--;
    if (this.submittedUnanswered < this.inFlightMax) this.flush(false);
  }

  /** The end of a turn in which a batch started: it leaves unless the in-flight bound holds it. */
  private endOfTurn(): void {
    this.flushScheduled = false;
    if (this.submittedUnanswered < this.inFlightMax) this.flush(false);
  }

  /** Whether the commit delay holds the batch now; arms its timer if so. */
  private delayed(): boolean {
    if (this.minIntervalMs === 0) return false;
    const waitMs = this.lastSubmitMs + this.minIntervalMs - this.timers.nowMs();
    if (waitMs <= 0) return false;
    this.delayTimer ??= this.timers.setTimeout(() => {
      this.delayTimer = undefined;
      if (this.submittedUnanswered < this.inFlightMax) this.flush(false);
    }, waitMs);
    return true;
  }

  private disarmDelay(): void {
    if (this.delayTimer === undefined) return;
    this.timers.clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
  }

  private addToBatch(update: Update, bytes: number, duplicate: boolean): Promise<WriteResult> {
    const limits = this.coalesce;
    const current = this.batch;
    if (
      current !== undefined &&
      (current.updates.length >= limits.writeCoalesceUpdatesMax ||
        current.bytes + bytes > limits.writeCoalesceBytesMax)
    ) {
      this.flush();
    }
    const batch = this.batch ?? { updates: [], bytes: 0, waiters: [] };
    this.batch = batch;
    return new Promise<WriteResult>((resolve, reject) => {
      batch.updates.push(update);
      batch.bytes += bytes;
      batch.waiters.push({ resolve, reject, duplicate });
      // With nothing of ours in flight there is nothing to wait behind: submit at once (unless the
      // commit delay holds it), so a lone write pays no extra turn. Writes that arrive while a
      // mutation is in flight coalesce until the end of the turn, or, with the in-flight bound
      // reached, until an answer (answered()).
      if (batch.updates.length >= limits.writeCoalesceUpdatesMax) {
        this.flush();
      } else if (this.submittedUnanswered === 0) {
        this.flush(false);
      } else if (!this.flushScheduled && this.submittedUnanswered < this.inFlightMax) {
        this.flushScheduled = true;
        setImmediate(() => this.endOfTurn());
      }
    });
  }

  private tryStart(write: WaitingWrite): boolean {
    const request = write.request;
    let started: Promise<WriteResult>;
    try {
      if (isAtomicRequest(request)) {
        // An atomic operation reads the applied state: what came before it must be submitted.
        this.flush();
        const readiness = this.host.atomicReadiness();
        if (!readiness.ready) {
          if (readiness.refusal === undefined) return false;
          throw this.host.refuse("ERR_INVALID_STATE", readiness.refusal);
        }
        started = this.startAtomic(request);
      } else {
        started = this.startPlain(request, write.bytes);
      }
    } catch (error) {
      write.reject(error);
      return true;
    }
    started.then(write.resolve, write.reject);
    return true;
  }

  private startPlain(
    request: Exclude<WriteRequest, AtomicRequest>,
    bytes: number,
  ): Promise<WriteResult> {
    const clock = this.host.clock;
    if (request.op === "duplicate") {
      for (const entry of request.entries) clock.observe(entry.timestampUs);
      const update: DuplicateUpdate =
        request.resync === true
          ? { kind: UpdateKind.DUPLICATE, entries: request.entries, resync: true }
          : { kind: UpdateKind.DUPLICATE, entries: request.entries };
      return this.addToBatch(update, bytes, true);
    }
    return this.addToBatch(requestToUpdate(request), bytes, false);
  }

  /** Evaluates and submits in one synchronous turn; throws ERR_TRY_AGAIN on a failed check. */
  private startAtomic(request: AtomicRequest): Promise<WriteResult> {
    const read = this.host.read;
    const clock = this.host.clock;
    if (request.op === "incr") {
      const resolution = resolveIncr(request, read);
      return this.host
        .submit([resolution.update], clock.next())
        .then((o) => ({ decree: o.decree, newValue: resolution.newValue }));
    }
    const resolution: CheckResolution =
      request.op === "checkAndSet"
        ? resolveCheckAndSet(request, read)
        : resolveCheckAndMutate(request, read);
    if (!resolution.passed) {
      throw new TalariaError("ERR_TRY_AGAIN", `${request.op} check did not pass`, {
        details: resolution.checkValue === undefined ? {} : { checkValue: resolution.checkValue },
      });
    }
    const checkValue = resolution.checkValue;
    return this.host
      .submit(resolution.updates, clock.next())
      .then((o) => ({ decree: o.decree, ...(checkValue === undefined ? {} : { checkValue }) }));
  }
}
