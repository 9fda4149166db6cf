/**
 * The load side of bench:dup: an open-loop writer that offers a fixed rate to the source whatever
 * the latency (up to a bound on writes in flight), a closed-loop probe of the highest rate the
 * source sustains, and a lag prober that polls the target for a sample of the acknowledged writes
 * and records, for each, the time from the source's acknowledgement to the first read that finds
 * it on the target.
 */
import { randomBytes } from "node:crypto";
import { percentile } from "./harness.ts";

/**
 * What the load writes to: a Talaria table, or the MariaDB anchor's primary (bench/dup-mariadb.ts).
 */
export interface KvWriter {
  set(
    hashKey: string,
    sortKey: string,
    value: Buffer,
    options: { timeoutMs: number },
  ): Promise<unknown>;
}

/** What the lag prober reads: a Talaria table, or the MariaDB anchor's replica. */
export interface KvReader {
  /** The stored value, or undefined when the key is not there (yet). */
  get(hashKey: string, sortKey: string, options: { timeoutMs: number }): Promise<unknown>;
}

const VALUE_BYTES = 100;
const VALUE_POOL_BYTES = 1024 * 1024;
const SORT_KEY = "s";
/** Pacing timer period: each tick issues every write due by now. */
const PACE_TICK_MS = 5;
/** Latencies one writer keeps (8 MiB); later ones are not recorded. */
const LATENCIES_MAX = 1_000_000;
const WRITE_TIMEOUT_MS = 30_000;
/** Probes one burst of acknowledgements may take at most. */
const PROBE_CREDIT_MAX = 10;

const valuePool = randomBytes(VALUE_POOL_BYTES);

function valueFor(seq: number): Buffer {
  const offset = (seq * 61) % (VALUE_POOL_BYTES - VALUE_BYTES);
  return valuePool.subarray(offset, offset + VALUE_BYTES);
}

export interface WriterResult {
  readonly offeredPerSec: number;
  readonly elapsedMs: number;
  readonly acked: number;
  readonly errors: number;
  /** Writes not issued because `inFlightMax` were outstanding: the source could not keep up. */
  readonly skipped: number;
  readonly achievedPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstError: string | undefined;
}

export interface OpenLoopOptions {
  readonly ratePerSec: number;
  readonly inFlightMax: number;
  /** Prefix of every hash key this writer writes (`<prefix><seq>`). */
  readonly keyPrefix: string;
  /**
   * About this many acknowledged writes a second are handed to `onProbe` (acknowledgements come
   * in bursts, so a probe credit accrues over time and is spent on the next acks).
   */
  readonly probesPerSec: number;
  readonly onProbe?: (hashKey: string, ackAtMs: number) => void;
}

/** Offers `ratePerSec` writes per second from start() to stop(), open loop. */
export class OpenLoopWriter {
  private readonly table: KvWriter;
  private readonly options: OpenLoopOptions;
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private issued = 0;
  private acked = 0;
  private errors = 0;
  private skipped = 0;
  private inFlight = 0;
  private probeCredit = 1;
  private probeCreditAtMs = 0;
  private firstError: string | undefined;
  private readonly latenciesMs: number[] = [];
  private readonly outstanding = new Set<Promise<void>>();

  constructor(table: KvWriter, options: OpenLoopOptions) {
    this.table = table;
    this.options = options;
  }

  start(): void {
    this.startMs = performance.now();
    this.probeCreditAtMs = this.startMs;
    this.timer = setInterval(() => this.pace(), PACE_TICK_MS);
  }

  /** Stops offering writes, waits for those in flight, and returns the figures. */
  async stop(): Promise<WriterResult> {
    clearInterval(this.timer);
    const elapsedMs = performance.now() - this.startMs;
    await Promise.all([...this.outstanding]);
    const sorted = Float64Array.from(this.latenciesMs).sort();
    return {
      offeredPerSec: this.options.ratePerSec,
      elapsedMs,
      acked: this.acked,
      errors: this.errors,
      skipped: this.skipped,
      achievedPerSec: (this.acked / elapsedMs) * 1000,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      firstError: this.firstError,
    };
  }

  private pace(): void {
    const due = Math.floor(((performance.now() - this.startMs) * this.options.ratePerSec) / 1000);
    while (this.issued + this.skipped < due) {
      if (this.inFlight >= this.options.inFlightMax) {
        this.skipped++;
        continue;
      }
      this.issue(this.issued++);
    }
  }

  private issue(seq: number): void {
    const hashKey = `${this.options.keyPrefix}${seq}`;
    const sentMs = performance.now();
    this.inFlight++;
    const write = this.table
      .set(hashKey, SORT_KEY, valueFor(seq), { timeoutMs: WRITE_TIMEOUT_MS })
      .then(
        () => {
          const ackAtMs = performance.now();
          this.acked++;
          if (this.latenciesMs.length < LATENCIES_MAX) this.latenciesMs.push(ackAtMs - sentMs);
          this.probeCredit = Math.min(
            PROBE_CREDIT_MAX,
            this.probeCredit +
              ((ackAtMs - this.probeCreditAtMs) * this.options.probesPerSec) / 1000,
          );
          this.probeCreditAtMs = ackAtMs;
          if (this.probeCredit >= 1) {
            this.probeCredit -= 1;
            this.options.onProbe?.(hashKey, ackAtMs);
          }
        },
        (error: unknown) => {
          this.errors++;
          this.firstError ??= error instanceof Error ? error.message : String(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.outstanding.delete(write);
      });
    this.outstanding.add(write);
  }
}

/**
 * The highest write rate the source sustains: `inFlight` closed loops for a warm-up, then the
 * acknowledged writes per second over `windowMs`.
 */
export async function measureMaxRate(
  table: KvWriter,
  options: { inFlight: number; warmupMs: number; windowMs: number; keyPrefix: string },
): Promise<number> {
  let seq = 0;
  let counted = 0;
  let counting = false;
  let running = true;
  const loop = async () => {
    while (running) {
      const n = seq++;
      try {
        await table.set(`${options.keyPrefix}${n}`, SORT_KEY, valueFor(n), {
          timeoutMs: WRITE_TIMEOUT_MS,
        });
        if (counting) counted++;
      } catch {
        // counted as not sustained
      }
    }
  };
  const loops = Array.from({ length: options.inFlight }, loop);
  await new Promise((resolve) => setTimeout(resolve, options.warmupMs));
  counting = true;
  const startMs = performance.now();
  await new Promise((resolve) => setTimeout(resolve, options.windowMs));
  counting = false;
  const rate = (counted / (performance.now() - startMs)) * 1000;
  running = false;
  await Promise.all(loops);
  return rate;
}

export interface LagResult {
  /** Writes probed and found on the target. */
  readonly seen: number;
  /** Probes still not found when the prober stopped or gave up on them. */
  readonly unseen: number;
  /** Probes not taken because `outstandingMax` were being polled. */
  readonly dropped: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Polls the target for each probed write on its own, every `pollIntervalMs` from its previous
 * get's start; a probe's lag is the time from its acknowledgement on the source to the reply of
 * the first get that finds it on the target, so it is at most `pollIntervalMs` + one get round
 * trip above the true lag. (Probes polled in rounds would wait for the slowest get of the round
 * before their next poll: a loaded target partition would add its delay to every probe.)
 */
export class LagProber {
  private readonly table: KvReader;
  private readonly pollIntervalMs: number;
  private readonly outstandingMax: number;
  private readonly giveUpMs: number;
  /** One per probe still polled; each ends once its write is found, given up on or stopped. */
  private readonly watches = new Set<Promise<void>>();
  private lagsMs: number[] = [];
  private unseen = 0;
  private dropped = 0;
  private running = false;

  constructor(
    table: KvReader,
    options: { pollIntervalMs: number; outstandingMax: number; giveUpMs: number },
  ) {
    this.table = table;
    this.pollIntervalMs = options.pollIntervalMs;
    this.outstandingMax = options.outstandingMax;
    this.giveUpMs = options.giveUpMs;
  }

  add(hashKey: string, ackAtMs: number): void {
    if (!this.running) return;
    if (this.watches.size >= this.outstandingMax) {
      this.dropped++;
      return;
    }
    const watch = this.watch(hashKey, ackAtMs);
    this.watches.add(watch);
    void watch.finally(() => this.watches.delete(watch));
  }

  start(): void {
    this.running = true;
    this.lagsMs = [];
    this.unseen = 0;
    this.dropped = 0;
  }

  /** Stops after each probe's get in progress, or one more; probes still unseen count as such. */
  async stop(): Promise<LagResult> {
    this.running = false;
    await Promise.all([...this.watches]);
    const sorted = Float64Array.from(this.lagsMs).sort();
    return {
      seen: sorted.length,
      unseen: this.unseen,
      dropped: this.dropped,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
    };
  }

  private async watch(hashKey: string, ackAtMs: number): Promise<void> {
    for (;;) {
      const sentAtMs = performance.now();
      let found = false;
      try {
        found = (await this.table.get(hashKey, SORT_KEY, { timeoutMs: 5000 })) !== undefined;
      } catch {
        // A failed get is a poll that did not find it.
      }
      const nowMs = performance.now();
      if (found) {
        this.lagsMs.push(nowMs - ackAtMs);
        return;
      }
      if (!this.running || nowMs - ackAtMs > this.giveUpMs) {
        this.unseen++;
        return;
      }
      const waitMs = this.pollIntervalMs - (nowMs - sentAtMs);
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
