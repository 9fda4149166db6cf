/**
 * One bounded step of the TTL and tombstone sweep: a synchronous core that examines at most
 * `budget` records after the cursor in the caller's store (the engine's: the memtable in front of
 * lmdb, its writes staged for the memtable).
 *
 * Invariants:
 *   - An expired record becomes a tombstone carrying its own timetag with the delete bit set, so a
 *     late duplicated write older than it cannot resurrect the key (it loses last-write-wins).
 *   - A tombstone is collected once its timetag timestamp is older than now − retention: a
 *     duplicated write that late is beyond what duplication promises to reconcile. For the same
 *     reason an expired record already older than the retention is removed directly.
 *   - While tombstones are held (`holdTombstones`: a duplication of the table fell out of its
 *     log, and only a re-sync from a checkpoint can still carry its deletes), nothing is
 *     collected: tombstones stay and expired records become tombstones, whatever their age.
 *   - Live records are never changed, and the sweep never touches the meta database (the applied
 *     decree does not move).
 *   - The cursor is the last key examined; `undefined` means the next step starts from the first
 *     key, so successive steps cycle through the whole database.
 */

import { timetagIsDelete, timetagTimestampUs } from "../codec/timetag.ts";
import { decodeValue, encodeValue, isExpired } from "../codec/value-schema.ts";
import { assert } from "../common/assert.ts";
import type { SweepResult } from "./types.ts";

/** Most records one sweep step may examine: bounds the time a step holds the event loop. */
export const SWEEP_BUDGET_RECORDS_MAX = 100_000;

/**
 * Most records one step of the background sweeper examines: each interval's budget is spread
 * evenly over the interval in steps of at most this many (sweeper.ts, sweepSteps). A step is
 * synchronous on the server's main thread; every replica sweeping 10,000 records at the same
 * moment stalled writes for ≈ 1 s on a busy machine (bench:dup, 2026-11-22).
 */
export const SWEEP_STEP_RECORDS_MAX = 1_000;

export interface SweepRecord {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface SweepStore {
  /** Up to `limit` records with keys strictly after `afterKey` (from the first when undefined). */
  range(afterKey: Buffer | undefined, limit: number): readonly SweepRecord[];
  put(key: Buffer, value: Buffer): void;
  remove(key: Buffer): void;
}

export interface SweepNow {
  /** Wall clock, µs since the Unix epoch: compared with timetag timestamps. */
  readonly nowUs: number;
  /** Seconds since 2016-01-01: compared with expireTs. */
  readonly epochNow: number;
}

export interface SweepOutcome {
  readonly result: SweepResult;
  readonly nextCursor: Buffer | undefined;
}

const EMPTY_VALUE = Buffer.alloc(0);

export function sweepRecords(
  store: SweepStore,
  cursor: Buffer | undefined,
  budget: number,
  now: SweepNow,
  tombstoneRetentionUs: number,
  holdTombstones = false,
): SweepOutcome {
  assert(Number.isInteger(budget) && budget >= 1 && budget <= SWEEP_BUDGET_RECORDS_MAX, "budget");
  // One record past the budget tells whether the end was reached without examining it.
  const records = store.range(cursor, budget + 1);
  const examined = records.slice(0, budget);
  const collectBeforeUs = holdTombstones
    ? Number.NEGATIVE_INFINITY
    : now.nowUs - tombstoneRetentionUs;
  let expired = 0;
  let tombstonesCollected = 0;
  for (const { key, value } of examined) {
    const stored = decodeValue(value);
    const old = timetagTimestampUs(stored.timetag) < collectBeforeUs;
    if (timetagIsDelete(stored.timetag)) {
      if (old) {
        store.remove(key);
        tombstonesCollected++;
      }
    } else if (isExpired(stored.expireTs, now.epochNow)) {
      if (old) store.remove(key);
      else store.put(key, encodeValue(0, stored.timetag | 1n, EMPTY_VALUE));
      expired++;
    }
  }
  const budgetExhausted = records.length > budget;
  const last = examined[examined.length - 1];
  return {
    result: { expired, tombstonesCollected, budgetExhausted },
    nextCursor: budgetExhausted && last !== undefined ? last.key : undefined,
  };
}
