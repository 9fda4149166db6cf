/**
 * How long the remote took to acknowledge each mutation after this primary saw it committed: the
 * source side of the duplication lag (ref §6.2 `dup_time_lag_ms`, measured here on one clock, so
 * no clock skew between the clusters enters it). A bounded queue of (committed decree, first seen
 * at) marks: a mark covers the decrees committed since the previous mark, and progress consumes
 * marks in decree order, reporting one lag per group of mutations.
 *
 * Invariants:
 *  - Only decrees seen committed by this instance are measured: the ones committed before the
 *    first observation (a new primary's backlog) and the ones confirmed by another primary are
 *    skipped, because when they committed is not known here.
 *  - Every measured decree is reported exactly once, with the time of the first observation that
 *    covered it: never too short. At ACK_LAG_MARKS_MAX marks (a long outage) later decrees join
 *    the last mark and come out longer by at most the time they waited in it.
 */
import { assert } from "../../common/assert.ts";

/** Marks kept while the remote lags behind; beyond it, later decrees share the newest mark. */
export const ACK_LAG_MARKS_MAX = 4096;

interface Mark {
  decree: number;
  readonly atMs: number;
}

/** `count` mutations were acknowledged `lagMs` after this primary saw them committed. */
export type AckLagObserver = (lagMs: number, count: number) => void;

export class AckLagMarks {
  private readonly marks: Mark[] = [];
  /** Decrees at or below this are reported or not measured; undefined before the first look. */
  private base: number | undefined;

  /** The replica has committed up to `decree`, seen at `nowMs`. */
  committed(decree: number, nowMs: number): void {
    if (this.base === undefined) {
      this.base = decree;
      return;
    }
    const last = this.marks[this.marks.length - 1];
    if (decree <= (last?.decree ?? this.base)) return;
    if (last !== undefined && this.marks.length >= ACK_LAG_MARKS_MAX) {
      last.decree = decree;
      return;
    }
    this.marks.push({ decree, atMs: nowMs });
  }

  /** Everything up to `decree` is acknowledged (or dead-lettered) as of `nowMs`. */
  acknowledged(decree: number, nowMs: number, observe: AckLagObserver): void {
    if (this.base === undefined || decree <= this.base) return;
    for (const head of this.marks) {
      const through = Math.min(head.decree, decree);
      observe(Math.max(0, nowMs - head.atMs), through - this.base);
      this.base = through;
      if (through === decree) break;
    }
    this.dropThrough(decree);
  }

  /** Decrees up to `decree` are done without this instance's shipping: not measured. */
  skipThrough(decree: number): void {
    if (this.base === undefined || decree <= this.base) return;
    this.dropThrough(decree);
  }

  /** Marks held (for tests and the bound's check). */
  get size(): number {
    return this.marks.length;
  }

  private dropThrough(decree: number): void {
    let drop = 0;
    while (drop < this.marks.length && (this.marks[drop] as Mark).decree <= decree) drop++;
    this.marks.splice(0, drop);
    this.base = Math.max(this.base ?? decree, decree);
    assert(this.marks.length <= ACK_LAG_MARKS_MAX, "ack lag marks are bounded");
  }
}
