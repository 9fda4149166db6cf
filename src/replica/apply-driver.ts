/**
 * Performs the core's APPLY actions on storage and tracks what has been applied.
 *
 * Invariants:
 *  - Mutations reach storage in the order APPLY was emitted (decree order, no gaps): an apply
 *    that is not deferred first hands over every deferred one. Storage commits in call order (the
 *    engine commits before returning) and refuses a decree that does not follow the last applied
 *    one, so after a failure every later apply fails too. So "apply d resolved" means every
 *    decree ≤ d is applied.
 *  - A deferred apply (a secondary's: its applies are off the write path, the primary commits on
 *    its prepare acks) waits at most SECONDARY_APPLY_DELAY_MS, then goes to storage with the others
 *    deferred meanwhile as one transaction, at most SECONDARY_APPLY_BATCH_MAX at a time. Anything
 *    that needs storage current — a non-deferred apply, `settled()`, `whenApplied(d)` for a
 *    deferred d, `flushDeferred()` (the runner calls it when the replica stops being a
 *    secondary) — hands them over at once.
 *  - A failed apply is reported once through onError and the replica stops.
 *  - `settled()` covers every apply handed over so far; the storage engine is replaced only when
 *    it has settled (checkpoint install).
 */
import type { Mutation } from "../codec/mutation.ts";
import { assert } from "../common/assert.ts";
import type { ApplyContext, ApplyResult, StorageEngine } from "../storage/index.ts";

/** Longest a secondary's apply waits to share a transaction with later ones. */
export const SECONDARY_APPLY_DELAY_MS = 20;
/** Most deferred applies in one transaction. */
export const SECONDARY_APPLY_BATCH_MAX = 256;

interface AppliedWaiter {
  readonly decree: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface DeferredApply {
  readonly mutation: Mutation;
  readonly ctx: ApplyContext;
  readonly resolve: (result: ApplyResult) => void;
  readonly reject: (error: unknown) => void;
}

export interface ApplyOptions {
  /** May wait up to SECONDARY_APPLY_DELAY_MS to share a transaction with later applies. */
  readonly defer?: boolean;
}

export class ApplyDriver {
  private engine: StorageEngine;
  private last: Promise<ApplyResult> | undefined;
  private tail: Promise<void> = Promise.resolve();
  private waiters: AppliedWaiter[] = [];
  private deferred: DeferredApply[] = [];
  private deferTimer: NodeJS.Timeout | undefined;

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

  /** Applies not yet handed to storage. */
  get deferredCount(): number {
    return this.deferred.length;
  }

  /**
   * Hands `mutation` to storage now (or, deferred, within SECONDARY_APPLY_DELAY_MS); resolves
   * when it (and every earlier one) is applied.
   */
  apply(mutation: Mutation, ctx: ApplyContext, options: ApplyOptions = {}): Promise<ApplyResult> {
    if (options.defer === true) {
      const applied = new Promise<ApplyResult>((resolve, reject) => {
        this.deferred.push({ mutation, ctx, resolve, reject });
      });
      this.track(applied);
      if (this.deferred.length >= SECONDARY_APPLY_BATCH_MAX) this.flushDeferred();
      else this.deferTimer ??= setTimeout(() => this.flushDeferred(), SECONDARY_APPLY_DELAY_MS);
      return applied;
    }
    this.flushDeferred();
    const applied = this.engine.apply(mutation, ctx);
    this.track(applied);
    void applied.then(
      () => this.noteApplied(),
      (error: unknown) => this.onError(error),
    );
    return applied;
  }

  /** Hands every deferred apply to storage now, as one transaction. */
  flushDeferred(): void {
    if (this.deferTimer !== undefined) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    const batch = this.deferred;
    if (batch.length === 0) return;
    this.deferred = [];
    this.engine.applyBatch(batch).then(
      (results) => {
        for (const [index, item] of batch.entries()) {
          const result = results[index];
          assert(result !== undefined, "one result per deferred apply");
          item.resolve(result);
        }
        this.noteApplied();
      },
      (error: unknown) => {
        for (const item of batch) item.reject(error);
        this.onError(error);
      },
    );
  }

  /** The promise of the last apply handed over (undefined before the first). */
  get lastApply(): Promise<ApplyResult> | undefined {
    return this.last;
  }

  settled(): Promise<void> {
    this.flushDeferred();
    return this.tail;
  }

  /** Switches to a new engine (a checkpoint install); call only once settled(). */
  replace(engine: StorageEngine): void {
    assert(this.deferred.length === 0, "no deferred apply when the engine is replaced");
    this.engine = engine;
    this.last = undefined;
  }

  /** Resolves once storage has applied `decree`. */
  whenApplied(decree: number): Promise<void> {
    if (this.engine.lastAppliedDecree < decree && this.deferred.length > 0) this.flushDeferred();
    if (this.engine.lastAppliedDecree >= decree) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ decree, resolve, reject }));
  }

  rejectWaiters(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  private track(applied: Promise<ApplyResult>): void {
    this.last = applied;
    this.tail = applied.then(
      () => undefined,
      () => undefined,
    );
  }

  private noteApplied(): void {
    const applied = this.engine.lastAppliedDecree;
    const due = this.waiters.filter((w) => w.decree <= applied);
    if (due.length > 0) this.waiters = this.waiters.filter((w) => w.decree > applied);
    for (const waiter of due) waiter.resolve();
    this.onApplied();
  }
}
