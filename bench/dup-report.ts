/** The tables bench:dup prints and appends to docs/benchmarks.md. */
import type { LagResult, WriterResult } from "./dup-load.ts";
import type { MariaDbPhase } from "./dup-mariadb.ts";
import type { CutPhase, RatePhase } from "./dup-phases.ts";
import { formatCount, formatRatio, markdownTable, median } from "./harness.ts";

function ms(value: number): string {
  if (!Number.isFinite(value)) return "–";
  return value < 10 ? value.toFixed(1) : value.toFixed(0);
}

function seconds(valueMs: number): string {
  return Number.isFinite(valueMs) ? (valueMs / 1000).toFixed(1) : "not within the bound";
}

/** Writes acknowledged per second, with those not issued and those that failed. */
function achievedCell(w: WriterResult): string {
  const skipped = w.skipped > 0 ? ` (${formatCount(w.skipped)} not issued)` : "";
  const errors = w.errors > 0 ? ` (${w.errors} errors)` : "";
  return `${formatCount(w.achievedPerSec)}${skipped}${errors}`;
}

/** Lag probes found, with those never found. */
function probesCell(lag: LagResult): string {
  return `${lag.seen}${lag.unseen > 0 ? ` (+${lag.unseen} unseen)` : ""}`;
}

/** A rate phase of one run: which run, and which rate (the same key in every run). */
export interface RunPhase {
  readonly run: number;
  /** "1.00k/s", "5.00k/s", "max": phases with the same delay and key are one rate's runs. */
  readonly key: string;
  readonly phase: RatePhase;
}

/** Every number of a phase replaced by its median over `phases` (same shape); text from the first. */
function medianOf<T>(values: readonly T[]): T {
  const first = values[0] as T;
  if (typeof first === "number") {
    // A figure a run could not measure (NaN) does not count; NaN only if no run measured it.
    const measured = (values as readonly number[]).filter((v) => !Number.isNaN(v));
    return (measured.length === 0 ? Number.NaN : median(measured)) as T;
  }
  if (typeof first !== "object" || first === null) return first;
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(first)) {
    out[field] = medianOf(values.map((v) => (v as Record<string, unknown>)[field]));
  }
  return out as T;
}

/**
 * One phase per (delay, rate key): the median of each figure over its runs, each figure on its
 * own (so a row's lag p99 and its CPU may come from different runs). "max" phases are labelled
 * with the median of the rates they ran at.
 */
export function medianPhases(runs: readonly RunPhase[]): RatePhase[] {
  const groups = new Map<string, RunPhase[]>();
  for (const r of runs) {
    const key = `${r.phase.delayMs} ${r.key}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((group) => {
    const phase = medianOf(group.map((r) => r.phase));
    const label =
      group[0]?.key === "max"
        ? `max (${formatCount(median(group.map((r) => r.phase.writes.offeredPerSec)))}/s, median)`
        : phase.label;
    return { ...phase, label };
  });
}

function rateRows(rates: readonly RatePhase[]): string[][] {
  return rates.map((p) => [
    `${p.delayMs} ms`,
    p.label,
    achievedCell(p.writes),
    ms(p.writes.p99Ms),
    ms(p.lag.p50Ms),
    ms(p.lag.p99Ms),
    ms(p.lag.maxMs),
    probesCell(p.lag),
    `≤${ms(p.histogramP50Ms)} / ≤${ms(p.histogramP99Ms)}`,
    `${ms(p.commitToAckP50Ms)} / ${ms(p.commitToAckP99Ms)}`,
    `${ms(p.shipP50Ms)} / ${ms(p.shipP99Ms)}`,
    ms(p.targetWriteMeanMs),
    `${ms(p.targetEventLoopP99Ms)} / ${ms(p.targetEventLoopMaxMs)}`,
    `${(p.gcPauseShareMax * 100).toFixed(1)} %`,
    `${formatCount(p.unshippedMax)} / ${formatCount(p.backlogMax)}`,
    formatCount(p.shippedPerSec),
    `${p.cpu.source.toFixed(2)} / ${p.cpu.target.toFixed(2)} / ${p.cpu.benchAndProxy.toFixed(2)}`,
  ]);
}

export function renderReport(runs: readonly RunPhase[], cuts: readonly CutPhase[]): string {
  const runCount = new Set(runs.map((r) => r.run)).size;
  const rateTable = (phases: readonly RatePhase[], runOf?: (i: number) => number) =>
    markdownTable(
      [
        "one-way delay",
        ...(runOf === undefined ? [] : ["run"]),
        "offered writes/s",
        "achieved writes/s",
        "source write p99 ms",
        "lag p50 ms",
        "lag p99 ms",
        "lag max ms",
        "lag probes",
        "target histogram p50 / p99 ms",
        "source: commit → target ack p50 / p99 ms",
        "source: DUPLICATE round trip p50 / p99 ms",
        "target: DUPLICATE write mean ms",
        "target: event-loop delay p99 / max ms",
        "GC pauses, highest replica server",
        "backlog max: unshipped / metric",
        "shipped entries/s",
        "CPU source / target / bench + proxy",
      ],
      rateRows(phases).map((row, i) =>
        runOf === undefined ? row : [row[0] ?? "", String(runOf(i)), ...row.slice(1)],
      ),
    );
  const cutRows = cuts.map((c) => [
    `${c.delayMs} ms`,
    `${c.cutMs / 1000} s`,
    formatCount(c.writes.achievedPerSec),
    formatCount(c.backlogAtHeal),
    formatCount(c.catchUpPerSec),
    formatRatio(c.catchUpPerSec / c.writes.achievedPerSec),
    seconds(c.catchUpMs),
    seconds(c.backlogZeroAfterStopMs),
    `${c.cpu.source.toFixed(2)} / ${c.cpu.target.toFixed(2)} / ${c.cpu.benchAndProxy.toFixed(2)}`,
  ]);
  const rateTables =
    runCount === 1
      ? [rateTable(runs.map((r) => r.phase))]
      : [
          `Median of ${runCount} runs (each figure's median on its own):`,
          "",
          rateTable(medianPhases(runs)),
          "",
          "Each run:",
          "",
          rateTable(
            runs.map((r) => r.phase),
            (i) => runs[i]?.run ?? 0,
          ),
        ];
  return [
    ...rateTables,
    "",
    "Lag: from a write's acknowledgement on the source to the first get that finds it on the target",
    "(≈50 probed writes/s, polled every 10 ms, so up to 10 ms + one get above the true lag). The",
    "target histogram (`talaria_dup_time_lag_seconds`: apply time − the write's source timestamp,",
    "which is taken before the source's commit) only gives bucket bounds. Source: the source's own",
    "histograms, estimated inside their buckets as Prometheus's `histogram_quantile` does —",
    "`talaria_dup_commit_to_ack_seconds` (per mutation, from its primary's shipper seeing it",
    "committed to the target acknowledging all its entries, which the target does after applying",
    "them: the spec's commit → apply, from above) and `talaria_dup_ship_seconds` (per request,",
    "through the proxy and the target's replicated write). Target write: the mean of",
    '`talaria_replica_write_duration_seconds{op="duplicate"}` on the target\'s primaries, from',
    "receiving a DUPLICATE request to answering it. Event-loop delay: the highest",
    "`nodejs_eventloop_lag_p99_seconds` / `_max_seconds` among the target's replica servers over the",
    "phase (how long a ready callback waited for its process; sampled every 10 ms, which the figures",
    "include, so an idle loop reads ≈10 ms). GC pauses: the highest share of the phase any of the",
    "six replica servers spent in garbage-collection pauses (`nodejs_gc_duration_seconds`, every",
    "kind), during which every write through that server waited. Backlog: unshipped =",
    "committed − last decree acknowledged by the target; metric = `talaria_dup_backlog_mutations`",
    "(committed − confirmed decree, which trails by the duplication sync and meta's persist period).",
    "CPU: seconds per second summed over each cluster's 4 processes, and over the bench process and the proxy (2.00 = both cores).",
    "",
    markdownTable(
      [
        "one-way delay",
        "cut",
        "writes/s during the cut",
        "backlog at heal",
        "catch-up entries/s",
        "catch-up / write rate",
        "time to ship the backlog s",
        "backlog metric 0 after writes stop s",
        "CPU source / target / bench + proxy",
      ],
      cutRows,
    ),
    "",
    "Catch-up: entries the target acknowledged per second from the heal until every partition had",
    "shipped everything committed before the heal (writes continue meanwhile); that time is the",
    "time to ship the backlog.",
  ].join("\n");
}

/** A MariaDB anchor phase of one run, keyed as the Talaria phase at the same rate. */
export interface MariaDbRunPhase {
  readonly run: number;
  readonly key: string;
  readonly phase: MariaDbPhase;
}

/**
 * The MariaDB anchor beside Talaria at 0 ms: per rate key, the median of each figure over the
 * runs, and the medians of the per-run ratios Talaria ÷ MariaDB (lag p99, CPU of both sides).
 */
export function renderMariaDbReport(
  anchor: readonly MariaDbRunPhase[],
  talaria: readonly RunPhase[],
): string {
  const keys = [...new Set(anchor.map((a) => a.key))];
  const rows = keys.map((key) => {
    const group = anchor.filter((a) => a.key === key);
    const p = medianOf(group.map((a) => a.phase));
    const ratios = (pick: (t: RatePhase, m: MariaDbPhase) => number) =>
      group.flatMap((a) => {
        const t = talaria.find((r) => r.run === a.run && r.key === key && r.phase.delayMs === 0);
        return t === undefined ? [] : [pick(t.phase, a.phase)].filter(Number.isFinite);
      });
    const lagRatios = ratios((t, m) => t.lag.p99Ms / m.lag.p99Ms);
    const cpuRatios = ratios(
      (t, m) => (t.cpu.source + t.cpu.target) / (m.cpu.primary + m.cpu.replica),
    );
    const ratio = (values: readonly number[]) =>
      values.length === 0 ? "–" : formatRatio(median(values));
    const offered =
      key === "max"
        ? `max (${formatCount(median(group.map((a) => a.phase.writes.offeredPerSec)))}/s${group.length > 1 ? ", median" : ""})`
        : p.label;
    return [
      offered,
      achievedCell(p.writes),
      ms(p.writes.p99Ms),
      ms(p.lag.p50Ms),
      ms(p.lag.p99Ms),
      ms(p.lag.maxMs),
      `${probesCell(p.lag)}${group.some((a) => !a.phase.caughtUp) ? " (not caught up in 15 s)" : ""}`,
      `${p.cpu.primary.toFixed(2)} / ${p.cpu.replica.toFixed(2)} / ${p.cpu.bench.toFixed(2)}`,
      ratio(lagRatios),
      ratio(cpuRatios),
    ];
  });
  const runCount = new Set(anchor.map((a) => a.run)).size;
  return [
    `MariaDB binlog replication side by side (0 ms; ${runCount === 1 ? "one run" : `median of ${runCount} runs, each figure on its own`}; each phase right after Talaria's at the same rate, in the same run; "max": each at its own highest rate):`,
    "",
    markdownTable(
      [
        "offered writes/s",
        "achieved writes/s",
        "primary write p99 ms",
        "lag p50 ms",
        "lag p99 ms",
        "lag max ms",
        "lag probes",
        "CPU primary / replica / bench",
        "Talaria ÷ MariaDB, lag p99",
        "Talaria ÷ MariaDB, CPU",
      ],
      rows,
    ),
    "",
    "MariaDB: one primary (row binlog, `sync_binlog = 1`) and one asynchronous replica",
    "(`slave_parallel_threads = 4`, optimistic), each a `mariadbd` on 127.0.0.1, both with",
    "`innodb_flush_log_at_trx_commit = 1`; the replica connects to the primary directly, not through",
    "the proxy. Writes: `INSERT … ON DUPLICATE KEY UPDATE` of the same keys and values over 64",
    "pooled connections; lag probes: primary-key SELECTs on the replica, as for Talaria. Each side is",
    "one server, where Talaria writes every mutation to 3 replicas on each side. Ratios: medians of",
    "the per-run ratios; CPU is Talaria's source + target over MariaDB's primary + replica.",
  ].join("\n");
}

export function settingsLine(
  options: {
    windowMs: number;
    cutMs: number;
    probeMs: number;
    delaysMs: readonly number[];
    runs: number;
    batchBytes?: number;
    commitDelayMs?: number;
    fdatasync?: string;
  },
  table: { table: string; partitions: number; replicas: number },
  maxRates: readonly number[],
  cutRates: readonly number[],
): string {
  const perDelay = (values: readonly number[]) =>
    values.map((v, i) => `${formatCount(v)} at ${options.delaysMs[i]} ms`).join(", ");
  return [
    "two onebox clusters (alpha → beta), each 1 meta server + 3 replica servers as separate processes, and the bench process, on one machine",
    `table of ${table.partitions} partitions × ${table.replicas} replicas on both sides`,
    "alpha reaches beta through the fault proxy (`[duplication-proxy]`), itself a separate process",
    `keys: \`<phase>-<n>\` hash key + 1-byte sort key; values: 100 random bytes`,
    `open-loop writes from one client (at most 1,024 in flight; a write due while 1,024 are in flight is not issued and counted); the highest rate the source sustains measured right before each "max" phase with 1,024 closed loops for ${options.probeMs / 1000} s after a 3 s warm-up: ${perDelay(maxRates)} writes/s${options.runs > 1 ? " (median of the runs)" : ""}`,
    `a 10 s warm-up at 500 writes/s first; rate phases ${options.windowMs / 1000} s each, each starting with nothing to ship, ${options.runs === 1 ? "run once" : `the rates then the highest rate run ${options.runs} times in a row`}; cut phase (once per delay, after the runs): min(1k, max / 2) writes/s (${perDelay(cutRates)}), 5 s before a ${options.cutMs / 1000} s cut and on until the backlog is shipped`,
    `one-way delays ${options.delaysMs.join(", ")} ms`,
    options.batchBytes === undefined
      ? "duplication settings at their defaults, onebox timings (duplication sync every 2 s)"
      : `duplicate_log_batch_bytes = ${options.batchBytes} on the source, other duplication settings at their defaults, onebox timings (duplication sync every 2 s)`,
    ...(options.commitDelayMs === undefined
      ? []
      : [
          `write_coalesce_min_interval_ms = ${options.commitDelayMs} on both clusters (a commit delay)`,
        ]),
    `log_private_fdatasync = ${options.fdatasync ?? "auto (the default)"} on both clusters`,
  ].join("; ");
}
