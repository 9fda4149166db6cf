/**
 * The per-replica hybrid clock that stamps local writes. Invariant: every timestamp it hands out is
 * strictly larger than every timestamp it handed out or observed before — even when the wall clock
 * jumps backwards or a remote cluster's clock runs ahead. Observing the timestamps of writes that
 * arrive by duplication, and resuming after a restart from the largest timestamp in the log and
 * store, is what makes a local write supersede everything its replica has already seen.
 */
import type { Clock } from "../common/clock.ts";

export class HybridClock {
  private readonly clock: Clock;
  private lastUs: number;

  constructor(clock: Clock, resumeFromUs: number) {
    this.clock = clock;
    this.lastUs = resumeFromUs;
  }

  /** The timestamp for the next local mutation: `max(nowUs, lastUs + 1)`. */
  next(): number {
    this.lastUs = Math.max(this.clock.nowUs(), this.lastUs + 1);
    return this.lastUs;
  }

  /** Advances past a timestamp seen elsewhere (a duplicated write, a replayed mutation). */
  observe(timestampUs: number): void {
    if (timestampUs > this.lastUs) this.lastUs = timestampUs;
  }

  get lastTimestampUs(): number {
    return this.lastUs;
  }
}
