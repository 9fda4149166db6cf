/**
 * Performs the core's APPLY actions on storage and tracks what has been applied.
 *
 * Invariants:
 *  - Mutations are handed to storage synchronously, in the order APPLY was emitted (decree
 *    order, no gaps), without waiting on earlier applies' promises: storage commits in call order
 *    (the engine commits each apply before returning) and refuses a decree that does not follow
 *    the last applied one, so after a failure every later apply fails too. So "apply d resolved"
 *    means every decree ≤ d is applied.
 *  - A failed apply is reported once through onError and the replica stops.
 *  - `settled()` covers every apply handed over so far; the storage engine is replaced only when
 *    it has settled (checkpoint install).
 */
import type { Mutation } from "../codec/mutation.ts";
import type { ApplyContext, ApplyResult, StorageEngine } from "../storage/index.ts";

interface AppliedWaiter {
  readonly decree: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class ApplyDriver {
  private engine: StorageEngine;
  private last: Promise<ApplyResult> | undefined;
  private tail: Promise<void> = Promise.resolve();
  private waiters: AppliedWaiter[] = [];

  constructor(
    engine: StorageEngine,
    private readonly onApplied: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.engine = engine;
  }

  get storage(): StorageEngine {
    return this.engine;
  }

  /** Hands `mutation` to storage now; resolves when it (and every earlier one) is applied. */
  apply(mutation: Mutation, ctx: ApplyContext): Promise<ApplyResult> {
    const applied = this.engine.apply(mutation, ctx);
    this.last = applied;
    this.tail = applied.then(
      () => undefined,
      () => undefined,
    );
    void applied.then(
      () => this.noteApplied(),
      (error: unknown) => this.onError(error),
    );
    return applied;
  }

  /** The promise of the last apply handed over (undefined before the first). */
  get lastApply(): Promise<ApplyResult> | undefined {
    return this.last;
  }

  settled(): Promise<void> {
    return this.tail;
  }

  /** Switches to a new engine (a checkpoint install); call only once settled(). */
  replace(engine: StorageEngine): void {
    this.engine = engine;
    this.last = undefined;
  }

  /** Resolves once storage has applied `decree`. */
  whenApplied(decree: number): Promise<void> {
    if (this.engine.lastAppliedDecree >= decree) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ decree, resolve, reject }));
  }

  rejectWaiters(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  private noteApplied(): void {
    const applied = this.engine.lastAppliedDecree;
    const due = this.waiters.filter((w) => w.decree <= applied);
    if (due.length > 0) this.waiters = this.waiters.filter((w) => w.decree > applied);
    for (const waiter of due) waiter.resolve();
    this.onApplied();
  }
}
