/**
 * bench (cluster) — a onebox cluster (one meta server and three replica servers, each its own
 * process, all on 127.0.0.1) serving a table of 8 partitions × 3 replicas, driven from this process
 * by 64 closed client loops (`--loops`) with 16-byte keys and 100-byte values over a preloaded
 * keyspace: 100 % writes (set), 50/50 read/write, 100 % reads (get). Prints ops/s, latency
 * p50/p99/p999, errors, CPU seconds per second of the meta server, the replica servers and this
 * process, and the replica servers' CPU per plog append, then appends the figures to
 * docs/benchmarks.md.
 *
 * Bounded: fixed warm-up and window per phase, a bounded preload and bounded waits; about 2 min
 * with the defaults. Every server process is stopped and the temporary directory removed at the
 * end, on error too.
 *
 *   npm run bench [-- --clients 4] [-- --loops 8] [-- --window-seconds 20] [-- --no-doc]
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient, type Table, type TalariaClient } from "../src/client/index.ts";
import {
  ownCpuSeconds,
  type ProcessCpu,
  processCpu,
  type ReplicaCounters,
  scrapeReplicaCounters,
} from "./cluster-cpu.ts";
import { LatencyBuffer, type PhaseResult, runPhase } from "./cluster-load.ts";
import { type BenchCluster, createHealthyTable, startBenchCluster } from "./cluster-onebox.ts";
import { formatCount, machineInfo, markdownTable, Xorshift32 } from "./harness.ts";
import { HASH_KEY_BYTES, KeyPool, SORT_KEY_BYTES, VALUE_BYTES } from "./storage-targets.ts";

const TABLE = { name: "bench", partitions: 8, replicas: 3 } as const;
const REPLICA_SERVERS = 3;
const CLIENT_LOOPS_DEFAULT = 64;
/** Most closed loops accepted on the command line. */
const CLIENT_LOOPS_MAX = 1024;
const KEYSPACE_KEYS = 100_000;
const WARMUP_MS_DEFAULT = 3000;
const WINDOW_MS_DEFAULT = 20_000;
/** Longest window accepted on the command line, so a run stays bounded. */
const WINDOW_MS_MAX = 60_000;
const CLIENTS_MAX = 16;
/** Latencies one phase can record (32 MiB); a phase ends early when it is full. */
const LATENCY_CAPACITY = 4_000_000;
const PRELOAD_IN_FLIGHT = 256;
/** Preload stops here even if not every key is written, so a slow machine keeps the bound. */
const PRELOAD_WINDOW_MS = 60_000;
const TABLE_HEALTHY_TIMEOUT_MS = 60_000;
/** Deadline of one client operation including the client's retries. */
const CLIENT_TIMEOUT_MS = 10_000;
/** Distinct values a write phase picks from. */
const VALUE_OFFSETS = 1 << 20;
const DOC_PATH = join(import.meta.dirname, "..", "docs", "benchmarks.md");

interface PhaseSpec {
  readonly name: string;
  /** Percentage of operations that are reads (get); the rest are writes (set). */
  readonly readPercent: number;
}

const PHASES: readonly PhaseSpec[] = [
  { name: "100 % writes (set)", readPercent: 0 },
  { name: "50/50 read/write", readPercent: 50 },
  { name: "100 % reads (get)", readPercent: 100 },
];

interface CpuReading {
  readonly atMs: number;
  readonly meta: ProcessCpu;
  readonly replicas: readonly ProcessCpu[];
  readonly benchSeconds: number;
  readonly counters: Promise<ReplicaCounters>;
}

interface PhaseFigures {
  readonly spec: PhaseSpec;
  readonly load: PhaseResult;
  /** CPU seconds per second of wall time over the window. */
  readonly metaCpu: number;
  readonly replicaCpu: readonly number[];
  /** The system (kernel) part of the replica servers' CPU, summed. */
  readonly replicaSystemCpu: number;
  readonly benchCpu: number;
  readonly plogAppendsPerFsync: number;
  readonly plogFsyncsPerSec: number;
  /** Replica servers' CPU per plog append: one replica's share of one replicated mutation. */
  readonly replicaCpuUsPerAppend: number;
  readonly primaryWriteMeanMs: number;
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

function formatMs(value: number): string {
  if (!Number.isFinite(value)) return "–";
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function formatCpu(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : "–";
}

function formatLoad(load: readonly number[]): string {
  return load.map((l) => l.toFixed(2)).join(" ");
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

interface BenchOptions {
  readonly clients: number;
  readonly loops: number;
  readonly windowMs: number;
  readonly warmupMs: number;
  readonly doc: boolean;
}

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      clients: { type: "string", default: "1" },
      loops: { type: "string", default: String(CLIENT_LOOPS_DEFAULT) },
      "window-seconds": { type: "string", default: String(WINDOW_MS_DEFAULT / 1000) },
      "warmup-seconds": { type: "string", default: String(WARMUP_MS_DEFAULT / 1000) },
      "no-doc": { type: "boolean", default: false },
    },
  });
  const clients = Number(values.clients);
  const loops = Number(values.loops);
  const windowMs = Number(values["window-seconds"]) * 1000;
  const warmupMs = Number(values["warmup-seconds"]) * 1000;
  if (!Number.isInteger(clients) || clients < 1 || clients > CLIENTS_MAX) {
    throw new Error(`--clients must be 1..${CLIENTS_MAX}`);
  }
  if (!Number.isInteger(loops) || loops < 1 || loops > CLIENT_LOOPS_MAX) {
    throw new Error(`--loops must be 1..${CLIENT_LOOPS_MAX}`);
  }
  if (!(windowMs >= 1000 && windowMs <= WINDOW_MS_MAX)) {
    throw new Error(`--window-seconds must be 1..${WINDOW_MS_MAX / 1000}`);
  }
  if (!(warmupMs >= 0 && warmupMs <= WINDOW_MS_MAX)) {
    throw new Error(`--warmup-seconds must be 0..${WINDOW_MS_MAX / 1000}`);
  }
  return { clients, loops, windowMs, warmupMs, doc: !values["no-doc"] };
}

/**
 * Writes keys 0, 1, 2, … of the pool once each, PRELOAD_IN_FLIGHT at a time, until every key is
 * written or PRELOAD_WINDOW_MS has passed; the phases then draw from the keys written.
 */
async function preload(
  tables: readonly Table[],
  pool: KeyPool,
): Promise<{ keys: number; writesPerSec: number }> {
  const startMs = performance.now();
  const deadlineMs = startMs + PRELOAD_WINDOW_MS;
  let next = 0;
  const loop = async (index: number): Promise<void> => {
    const table = tables[index % tables.length] as Table;
    while (next < pool.size && performance.now() < deadlineMs) {
      const i = next++;
      await table.set(pool.hashKey(i), pool.sortKey(i), pool.value(i));
    }
  };
  await Promise.all(Array.from({ length: PRELOAD_IN_FLIGHT }, (_, i) => loop(i)));
  return { keys: next, writesPerSec: (next / (performance.now() - startMs)) * 1000 };
}

function cpuPerSecond(before: ProcessCpu | undefined, after: ProcessCpu, seconds: number): number {
  if (before === undefined) return NaN;
  const used = after.userSeconds + after.systemSeconds - before.userSeconds - before.systemSeconds;
  return used / seconds;
}

function readCpu(cluster: BenchCluster, pids: { meta: number; replicas: number[] }): CpuReading {
  return {
    atMs: performance.now(),
    meta: processCpu(pids.meta),
    replicas: pids.replicas.map(processCpu),
    benchSeconds: ownCpuSeconds(),
    counters: scrapeReplicaCounters(cluster.replicas.map((r) => r.httpPort)),
  };
}

async function runOnePhase(
  spec: PhaseSpec,
  tables: readonly Table[],
  pool: KeyPool,
  /** Keys 0..keys-1 of the pool are preloaded. */
  keys: number,
  cluster: BenchCluster,
  pids: { meta: number; replicas: number[] },
  buffer: LatencyBuffer,
  timing: { loops: number; windowMs: number; warmupMs: number },
): Promise<PhaseFigures> {
  const rngs = Array.from(
    { length: timing.loops },
    (_, loop) => new Xorshift32(0x5eed + loop * 7919),
  );
  const op = async (loop: number): Promise<boolean> => {
    const rng = rngs[loop] as Xorshift32;
    const table = tables[loop % tables.length] as Table;
    const i = rng.below(keys);
    if (rng.below(100) < spec.readPercent) {
      return (await table.get(pool.hashKey(i), pool.sortKey(i))) !== undefined;
    }
    // A fresh value each time (a slice of the random pool at a random offset).
    await table.set(pool.hashKey(i), pool.sortKey(i), pool.value(rng.below(VALUE_OFFSETS)));
    return true;
  };
  let start: CpuReading | undefined;
  let end: CpuReading | undefined;
  const load = await runPhase(op, buffer, {
    loops: timing.loops,
    warmupMs: timing.warmupMs,
    windowMs: timing.windowMs,
    onWindowStart: () => {
      start = readCpu(cluster, pids);
    },
    onWindowEnd: () => {
      end = readCpu(cluster, pids);
    },
  });
  if (start === undefined || end === undefined) throw new Error("phase ended without a window");
  const seconds = (end.atMs - start.atMs) / 1000;
  const [before, after] = await Promise.all([start.counters, end.counters]);
  const appends = after.plogAppendedRecords - before.plogAppendedRecords;
  const fsyncs = after.plogFsyncs - before.plogFsyncs;
  const primaryWrites = after.primaryWrites - before.primaryWrites;
  const s = start;
  const replicaCpu = end.replicas.map((after, j) => cpuPerSecond(s.replicas[j], after, seconds));
  return {
    spec,
    load,
    metaCpu: cpuPerSecond(s.meta, end.meta, seconds),
    replicaCpu,
    replicaSystemCpu: sum(
      end.replicas.map(
        (after, j) => (after.systemSeconds - (s.replicas[j]?.systemSeconds ?? NaN)) / seconds,
      ),
    ),
    benchCpu: (end.benchSeconds - s.benchSeconds) / seconds,
    plogAppendsPerFsync: fsyncs > 0 ? appends / fsyncs : NaN,
    plogFsyncsPerSec: fsyncs / seconds,
    replicaCpuUsPerAppend: appends > 0 ? (sum(replicaCpu) / (appends / seconds)) * 1e6 : NaN,
    primaryWriteMeanMs:
      primaryWrites > 0
        ? ((after.primaryWriteSeconds - before.primaryWriteSeconds) / primaryWrites) * 1000
        : NaN,
  };
}

function describe(figures: PhaseFigures): string {
  const l = figures.load;
  return `${figures.spec.name}: ${formatCount(l.opsPerSec)} ops/s, p50 ${formatMs(l.p50Ms)} ms, p99 ${formatMs(l.p99Ms)} ms, p999 ${formatMs(l.p999Ms)} ms, errors ${l.errors}${l.firstError === undefined ? "" : ` (first: ${l.firstError})`}, misses ${l.misses}; CPU meta ${formatCpu(figures.metaCpu)}, replicas ${formatCpu(sum(figures.replicaCpu))}, bench ${formatCpu(figures.benchCpu)}`;
}

function report(phases: readonly PhaseFigures[]): string {
  const mainRows = phases.map((f) => [
    f.spec.name,
    formatCount(f.load.opsPerSec),
    formatMs(f.load.p50Ms),
    formatMs(f.load.p99Ms),
    formatMs(f.load.p999Ms),
    `${f.load.errors}${f.load.misses > 0 ? ` (+${f.load.misses} misses)` : ""}`,
    formatCpu(f.metaCpu),
    `${formatCpu(sum(f.replicaCpu))} (${f.replicaCpu.map(formatCpu).join(" / ")})`,
    formatCpu(f.benchCpu),
    formatCpu(f.metaCpu + sum(f.replicaCpu) + f.benchCpu),
    formatCount(((f.metaCpu + sum(f.replicaCpu)) / f.load.opsPerSec) * 1e6),
  ]);
  const pathRows = phases.map((f) => [
    f.spec.name,
    `${formatCpu(f.replicaSystemCpu)} (${((f.replicaSystemCpu / sum(f.replicaCpu)) * 100).toFixed(0)} %)`,
    Number.isFinite(f.plogAppendsPerFsync) ? f.plogAppendsPerFsync.toFixed(1) : "–",
    formatCount(f.plogFsyncsPerSec),
    formatCount(f.replicaCpuUsPerAppend),
    formatMs(f.primaryWriteMeanMs),
  ]);
  return [
    markdownTable(
      [
        "phase",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "errors",
        "meta CPU",
        "replica servers CPU (sum; each)",
        "bench CPU",
        "total CPU",
        "server CPU µs/op",
      ],
      mainRows,
    ),
    "",
    "CPU figures are CPU seconds per second of wall time over the window (2.00 = both cores);",
    "server CPU µs/op is (meta + replica servers) CPU over ops/s: the cost of one operation on all",
    "three replicas, which depends less than ops/s on how much CPU other work leaves free.",
    "",
    `Replica servers, summed over their ${TABLE.partitions * TABLE.replicas} replicas (primary write time: from receipt to answer, on the primary):`,
    "",
    markdownTable(
      [
        "phase",
        "system CPU (share)",
        "plog appends / fdatasync",
        "plog fdatasyncs/s",
        "replica CPU µs per plog append",
        "primary write mean ms",
      ],
      pathRows,
    ),
  ].join("\n");
}

function appendToDoc(
  body: string,
  settings: string,
  startLoad: readonly number[],
  endLoad: readonly number[],
): void {
  const machine = machineInfo();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  const section = [
    `## bench (cluster) — ${date} UTC`,
    "",
    `Machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; load average (1/5/15 min) at start ${formatLoad(startLoad)}, at end ${formatLoad(endLoad)}.`,
    `Settings: ${settings}.`,
    "",
    body,
    "",
  ].join("\n");
  appendFileSync(DOC_PATH, `${section}\n`);
}

async function main(): Promise<void> {
  // A closed stdout (`npm run bench | head`) must not kill the bench before it stops the servers.
  process.stdout.on("error", () => undefined);
  const options = parseOptions();
  const startLoad = loadavg();
  const machine = machineInfo();
  const startMs = performance.now();
  log(
    `bench (cluster) on ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB, Node ${machine.node}; load ${formatLoad(startLoad)}`,
  );
  const dir = mkdtempSync(join(tmpdir(), "talaria-bench-"));
  let cluster: BenchCluster | undefined;
  const clients: TalariaClient[] = [];
  // Last resort if this process dies without cleaning up (an uncaught error): no orphaned servers.
  let stopped = false;
  const serverPids: number[] = [];
  process.once("exit", () => {
    if (stopped) return;
    for (const pid of serverPids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  const cleanUp = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster?.onebox.stop();
    stopped = true;
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`bench: ${signal}, stopping the cluster`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    cluster = await startBenchCluster(dir, REPLICA_SERVERS);
    const running = cluster;
    const pid = (name: string) => {
      const found = running.onebox.pid(running.cluster.name, name);
      if (found === undefined) throw new Error(`no pid for ${name}`);
      return found;
    };
    const pids = {
      meta: pid(running.meta.name),
      replicas: running.replicas.map((r) => pid(r.name)),
    };
    log(
      `onebox up on base port ${cluster.basePort} (meta ${cluster.meta.address}, pids meta ${pids.meta}, replicas ${pids.replicas.join(" ")})`,
    );
    for (let i = 0; i < options.clients; i++) {
      clients.push(
        createClient({
          metaServers: [cluster.meta.address],
          timeoutMs: CLIENT_TIMEOUT_MS,
          name: `talaria-bench-${i}`,
        }),
      );
    }
    const admin = clients[0] as TalariaClient;
    await createHealthyTable(admin, TABLE, TABLE_HEALTHY_TIMEOUT_MS);
    const tables = clients.map((c) => c.table(TABLE.name));
    for (const table of tables) await table.partitionCount();
    log(
      `table ${TABLE.name} healthy (${TABLE.partitions} partitions × ${TABLE.replicas} replicas)`,
    );

    const pool = new KeyPool(KEYSPACE_KEYS);
    const loaded = await preload(tables, pool);
    log(
      `preloaded ${formatCount(loaded.keys)} keys at ${formatCount(loaded.writesPerSec)} writes/s (${PRELOAD_IN_FLIGHT} in flight)`,
    );

    const buffer = new LatencyBuffer(LATENCY_CAPACITY);
    const phases: PhaseFigures[] = [];
    for (const spec of PHASES) {
      const figures = await runOnePhase(
        spec,
        tables,
        pool,
        loaded.keys,
        cluster,
        pids,
        buffer,
        options,
      );
      log(describe(figures));
      phases.push(figures);
    }
    const settings = [
      `1 meta server + ${REPLICA_SERVERS} replica servers (separate processes) and the bench process on one machine`,
      `table of ${TABLE.partitions} partitions × ${TABLE.replicas} replicas`,
      `${options.loops} closed client loops over ${options.clients} TalariaClient${options.clients > 1 ? "s" : ""} (one connection per server each)`,
      `keys: ${HASH_KEY_BYTES}-byte random hash key + ${SORT_KEY_BYTES}-byte sort key, uniform over ${formatCount(loaded.keys)} preloaded keys (preload ${formatCount(loaded.writesPerSec)} writes/s at ${PRELOAD_IN_FLIGHT} in flight${loaded.keys < KEYSPACE_KEYS ? `, stopped by its ${PRELOAD_WINDOW_MS / 1000} s bound short of ${formatCount(KEYSPACE_KEYS)}` : ""})`,
      `values: ${VALUE_BYTES} random bytes`,
      `each phase: ${options.warmupMs / 1000} s warm-up, then a ${options.windowMs / 1000} s window`,
    ].join("; ");
    const body = report(phases);
    log("");
    log(body);
    if (options.doc) appendToDoc(body, settings, startLoad, loadavg());
    log("");
    log(
      `done in ${((performance.now() - startMs) / 1000).toFixed(0)} s; load ${formatLoad(loadavg())}${options.doc ? `; appended to ${DOC_PATH}` : ""}`,
    );
  } finally {
    await cleanUp();
  }
}

await main();
