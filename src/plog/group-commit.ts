/**
 * Group commit: appends queue up while a flush is in progress and the next flush takes them all
 * (up to `groupCommitBytesMax`) in one write + one fdatasync. An append's promise resolves only
 * once its record is durable.
 *
 * Invariants:
 * - at most one flush runs at a time, and records reach it in submission order;
 * - `pendingBytes` (admitted = queued + in flight) stays <= `pendingBytesMax`, except that one
 *   record is always admitted into an empty pipeline so an oversized record cannot deadlock;
 *   appends past the bound wait in `blocked`, in order, until a flush frees room (backpressure);
 * - `blocked` holds at most `blockedAppendsMax` appends; one more is refused ERR_BUSY at once and
 *   leaves the committer as it was (load shedding rather than unbounded memory);
 * - after a failed flush the committer is failed for good: every waiting and every later append
 *   rejects. A log that may have lost a write never reports later writes as durable;
 * - a barrier (a truncation or reset) is ordered like an append: it runs alone, after every record
 *   submitted before it is durable and before any record submitted after it is written, so a later
 *   append resolving implies the barrier's work is durable. It carries no bytes but waits in
 *   `blocked` like an append when others wait ahead of it (and counts toward blockedAppendsMax).
 */
import { assert } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";
import type { LogRecord } from "./format.ts";

export interface GroupCommitOptions {
  readonly groupCommitBytesMax: number;
  readonly pendingBytesMax: number;
  readonly blockedAppendsMax: number;
}

/** Writes one group durably, in order; rejects if any of it may not be durable. */
export type FlushGroup<R extends LogRecord> = (records: readonly R[]) => Promise<void>;

/** Work that runs alone between flushes; rejects if it may not be durable. */
export type Barrier = () => Promise<void>;

type Pending<R extends LogRecord> = {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
} & (
  | { readonly kind: "record"; readonly record: R }
  | { readonly kind: "barrier"; readonly run: Barrier }
);

export class GroupCommit<R extends LogRecord = LogRecord> {
  private readonly options: GroupCommitOptions;
  private readonly flushGroup: FlushGroup<R>;
  /** Admitted, not yet taken by a flush. */
  private queue: Pending<R>[] = [];
  /** Waiting for admission (backpressure). */
  private blocked: Pending<R>[] = [];
  private pendingBytes = 0;
  private flushing = false;
  private failure: unknown = null;
  private idleWaiters: (() => void)[] = [];

  constructor(options: GroupCommitOptions, flushGroup: FlushGroup<R>) {
    this.options = options;
    this.flushGroup = flushGroup;
  }

  /** The error that failed the committer, or null while healthy. */
  get failedWith(): unknown {
    return this.failure;
  }

  /**
   * Throws ERR_BUSY if a record of `bytes` would have to wait and `blockedAppendsMax` appends
   * already do. Lets a caller refuse an append before it changes any state of its own.
   */
  checkAdmission(bytes: number): void {
    if (this.failure !== null || this.canAdmit(bytes)) return;
    const { blockedAppendsMax } = this.options;
    if (this.blocked.length >= blockedAppendsMax) {
      throw new TalariaError(
        "ERR_BUSY",
        `${this.blocked.length} plog appends already wait for room (blockedAppendsMax = ${blockedAppendsMax})`,
        {
          details: {
            limit: "blockedAppendsMax",
            value: this.blocked.length,
            max: blockedAppendsMax,
          },
        },
      );
    }
  }

  /** Resolves once the record is durable; rejects ERR_BUSY (see checkAdmission) or on failure. */
  submit(record: R, bytes: number): Promise<void> {
    assert(bytes > 0, "records have a positive size");
    return this.enqueue((resolve, reject) => ({ kind: "record", record, bytes, resolve, reject }));
  }

  /**
   * Resolves once `run` has run, after everything submitted before it and before anything
   * submitted after it; rejects ERR_BUSY (see checkAdmission(0)) or on failure.
   */
  submitBarrier(run: Barrier): Promise<void> {
    return this.enqueue((resolve, reject) => ({ kind: "barrier", run, bytes: 0, resolve, reject }));
  }

  private enqueue(
    make: (resolve: () => void, reject: (error: unknown) => void) => Pending<R>,
  ): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failedError());
    return new Promise<void>((resolve, reject) => {
      const pending = make(resolve, reject);
      const { bytes } = pending;
      try {
        this.checkAdmission(bytes);
      } catch (error) {
        reject(error);
        return;
      }
      if (this.canAdmit(bytes)) this.admit(pending);
      else this.blocked.push(pending);
      assert(this.blocked.length <= this.options.blockedAppendsMax, "blocked appends bounded");
      this.startFlushing();
    });
  }

  /** Resolves once nothing is queued, blocked or being flushed (whether it succeeded or not). */
  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return !this.flushing && this.queue.length === 0 && this.blocked.length === 0;
  }

  /** Admitted now rather than blocked: nobody waits ahead of it and it fits. */
  private canAdmit(bytes: number): boolean {
    return this.blocked.length === 0 && this.fits(bytes);
  }

  private fits(bytes: number): boolean {
    return this.pendingBytes === 0 || this.pendingBytes + bytes <= this.options.pendingBytesMax;
  }

  private admit(pending: Pending<R>): void {
    this.queue.push(pending);
    this.pendingBytes += pending.bytes;
  }

  private admitBlocked(): void {
    let count = 0;
    for (const pending of this.blocked) {
      if (!this.fits(pending.bytes)) break;
      this.admit(pending);
      count += 1;
    }
    this.blocked.splice(0, count);
  }

  private startFlushing(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    void this.run();
  }

  /**
   * Takes a barrier alone, or at least one record and then as many as fit in
   * `groupCommitBytesMax`, up to the next barrier.
   */
  private takeGroup(): Pending<R>[] {
    if (this.queue[0]?.kind === "barrier") return this.queue.splice(0, 1);
    let bytes = 0;
    let count = 0;
    for (const pending of this.queue) {
      if (pending.kind === "barrier") break;
      if (count > 0 && bytes + pending.bytes > this.options.groupCommitBytesMax) break;
      bytes += pending.bytes;
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  private async run(): Promise<void> {
    // Let appends issued in the same tick as the first one join its group.
    await Promise.resolve();
    while (this.queue.length > 0 && this.failure === null) {
      const group = this.takeGroup();
      assert(group.length > 0, "a flush takes at least one record");
      try {
        await this.runGroup(group);
      } catch (error) {
        this.fail(error, group);
        break;
      }
      for (const pending of group) {
        this.pendingBytes -= pending.bytes;
        pending.resolve();
      }
      assert(this.pendingBytes >= 0, "pending bytes never go negative");
      this.admitBlocked();
    }
    this.flushing = false;
    assert(this.isIdle(), "the flush loop stops only when the pipeline is empty");
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async runGroup(group: readonly Pending<R>[]): Promise<void> {
    const records: R[] = [];
    for (const pending of group) {
      if (pending.kind === "barrier") {
        assert(group.length === 1, "a barrier runs alone");
        await pending.run();
        return;
      }
      records.push(pending.record);
    }
    await this.flushGroup(records);
  }

  private fail(error: unknown, group: Pending<R>[]): void {
    this.failure = error;
    const waiting = [...group, ...this.queue, ...this.blocked];
    this.queue = [];
    this.blocked = [];
    this.pendingBytes = 0;
    for (const pending of group) pending.reject(error);
    const later = this.failedError();
    for (const pending of waiting.slice(group.length)) pending.reject(later);
  }

  private failedError(): TalariaError {
    const code =
      this.failure instanceof TalariaError ? this.failure.code : ("ERR_INVALID_STATE" as const);
    return new TalariaError(
      code,
      "the private log failed on an earlier write and accepts no more",
      {
        cause: this.failure,
        retriable: false,
      },
    );
  }
}
