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
 */
import { type Update, UpdateKind } from "../codec/mutation.ts";
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
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

export class WriteSequencer {
  private queue: WaitingWrite[] = [];
  private pumping = false;

  constructor(
    private readonly host: SequencerHost,
    private readonly pendingWritesMax: number,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  enqueue(request: WriteRequest): Promise<WriteResult> {
    if (this.queue.length >= this.pendingWritesMax) {
      return Promise.reject(
        this.host.refuse("ERR_BUSY", "too many writes waiting behind an atomic operation"),
      );
    }
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
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
    const waiting = this.queue;
    this.queue = [];
    for (const write of waiting) write.reject(this.host.refuse("ERR_INVALID_STATE", reason));
  }

  private tryStart(write: WaitingWrite): boolean {
    const request = write.request;
    let started: Promise<WriteResult>;
    try {
      if (isAtomicRequest(request)) {
        const readiness = this.host.atomicReadiness();
        if (!readiness.ready) {
          if (readiness.refusal === undefined) return false;
          throw this.host.refuse("ERR_INVALID_STATE", readiness.refusal);
        }
        started = this.startAtomic(request);
      } else {
        started = this.startPlain(request);
      }
    } catch (error) {
      write.reject(error);
      return true;
    }
    started.then(write.resolve, write.reject);
    return true;
  }

  private startPlain(request: Exclude<WriteRequest, AtomicRequest>): Promise<WriteResult> {
    const clock = this.host.clock;
    if (request.op === "duplicate") {
      for (const entry of request.entries) clock.observe(entry.timestampUs);
      const updates = [{ kind: UpdateKind.DUPLICATE, entries: request.entries }] as const;
      return this.host
        .submit(updates, clock.next())
        .then((o) => ({ decree: o.decree, staleEntriesSkipped: o.staleEntriesSkipped }));
    }
    return this.host
      .submit([requestToUpdate(request)], clock.next())
      .then((o) => ({ decree: o.decree }));
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
