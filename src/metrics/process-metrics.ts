/**
 * The process and Node.js runtime metrics every server exports beside its `talaria_*` ones:
 * prom-client's default set under its standard names (what Node.js dashboards expect) —
 * `process_cpu_seconds_total` (and its user/system parts), `process_resident_memory_bytes`,
 * `process_open_fds`, `nodejs_heap_size_used_bytes`, `nodejs_gc_duration_seconds`, and the
 * event-loop delay `nodejs_eventloop_lag_{p50,p90,p99,max,...}_seconds`.
 *
 * The event-loop delay is the time a ready callback waited for the loop: it is what a request
 * waits on top of its own work when the process (or the machine) is short of CPU, so it is the
 * first figure to read when write latency or duplication lag rises. Its quantiles cover the time
 * since the previous scrape (prom-client resets the histogram at every collection), so they mean
 * "over the last scrape interval".
 *
 * They live in one registry per process, made on first use, so a process running several servers
 * (the in-process test clusters) runs one event-loop monitor and one GC observer, not one per
 * server; each server's `/metrics` appends them to its own metrics.
 */
import { collectDefaultMetrics, Registry } from "prom-client";

/** Sampling interval of the event-loop delay; the figures include it (an idle loop reads ≈ 10 ms). */
export const EVENT_LOOP_DELAY_RESOLUTION_MS = 10;

let processRegistry: Registry | undefined;

/** The process-wide registry of the runtime metrics (created, and its monitors started, once). */
export function processMetricsRegistry(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({
      register: processRegistry,
      eventLoopMonitoringPrecision: EVENT_LOOP_DELAY_RESOLUTION_MS,
    });
  }
  return processRegistry;
}

/** Prometheus text of `registry` followed by the process metrics. */
export async function metricsWithProcess(registry: Registry): Promise<string> {
  const own = await registry.metrics();
  const runtime = await processMetricsRegistry().metrics();
  return own.length === 0 || own.endsWith("\n") ? own + runtime : `${own}\n${runtime}`;
}
