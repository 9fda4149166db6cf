/**
 * The decrees a log holds, as runs of consecutive decrees: `[first, last]` pairs, ascending,
 * disjoint and never adjacent (adjacent runs merge). Pure.
 *
 * Why: after a truncation the log's last decree is the largest decree it still holds, which is not
 * the truncation point when the log has a gap there; the segment index knows blocks, not records.
 * Memory is one pair per gap in the decree sequence: replication writes gapless logs, so a
 * replica's log is one run (a log written with gaps costs 16 bytes per gap until it is GC'd).
 */
import { assert } from "../common/assert.ts";

interface Run {
  first: number;
  last: number;
}

export class DecreeRuns {
  private runs: Run[] = [];

  /** Number of runs (gaps + 1 for a non-empty log). */
  get length(): number {
    return this.runs.length;
  }

  first(): number | undefined {
    return this.runs[0]?.first;
  }

  last(): number | undefined {
    return this.runs[this.runs.length - 1]?.last;
  }

  /** Adds a decree above every decree held. */
  push(decree: number): void {
    const tail = this.runs[this.runs.length - 1];
    assert(tail === undefined || decree > tail.last, "decrees are pushed in increasing order");
    if (tail !== undefined && decree === tail.last + 1) tail.last = decree;
    else this.runs.push({ first: decree, last: decree });
  }

  /** The largest decree held that is <= `decree`, or undefined when there is none. */
  lastAtOrBelow(decree: number): number | undefined {
    const index = this.indexAtOrBelow(decree);
    const run = index < 0 ? undefined : this.runs[index];
    return run === undefined ? undefined : Math.min(run.last, decree);
  }

  /** Drops every decree > `decree`. */
  cutAfter(decree: number): void {
    const index = this.indexAtOrBelow(decree);
    this.runs.length = index + 1;
    const tail = this.runs[index];
    if (tail !== undefined) tail.last = Math.min(tail.last, decree);
  }

  /** Drops every decree < `decree`. */
  dropBelow(decree: number): void {
    let count = 0;
    while (count < this.runs.length && (this.runs[count]?.last ?? 0) < decree) count += 1;
    this.runs.splice(0, count);
    const head = this.runs[0];
    if (head !== undefined) head.first = Math.max(head.first, decree);
  }

  clear(): void {
    this.runs = [];
  }

  /** Index of the last run whose first decree is <= `decree`; -1 when none. */
  private indexAtOrBelow(decree: number): number {
    let low = 0;
    let high = this.runs.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const run = this.runs[middle];
      assert(run !== undefined, "binary search stays in range");
      if (run.first <= decree) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }
}
