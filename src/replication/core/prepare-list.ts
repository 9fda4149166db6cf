/**
 * The in-memory tail of a replica's log: every entry after the last applied decree, with the
 * log sequence number of the action that wrote it and whether it is durable.
 *
 * Invariants:
 *  - entries hold decrees lastAppliedDecree+1 .. lastPreparedDecree, without gaps.
 *  - appendSeq strictly increases along the entries (appends and truncations are issued in
 *    decree order), so "durable through logSeq s" covers a prefix of the entries.
 *  - lastAppliedDecree ≤ lastDurableDecree ≤ lastPreparedDecree.
 *  - ballots (`mutation.ballot`) never decrease along the entries.
 *  - an entry leaves the list only by being applied (from the front) or truncated (from the
 *    back); callers never truncate at or below the committed decree (asserted by the core).
 */
import type { Mutation } from "../../codec/mutation.ts";
import { assert } from "../../common/assert.ts";

interface Entry {
  readonly mutation: Mutation;
  readonly appendSeq: number;
}

export class PrepareList {
  private entries: Entry[] = [];
  private appliedDecree: number;
  private appliedBallot: number;
  private durableDecree: number;
  private durableSeq = 0;
  private nextSeq = 1;

  /** `recovered` entries are durable (they were read back from disk). */
  constructor(
    lastAppliedDecree: number,
    lastAppliedBallot: number,
    recovered: readonly Mutation[],
  ) {
    this.appliedDecree = lastAppliedDecree;
    this.appliedBallot = lastAppliedBallot;
    let previousBallot = lastAppliedBallot;
    for (const [i, mutation] of recovered.entries()) {
      assert(mutation.decree === lastAppliedDecree + 1 + i, "recovered entries have a gap");
      assert(mutation.ballot >= previousBallot, "recovered ballots decrease");
      previousBallot = mutation.ballot;
      this.entries.push({ mutation, appendSeq: 0 });
    }
    this.durableDecree = this.lastPreparedDecree;
  }

  get lastAppliedDecree(): number {
    return this.appliedDecree;
  }

  get lastPreparedDecree(): number {
    return this.appliedDecree + this.entries.length;
  }

  get lastDurableDecree(): number {
    return this.durableDecree;
  }

  /** Ballot of the last entry (or of the last applied one). */
  get lastBallot(): number {
    return this.entries.at(-1)?.mutation.ballot ?? this.appliedBallot;
  }

  get lastTimestampUs(): number {
    return this.entries.at(-1)?.mutation.timestampUs ?? 0;
  }

  get(decree: number): Mutation | undefined {
    return this.entries[decree - this.appliedDecree - 1]?.mutation;
  }

  /** `mutation.ballot` of the entry at `decree`, 0 when not known (applied long ago, or absent). */
  ballotAt(decree: number): number {
    if (decree === this.appliedDecree) return this.appliedBallot;
    return this.get(decree)?.ballot ?? 0;
  }

  /** Adds the next decree; returns the logSeq of the APPEND_LOG action the caller emits. */
  append(mutation: Mutation): number {
    assert(mutation.decree === this.lastPreparedDecree + 1, "append must extend the log");
    assert(mutation.ballot >= this.lastBallot, "ballots must not decrease along the log");
    const appendSeq = this.nextSeq++;
    this.entries.push({ mutation, appendSeq });
    return appendSeq;
  }

  /** Drops every entry above `afterDecree`; returns the logSeq of the TRUNCATE_LOG action. */
  truncateAfter(afterDecree: number): number {
    assert(afterDecree >= this.appliedDecree, "truncating applied entries");
    assert(afterDecree < this.lastPreparedDecree, "truncating nothing");
    this.entries.length = afterDecree - this.appliedDecree;
    this.durableDecree = Math.min(this.durableDecree, afterDecree);
    return this.nextSeq++;
  }

  /** Every log action up to `logSeq` is durable. Returns true when the durable decree moved. */
  markDurable(logSeq: number): boolean {
    if (logSeq <= this.durableSeq) return false;
    assert(logSeq < this.nextSeq, `durable logSeq ${logSeq} was never issued`);
    this.durableSeq = logSeq;
    const before = this.durableDecree;
    while (this.durableDecree < this.lastPreparedDecree) {
      const next = this.entries[this.durableDecree - this.appliedDecree];
      if (next === undefined || next.appendSeq > this.durableSeq) break;
      this.durableDecree++;
    }
    return this.durableDecree > before;
  }

  /** Removes and returns the entries up to `throughDecree`, which must be durable. */
  takeForApply(throughDecree: number): Mutation[] {
    assert(throughDecree <= this.durableDecree, "applying an entry that is not durable");
    const count = throughDecree - this.appliedDecree;
    if (count <= 0) return [];
    const taken = this.entries.splice(0, count).map((entry) => entry.mutation);
    const last = taken.at(-1);
    assert(last !== undefined && last.decree === throughDecree, "apply window mismatch");
    this.appliedDecree = throughDecree;
    this.appliedBallot = last.ballot;
    return taken;
  }

  /** Entries in `(fromExclusive, toInclusive]`, at most `countMax`. */
  range(fromExclusive: number, toInclusive: number, countMax: number): Mutation[] {
    const out: Mutation[] = [];
    const start = Math.max(fromExclusive, this.appliedDecree) + 1;
    const end = Math.min(toInclusive, this.lastPreparedDecree, start + countMax - 1);
    for (let decree = start; decree <= end; decree++) {
      const mutation = this.get(decree);
      assert(mutation !== undefined, "range over a gap");
      out.push(mutation);
    }
    return out;
  }

  /** After a checkpoint install: nothing is left in memory, everything up to `decree` applied. */
  resetTo(decree: number, ballot: number): void {
    this.entries = [];
    this.appliedDecree = decree;
    this.appliedBallot = ballot;
    this.durableDecree = decree;
  }
}
