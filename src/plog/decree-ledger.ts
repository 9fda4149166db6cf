/**
 * The log as its callers see it: what append, truncateAfter and resetTo have made of it, in call
 * order, whether or not the disk has caught up yet. Pure and synchronous, so operations issued
 * back to back are checked against each other's effects (an append right after a truncation is
 * checked against the truncated log).
 *
 * Invariants:
 * - `runs` holds the decrees of the logical log: every record appended and not discarded since;
 * - the floor (firstDecree) is <= every decree held; it is null only while the log has never held
 *   a record nor been reset (then firstDecree = lastDecree + 1 = 1);
 * - `pending` are the appends not yet durable that are still in the logical log, in order. They are
 *   its last records: a record enters at the end, and only a truncation of the end or a reset
 *   removes any. Appends a truncation or reset discarded are dropped from `pending` at once: they
 *   are still written (in order), but never count;
 * - durableDecree is the last decree before the first pending one: every record up to it is on
 *   disk exactly as the logical log has it. A truncation or reset still queued only removes
 *   records above it, so a reader capped at durableDecree never sees a record about to go.
 */
import { assert } from "../common/assert.ts";
import type { DecreeRuns } from "./decree-runs.ts";

/** What a truncation removes from the logical log. */
export type TruncateOutcome = "nothing" | "tail" | "everything";

interface PendingAppend {
  readonly ticket: number;
  readonly decree: number;
}

/** Dropped entries at the head of `pending` compacted away once there are this many. */
const PENDING_COMPACT_MIN = 1024;

export class DecreeLedger {
  private readonly runs: DecreeRuns;
  private floor: number | null;
  private pending: PendingAppend[] = [];
  /** Entries of `pending` before this index are durable (dropped lazily). */
  private pendingHead = 0;
  private nextTicket = 1;

  /** `runs` holds the durable records found on open; `floor` the first segment's first decree. */
  constructor(state: { floor: number | null; runs: DecreeRuns }) {
    this.floor = state.floor;
    this.runs = state.runs;
    const first = this.runs.first();
    assert(first === undefined || (this.floor !== null && this.floor <= first), "floor below log");
  }

  /** Decree of the last record; floor - 1 for an empty log (0 for one never written). */
  get lastDecree(): number {
    return this.runs.last() ?? (this.floor === null ? 0 : this.floor - 1);
  }

  /** The log's floor: no record below it exists or can be read. */
  get firstDecree(): number {
    return this.floor ?? this.lastDecree + 1;
  }

  get durableDecree(): number {
    const first = this.pending[this.pendingHead];
    if (first === undefined) return this.lastDecree;
    assert(this.floor !== null, "a log with pending appends has a floor");
    return this.runs.lastAtOrBelow(first.decree - 1) ?? this.floor - 1;
  }

  /** Records an append (the caller checked decree > lastDecree); returns its ticket. */
  append(decree: number): number {
    assert(decree > this.lastDecree, "appended decrees increase");
    this.floor ??= decree;
    this.runs.push(decree);
    const ticket = this.nextTicket;
    this.nextTicket += 1;
    this.pending.push({ ticket, decree });
    return ticket;
  }

  /** The append with `ticket`, and every one before it, is durable. */
  markDurable(ticket: number): void {
    while ((this.pending[this.pendingHead]?.ticket ?? Number.POSITIVE_INFINITY) <= ticket) {
      this.pendingHead += 1;
    }
    if (this.pendingHead >= PENDING_COMPACT_MIN && this.pendingHead * 2 >= this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /** Discards every record > `afterDecree` (the caller checked it is >= firstDecree - 1). */
  truncateAfter(afterDecree: number): TruncateOutcome {
    assert(afterDecree >= this.firstDecree - 1, "truncation stays above the floor");
    if (this.lastDecree <= afterDecree) return "nothing";
    this.runs.cutAfter(afterDecree);
    // Pending appends are the log's last records, so the discarded ones are at the end.
    while (this.pending.length > this.pendingHead) {
      const last = this.pending[this.pending.length - 1];
      if (last === undefined || last.decree <= afterDecree) break;
      this.pending.pop();
    }
    return this.runs.length === 0 ? "everything" : "tail";
  }

  /** Empties the log; it starts again after `decree`. */
  resetTo(decree: number): void {
    this.runs.clear();
    this.pending = [];
    this.pendingHead = 0;
    this.floor = decree + 1;
  }

  /** GC removed every record below `firstDecree`, the new first segment's first decree. */
  dropBelow(firstDecree: number): void {
    assert(this.floor !== null && firstDecree >= this.floor, "GC only raises the floor");
    const firstPending = this.pending[this.pendingHead];
    assert(firstPending === undefined || firstPending.decree >= firstDecree, "GC keeps pending");
    this.floor = firstDecree;
    this.runs.dropBelow(firstDecree);
  }
}
