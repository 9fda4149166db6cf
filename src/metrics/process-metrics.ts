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
import { TalariaError } from "../common/errors.ts";
import { closestName } from "../config/edit-distance.ts";

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

/**
 * Families rendered between two yields to the event loop in a full scrape. A full scrape of a
 * loaded replica server (≈ 110 families, ≈ 900 lines) took 15–80 ms in one piece, holding every
 * partition of the server that long (docs/benchmarks.md, 2026-11-23); in slices of this many
 * families, writes and replication messages run between them.
 */
export const SCRAPE_FAMILIES_PER_TURN = 8;

/**
 * Renders families one by one, as prom-client's `Registry.metrics()` renders each, yielding to the
 * event loop every SCRAPE_FAMILIES_PER_TURN families over the renderer's whole life.
 */
class SlicedRenderer {
  private rendered = 0;

  /**
   * The text of every family of `source` that `wanted` accepts, by name, in registration order.
   * Registration order keeps prom-client's runtime collectors (which also set gauges registered
   * after them, see namedMetrics) ahead of the gauges they set.
   */
  async render(
    source: Registry,
    wanted: (name: string) => boolean = () => true,
  ): Promise<Map<string, string>> {
    const families = new Map<string, string>();
    for (const { name } of source.getMetricsAsArray()) {
      if (!wanted(name)) continue;
      if (this.rendered > 0 && this.rendered % SCRAPE_FAMILIES_PER_TURN === 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Looked up again: a family unregistered while the scrape yielded is skipped.
      if (source.getSingleMetric(name) === undefined) continue;
      families.set(name, await source.getSingleMetricAsString(name));
      this.rendered++;
    }
    return families;
  }
}

/**
 * Prometheus text of `registry` followed by the process metrics, laid out as prom-client's
 * `Registry.metrics()` lays out each (families apart by a blank line), rendered in slices.
 */
export async function metricsWithProcess(registry: Registry): Promise<string> {
  const renderer = new SlicedRenderer();
  const texts: string[] = [];
  for (const source of [registry, processMetricsRegistry()]) {
    const families = [...(await renderer.render(source)).values()];
    if (families.length > 0) texts.push(`${families.join("\n\n")}\n`);
  }
  return joinTexts(texts);
}

/**
 * Prometheus text of the named metric families only, from `registry` or the process metrics, in
 * the order named (each once). A full scrape of a loaded replica server renders ≈ 900 lines
 * (docs/benchmarks.md); a reader polling a few families often (bench:dup every 500 ms, a script
 * watching a backlog) asks for those alone.
 *
 * The server's own families are collected one by one (each reads its own snapshot). The runtime's
 * are not: prom-client computes several of its gauges in another one's collect (all
 * `nodejs_eventloop_lag_*` in that of `nodejs_eventloop_lag_seconds`, which also restarts the
 * window; the heap sizes in that of `nodejs_heap_size_total_bytes`; the CPU split in that of
 * `process_cpu_user_seconds_total`), so asking for any runtime family collects the runtime set
 * once, as a full scrape does, and answers the families asked for from it.
 *
 * Throws ERR_INVALID_PARAMETERS naming the first family this process does not export (and the
 * closest name it does, when one is close enough to be a typo).
 */
export async function namedMetrics(registry: Registry, names: readonly string[]): Promise<string> {
  const runtime = processMetricsRegistry();
  const unique = new Set(names);
  for (const name of unique) {
    if (
      registry.getSingleMetric(name) === undefined &&
      runtime.getSingleMetric(name) === undefined
    ) {
      throw unknownFamily(name, registry, runtime);
    }
  }
  const renderer = new SlicedRenderer();
  const own = await renderer.render(registry, (name) => unique.has(name));
  const runtimeFamilies = [...unique].some((name) => !own.has(name))
    ? await renderer.render(runtime)
    : new Map<string, string>();
  return joinTexts([...unique].map((name) => own.get(name) ?? runtimeFamilies.get(name) ?? ""));
}

function unknownFamily(name: string, registry: Registry, runtime: Registry): TalariaError {
  const known = [...registry.getMetricsAsArray(), ...runtime.getMetricsAsArray()];
  const closest = closestName(
    name,
    known.map((metric) => metric.name),
  );
  const shown = name.slice(0, 200);
  return new TalariaError(
    "ERR_INVALID_PARAMETERS",
    `no metric family named ${JSON.stringify(shown)} here${closest === undefined ? "" : `; did you mean ${closest}?`} (GET /metrics lists them all)`,
    { details: { name: shown, ...(closest === undefined ? {} : { closest }) } },
  );
}

/** Prometheus texts joined on line boundaries, whether or not each ends with a newline. */
function joinTexts(texts: readonly string[]): string {
  let joined = "";
  for (const text of texts) {
    if (text.length === 0) continue;
    joined += joined.length === 0 || joined.endsWith("\n") ? text : `\n${text}`;
  }
  return joined.length === 0 || joined.endsWith("\n") ? joined : `${joined}\n`;
}
