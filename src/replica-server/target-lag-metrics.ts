/**
 * Duplication lag as the TARGET sees it (ref §6.2 `dup_time_lag_ms`, `dup_lagging_writes`): for
 * every applied duplicated entry, now − its source timestamp. Clocks of the two clusters are not
 * synchronized, so a negative lag (a source clock ahead) counts as 0.
 */
import type { Registry } from "prom-client";
import type { DuplicateEntry } from "../codec/mutation.ts";
import { DUP_LAG_BUCKETS_SECONDS } from "../duplication/index.ts";
import {
  HotCounter,
  type HotCounterChild,
  HotHistogram,
  type HotHistogramChild,
} from "../metrics/hot-metrics.ts";

export class TargetLagMetrics {
  /** Observed for every duplicated entry applied: series resolved once (metrics/hot-metrics.ts). */
  private readonly lag: HotHistogramChild<never>;
  private readonly lagging: HotCounterChild<never>;
  private readonly laggingThresholdMs: number;

  constructor(registry: Registry, laggingThresholdMs: number) {
    this.laggingThresholdMs = laggingThresholdMs;
    this.lag = new HotHistogram<never>({
      name: "talaria_dup_time_lag_seconds",
      help: "Target side: time from the source write to its apply here, per duplicated entry",
      labelNames: [],
      buckets: DUP_LAG_BUCKETS_SECONDS,
      registers: [registry],
    }).child({});
    this.lagging = new HotCounter<never>({
      name: "talaria_dup_lagging_writes_total",
      help: "Target side: duplicated entries applied later than dup_lagging_write_threshold_ms",
      labelNames: [],
      registers: [registry],
    }).child({});
  }

  observe(entries: readonly DuplicateEntry[], nowMs: number): void {
    for (const entry of entries) {
      const lagMs = Math.max(0, nowMs - entry.timestampUs / 1000);
      this.lag.observe(lagMs / 1000);
      if (lagMs > this.laggingThresholdMs) this.lagging.inc();
    }
  }
}
