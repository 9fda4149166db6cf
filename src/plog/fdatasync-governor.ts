/**
 * Where the private log's fdatasync runs: inline on the event loop, or on libuv's thread pool.
 *
 * A thread-pool fdatasync costs the process a hand-off each way (a futex wake of a pool thread, an
 * eventfd wake of the loop, a promise to resolve) on top of the sync itself. On a fast disk that
 * hand-off costs more CPU than the sync blocks: on the 2-core VMs of docs/benchmarks.md an inline
 * fdatasync took 133 µs of wall time and 61 µs of CPU against 167 µs and 97 µs through the pool,
 * and running the log's syncs inline cut the duplication lag p99 at 5k writes/s by about a fifth
 * (bench:dup, median of 12 runs against 15: 80 against 98 ms).
 * On a slow disk the other way round holds: a sync of several milliseconds must not stop the
 * event loop (client requests, peers' messages, beacons) for its whole length.
 *
 * Modes (`[replication] log_private_fdatasync`):
 *   - `inline`, `thread`: always there.
 *   - `auto`: inline while the median of the last `SAMPLES_KEPT` inline syncs stays at or below
 *     `inlineMaxMs`; past it, on the thread pool, where one sync every `probeIntervalMs` runs
 *     inline as a probe, its time joining the same window, until the median is at or below half
 *     the bound (so a disk near the bound does not flap). It starts inline and decides once it has
 *     `SAMPLES_TO_DECIDE` syncs.
 *     A median, not a mean: on a busy machine an inline sync now and then takes far longer (the
 *     process was preempted inside it, or a neighbour's flush queued ahead of it), and one such
 *     reading must not move every sync; a slow disk is slow on most syncs.
 *
 * Pure: the caller passes the time and the measured durations, and does the syncs.
 */

export const FDATASYNC_MODES = ["auto", "inline", "thread"] as const;
export type FdatasyncMode = (typeof FDATASYNC_MODES)[number];
export type FdatasyncPlace = "inline" | "thread";

export interface FdatasyncGovernorOptions {
  readonly mode: FdatasyncMode;
  /** `auto`: the highest median of recent inline syncs, in ms, that keeps them inline. */
  readonly inlineMaxMs: number;
  /** `auto`, on the thread pool: the time between two inline probes, in ms. */
  readonly probeIntervalMs: number;
}

export const fdatasyncGovernorDefaults: FdatasyncGovernorOptions = {
  mode: "auto",
  inlineMaxMs: 5,
  probeIntervalMs: 1000,
};

/** Inline syncs whose median `auto` compares with its bound. */
export const SAMPLES_KEPT = 32;
/** Inline syncs `auto` waits for before its first decision. */
export const SAMPLES_TO_DECIDE = 8;

/** A change of place under `auto`, for the log. */
export interface FdatasyncSwitch {
  readonly to: FdatasyncPlace;
  /** The median of the inline syncs kept that decided it, ms. */
  readonly medianMs: number;
}

export class FdatasyncGovernor {
  readonly options: FdatasyncGovernorOptions;
  private current: FdatasyncPlace;
  /** The last SAMPLES_KEPT inline sync times, ms, oldest first. */
  private readonly samples: number[] = [];
  private nextProbeAtMs = 0;

  constructor(options: FdatasyncGovernorOptions = fdatasyncGovernorDefaults) {
    if (!(options.inlineMaxMs > 0 && options.probeIntervalMs > 0)) {
      throw new RangeError("inlineMaxMs and probeIntervalMs must be positive");
    }
    this.options = options;
    this.current = options.mode === "thread" ? "thread" : "inline";
  }

  /** Where syncs run now (`auto` probes aside). */
  get place(): FdatasyncPlace {
    return this.current;
  }

  /** The median of the inline syncs kept, ms; undefined before the first. */
  get medianMs(): number | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    return sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  }

  /** Where the next fdatasync runs; under `auto` on the thread pool, a due probe runs inline. */
  next(nowMs: number): FdatasyncPlace {
    if (this.options.mode !== "auto" || this.current === "inline") return this.current;
    if (nowMs < this.nextProbeAtMs) return "thread";
    this.nextProbeAtMs = nowMs + this.options.probeIntervalMs;
    return "inline";
  }

  /** Reports how long an inline fdatasync blocked the event loop; a switch when `auto` moves. */
  recordInline(durationMs: number, nowMs: number): FdatasyncSwitch | undefined {
    this.samples.push(durationMs);
    if (this.samples.length > SAMPLES_KEPT) this.samples.shift();
    if (this.options.mode !== "auto" || this.samples.length < SAMPLES_TO_DECIDE) return undefined;
    const medianMs = this.medianMs as number;
    // Hysteresis: back inline only at half the bound, so a disk near it does not flap.
    const bound = this.options.inlineMaxMs / (this.current === "inline" ? 1 : 2);
    const inline = medianMs <= bound;
    if (inline === (this.current === "inline")) return undefined;
    this.current = inline ? "inline" : "thread";
    this.nextProbeAtMs = nowMs + this.options.probeIntervalMs;
    return { to: this.current, medianMs };
  }
}
