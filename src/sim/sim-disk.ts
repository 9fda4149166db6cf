/**
 * One replica's disk in the simulator: its private log and its storage.
 *
 *  - Log actions (append, truncate) queue up and become durable together at the next simulated
 *    fsync (group commit), in order. A crash loses every queued action.
 *  - Storage is durable at apply (as lmdb is after its commit; modelling lmdb's own lag would only
 *    replay more log on restart, which the core already handles). It records, per key, the value
 *    and the decree that wrote it, plus the last applied decree and that mutation's ballot (the
 *    field docs/replication.md asks the real storage to keep).
 *  - The log is garbage-collected below `lastAppliedDecree - logRetainedMax`, so learners that
 *    are far behind need a checkpoint.
 */
import type { Mutation } from "../codec/mutation.ts";
import { UpdateKind } from "../codec/mutation.ts";
import { assert } from "../common/assert.ts";
import type { RecoveredState } from "../replication/index.ts";

export interface StoredValue {
  readonly value: string;
  readonly decree: number;
}

export interface StorageSnapshot {
  readonly data: ReadonlyMap<string, StoredValue>;
  readonly decree: number;
  readonly ballot: number;
}

type LogOp =
  | { readonly seq: number; readonly kind: "APPEND"; readonly mutation: Mutation }
  | { readonly seq: number; readonly kind: "TRUNCATE"; readonly afterDecree: number };

export class SimDisk {
  /** Durable log records, contiguous, starting at logBaseDecree + 1. */
  private log: Mutation[] = [];
  private logBaseDecree = 0;
  private pending: LogOp[] = [];
  private data = new Map<string, StoredValue>();
  private appliedDecree = 0;
  private appliedBallot = 0;

  constructor(private readonly logRetainedMax: number) {}

  get lastAppliedDecree(): number {
    return this.appliedDecree;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  get firstLogDecree(): number {
    return this.logBaseDecree + 1;
  }

  get lastLogDecree(): number {
    return this.logBaseDecree + this.log.length;
  }

  enqueueAppend(seq: number, mutation: Mutation): void {
    this.pending.push({ seq, kind: "APPEND", mutation });
  }

  enqueueTruncate(seq: number, afterDecree: number): void {
    this.pending.push({ seq, kind: "TRUNCATE", afterDecree });
  }

  /** Makes every queued log action durable; returns the last one's seq (0 if none). */
  flush(): number {
    let seq = 0;
    for (const op of this.pending) {
      if (op.kind === "APPEND") {
        assert(op.mutation.decree === this.lastLogDecree + 1, "log append out of order");
        this.log.push(op.mutation);
      } else {
        assert(op.afterDecree >= this.appliedDecree, "truncating applied log records");
        this.log.length = Math.max(0, op.afterDecree - this.logBaseDecree);
      }
      seq = op.seq;
    }
    this.pending = [];
    return seq;
  }

  crash(): void {
    this.pending = [];
  }

  apply(mutation: Mutation): void {
    assert(mutation.decree === this.appliedDecree + 1, "applied out of order");
    assert(mutation.decree <= this.lastLogDecree, "applied before it was durable in the log");
    for (const update of mutation.updates) {
      if (update.kind === UpdateKind.PUT) {
        this.data.set(update.hashKey.toString(), {
          value: update.value.toString(),
          decree: mutation.decree,
        });
      } else {
        assert(update.kind === UpdateKind.EMPTY, "the simulator writes only PUT and EMPTY");
      }
    }
    this.appliedDecree = mutation.decree;
    this.appliedBallot = mutation.ballot;
    const keepFrom = this.appliedDecree - this.logRetainedMax;
    if (keepFrom > this.logBaseDecree + 1) {
      this.log.splice(0, keepFrom - this.logBaseDecree - 1);
      this.logBaseDecree = keepFrom - 1;
    }
  }

  /** Durable records `from..to` (at most countMax), or undefined when GC removed `from`. */
  read(fromDecree: number, toDecree: number, countMax: number): Mutation[] | undefined {
    if (fromDecree <= this.logBaseDecree) return undefined;
    const end = Math.min(toDecree, this.lastLogDecree, fromDecree + countMax - 1);
    return this.log.slice(fromDecree - this.logBaseDecree - 1, end - this.logBaseDecree);
  }

  snapshot(): StorageSnapshot {
    return { data: new Map(this.data), decree: this.appliedDecree, ballot: this.appliedBallot };
  }

  install(snapshot: StorageSnapshot): void {
    this.data = new Map(snapshot.data);
    this.appliedDecree = snapshot.decree;
    this.appliedBallot = snapshot.ballot;
    this.log = [];
    this.logBaseDecree = snapshot.decree;
    this.pending = [];
  }

  get(key: string): StoredValue | undefined {
    return this.data.get(key);
  }

  contents(): ReadonlyMap<string, StoredValue> {
    return this.data;
  }

  /** What the runtime hands the core on restart. */
  recover(): RecoveredState {
    const entries = this.log.filter((m) => m.decree > this.appliedDecree);
    return {
      lastAppliedDecree: this.appliedDecree,
      lastAppliedBallot: this.appliedBallot,
      entries,
      maxLogBallot: Math.max(this.appliedBallot, this.log.at(-1)?.ballot ?? 0),
    };
  }
}
