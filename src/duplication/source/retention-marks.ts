/**
 * How long the plog has held the oldest mutation a duplication has not had confirmed, measured on
 * the core's clock without reading the log: a bounded queue of (committed decree, first seen at)
 * marks. A mark covers the decrees committed from its time until the next mark, so the oldest
 * unconfirmed decree's age is the first mark above the confirmed decree's age, at most one mark
 * interval too old (never too young: the bound is never overstayed).
 *
 * Bound: at most MARKS_MAX marks, one per `retainedLogMsMax / MARKS_MAX`: marks older than the
 * retention bound end the duplication's hold anyway, so the queue never needs more. After a
 * restart the marks start again (the age restarts too; the bytes bound still holds).
 */
import { assert } from "../../common/assert.ts";

export const RETENTION_MARKS_MAX = 1024;

interface Mark {
  decree: number;
  readonly atMs: number;
}

export class RetentionMarks {
  private readonly marks: Mark[] = [];
  private readonly intervalMs: number;

  constructor(retainedLogMsMax: number) {
    this.intervalMs = Math.max(1, Math.ceil(retainedLogMsMax / RETENTION_MARKS_MAX));
  }

  /** The replica has committed up to `decree` as of `nowMs`. */
  record(decree: number, nowMs: number): void {
    const last = this.marks[this.marks.length - 1];
    if (last !== undefined && decree <= last.decree) return;
    if (last !== undefined && nowMs - last.atMs < this.intervalMs) {
      // Later decrees share the last mark's time: their ages come out at most one interval long.
      last.decree = decree;
      return;
    }
    if (this.marks.length >= RETENTION_MARKS_MAX) this.marks.shift();
    this.marks.push({ decree, atMs: nowMs });
    assert(this.marks.length <= RETENTION_MARKS_MAX, "retention marks are bounded");
  }

  /** Forgets marks that only cover decrees at or below `decree` (confirmed). */
  dropThrough(decree: number): void {
    while (this.marks.length > 0 && (this.marks[0] as Mark).decree <= decree) this.marks.shift();
  }

  /** Age of the oldest committed decree above `decree`, or 0 when none is known. */
  ageAboveMs(decree: number, nowMs: number): number {
    this.dropThrough(decree);
    const first = this.marks[0];
    return first === undefined ? 0 : Math.max(0, nowMs - first.atMs);
  }
}
