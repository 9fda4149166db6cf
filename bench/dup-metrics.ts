/**
 * What bench:dup reads from the servers' Prometheus /metrics: on the source's replica servers the
 * duplication's per-partition gauges and counters (talaria_dup_*, docs/duplication.md) and its
 * latency histograms (commit → acknowledged, request round trip), on the target's the lag
 * histogram talaria_dup_time_lag_seconds and their event-loop delay. Readings are cumulative; a
 * phase uses the difference of two (the event-loop delay is reset by each scrape, so the second
 * reading covers the phase).
 */

const SCRAPE_TIMEOUT_MS = 5000;

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const head = line.slice(0, space);
    const brace = head.indexOf("{");
    const name = brace < 0 ? head : head.slice(0, brace);
    const labels: Record<string, string> = {};
    if (brace >= 0) {
      for (const match of head.slice(brace).matchAll(/(\w+)="([^"]*)"/g)) {
        labels[match[1] as string] = match[2] as string;
      }
    }
    samples.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return samples;
}

/**
 * Samples of the families `names` on the server at `port`. Named scrapes (`/metrics?name=`): a
 * full one holds a loaded replica server's event loop for 15–80 ms (measured 2026-11-23), which
 * bench:dup's polling every 500 ms would add to the lag it measures.
 */
async function scrape(port: number, names: readonly string[]): Promise<Sample[]> {
  const query = new URLSearchParams(names.map((name): [string, string] => ["name", name]));
  const response = await fetch(`http://127.0.0.1:${port}/metrics?${query}`, {
    signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /metrics on port ${port}: ${response.status} ${text}`);
  return parseMetrics(text);
}

/** Every sample of the families `names` of every server in `httpPorts`. */
async function scrapeAll(
  httpPorts: readonly number[],
  names: readonly string[],
): Promise<Sample[]> {
  return (await Promise.all(httpPorts.map((port) => scrape(port, names)))).flat();
}

export interface PartitionProgress {
  /** The primary's committed decree as its shipper last saw it (backlog + confirmed). */
  readonly committed: number;
  /** Everything up to here is acknowledged by the target. */
  readonly last: number;
  /** What meta persisted and fed back (the backlog metric counts from here). */
  readonly confirmed: number;
}

export interface SourceReading {
  readonly atMs: number;
  /** Σ talaria_dup_shipped_entries_total: entries the target acknowledged. */
  readonly shippedEntries: number;
  /** Σ talaria_dup_empty_loads_total: plog reads that found nothing (each waits a load delay). */
  readonly emptyLoads: number;
  /** Σ talaria_dup_backlog_mutations: committed − confirmed (what operators alert on). */
  readonly backlog: number;
  /** Σ committed − last decree: mutations not yet acknowledged by the target. */
  readonly unshipped: number;
  readonly partitions: ReadonlyMap<string, PartitionProgress>;
}

const SOURCE_PROGRESS_FAMILIES = [
  "talaria_dup_shipped_entries_total",
  "talaria_dup_empty_loads_total",
  "talaria_dup_backlog_mutations",
  "talaria_dup_last_decree",
  "talaria_dup_confirmed_decree",
];

/** The duplication `dupid` over the source's replica servers (only primaries ship). */
export async function readSource(
  httpPorts: readonly number[],
  dupid: number,
): Promise<SourceReading> {
  const all = await scrapeAll(httpPorts, SOURCE_PROGRESS_FAMILIES);
  const id = String(dupid);
  const perGpid = new Map<string, { backlog: number; last: number; confirmed: number }>();
  let shippedEntries = 0;
  let emptyLoads = 0;
  for (const sample of all) {
    if (sample.labels.dupid !== id) continue;
    const gpid = sample.labels.gpid ?? "";
    const entry = perGpid.get(gpid) ?? { backlog: 0, last: 0, confirmed: 0 };
    switch (sample.name) {
      case "talaria_dup_shipped_entries_total":
        shippedEntries += sample.value;
        break;
      case "talaria_dup_empty_loads_total":
        emptyLoads += sample.value;
        break;
      case "talaria_dup_backlog_mutations":
        entry.backlog = sample.value;
        break;
      case "talaria_dup_last_decree":
        entry.last = sample.value;
        break;
      case "talaria_dup_confirmed_decree":
        entry.confirmed = sample.value;
        break;
      default:
        continue;
    }
    perGpid.set(gpid, entry);
  }
  let backlog = 0;
  let unshipped = 0;
  const partitions = new Map<string, PartitionProgress>();
  for (const [gpid, e] of perGpid) {
    const committed = e.confirmed + e.backlog;
    backlog += e.backlog;
    unshipped += Math.max(0, committed - e.last);
    partitions.set(gpid, { committed, last: e.last, confirmed: e.confirmed });
  }
  return { atMs: performance.now(), shippedEntries, emptyLoads, backlog, unshipped, partitions };
}

/** Cumulative counts of a histogram by bucket upper bound (seconds; +Inf last). */
export interface LagHistogram {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
}

/** Histogram `name` in `samples`, summed over the servers and its label values. */
function histogramOf(samples: readonly Sample[], name: string): LagHistogram {
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const le = sample.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + sample.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((b) => byBound.get(b) ?? 0) };
}

/** A histogram's _sum and _count. */
export interface SumCount {
  readonly sum: number;
  readonly count: number;
}

/** Σ of histogram `name`'s _sum and _count in `samples`, over the series labelled `op`. */
function sumCountOf(samples: readonly Sample[], name: string, op: string): SumCount {
  let sum = 0;
  let count = 0;
  for (const sample of samples) {
    if (sample.labels.op !== op) continue;
    if (sample.name === `${name}_sum`) sum += sample.value;
    else if (sample.name === `${name}_count`) count += sample.value;
  }
  return { sum, count };
}

/** Mean (ms) of the observations between two readings of a seconds histogram. */
export function meanMs(before: SumCount, after: SumCount): number {
  const count = after.count - before.count;
  return count > 0 ? ((after.sum - before.sum) / count) * 1000 : Number.NaN;
}

/** What the target's servers say of duplication's latency (one scrape of each). */
export interface TargetTimings {
  /** talaria_dup_time_lag_seconds: source timestamp → apply, per entry. */
  readonly lag: LagHistogram;
  /** talaria_replica_write_duration_seconds{op="duplicate"}: receipt → answer on the primary. */
  readonly duplicateWrite: SumCount;
  /**
   * Highest nodejs_eventloop_lag_p99_seconds / _max_seconds among the servers (ms): the event-loop
   * delay since each server's previous scrape (src/metrics/process-metrics.ts), sampling interval
   * included, so an idle loop reads about 10 ms.
   */
  readonly eventLoopP99Ms: number;
  readonly eventLoopMaxMs: number;
}

export async function readTargetTimings(httpPorts: readonly number[]): Promise<TargetTimings> {
  const samples = await scrapeAll(httpPorts, [
    "talaria_dup_time_lag_seconds",
    "talaria_replica_write_duration_seconds",
    "nodejs_eventloop_lag_p99_seconds",
    "nodejs_eventloop_lag_max_seconds",
  ]);
  return {
    lag: histogramOf(samples, "talaria_dup_time_lag_seconds"),
    duplicateWrite: sumCountOf(samples, "talaria_replica_write_duration_seconds", "duplicate"),
    eventLoopP99Ms: highestMs(samples, "nodejs_eventloop_lag_p99_seconds"),
    eventLoopMaxMs: highestMs(samples, "nodejs_eventloop_lag_max_seconds"),
  };
}

/** The highest value (seconds, in ms) of gauge `name` among `samples`; NaN if none has it. */
function highestMs(samples: readonly Sample[], name: string): number {
  let highest = Number.NaN;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Number.isNaN(highest) || sample.value > highest) highest = sample.value;
  }
  return highest * 1000;
}

/** Each server's total GC pause so far (seconds, every kind), in `httpPorts` order. */
export async function readGcPauseSeconds(httpPorts: readonly number[]): Promise<number[]> {
  return Promise.all(
    httpPorts.map(async (port) => {
      let total = 0;
      for (const sample of await scrape(port, ["nodejs_gc_duration_seconds"])) {
        if (sample.name === "nodejs_gc_duration_seconds_sum") total += sample.value;
      }
      return total;
    }),
  );
}

/**
 * The highest share of wall time any server spent in GC pauses between two readings of
 * readGcPauseSeconds taken `elapsedMs` apart.
 */
export function gcPauseShareMax(
  before: readonly number[],
  after: readonly number[],
  elapsedMs: number,
): number {
  let highest = 0;
  after.forEach((total, i) => {
    highest = Math.max(highest, (total - (before[i] ?? 0)) / (elapsedMs / 1000));
  });
  return highest;
}

/** What the source's servers say: commit seen → target acknowledged (per mutation), round trip. */
export interface SourceTimings {
  readonly commitToAck: LagHistogram;
  readonly ship: LagHistogram;
}

export async function readSourceTimings(httpPorts: readonly number[]): Promise<SourceTimings> {
  const samples = await scrapeAll(httpPorts, [
    "talaria_dup_commit_to_ack_seconds",
    "talaria_dup_ship_seconds",
  ]);
  return {
    commitToAck: histogramOf(samples, "talaria_dup_commit_to_ack_seconds"),
    ship: histogramOf(samples, "talaria_dup_ship_seconds"),
  };
}

function bucketDeltas(before: LagHistogram, after: LagHistogram): number[] {
  return after.bounds.map((bound, i) => {
    const j = before.bounds.indexOf(bound);
    return (after.counts[i] ?? 0) - (j < 0 ? 0 : (before.counts[j] ?? 0));
  });
}

/**
 * Quantile `q` (ms) of the observations made between two readings, interpolated linearly inside
 * its bucket as Prometheus's histogram_quantile does: an estimate, exact to the bucket.
 */
export function histogramQuantileMs(before: LagHistogram, after: LagHistogram, q: number): number {
  const cumulative = bucketDeltas(before, after);
  const total = cumulative.at(-1) ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  const index = cumulative.findIndex((count) => count >= rank);
  const upper = after.bounds[index] ?? Number.NaN;
  const lower = index > 0 ? (after.bounds[index - 1] ?? 0) : 0;
  if (upper === Number.POSITIVE_INFINITY) return lower * 1000;
  const below = index > 0 ? (cumulative[index - 1] ?? 0) : 0;
  const inBucket = (cumulative[index] ?? 0) - below;
  const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
  return (lower + (upper - lower) * fraction) * 1000;
}

/**
 * The bucket bound (ms) under which fraction `q` of the observations made between two readings
 * fall: the histogram only says "≤ bound", so this is an upper bound, not an estimate.
 */
export function lagBucketMs(before: LagHistogram, after: LagHistogram, q: number): number {
  const deltas = bucketDeltas(before, after);
  const total = deltas.at(-1) ?? 0;
  if (total <= 0) return Number.NaN;
  const index = deltas.findIndex((count) => count >= q * total);
  return (after.bounds[index] ?? Number.NaN) * 1000;
}

export function histogramCount(before: LagHistogram, after: LagHistogram): number {
  return (after.counts.at(-1) ?? 0) - (before.counts.at(-1) ?? 0);
}
