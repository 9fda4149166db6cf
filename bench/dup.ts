/**
 * bench:dup — duplication between two onebox clusters (alpha → beta, 1 meta server + 3 replica
 * servers each, every server its own process, all on 127.0.0.1), with alpha's traffic to beta
 * going through the fault proxy (src/testing) as a stand-in for the cross-datacenter link.
 *
 * For each one-way link delay (0 and 30 ms by default):
 *  - rate phases: open-loop writes to the source at 1k/s, 5k/s and the highest rate the source
 *    sustains (measured right before its phase, closed loop), each for a window. Lag is measured end to end: about
 *    50 acknowledged writes a second are polled for on the target every 10 ms, and a write's lag
 *    is the time from its acknowledgement on the source to the first read that finds it on the
 *    target. The target's own histogram (source timestamp → apply, bucketed) is shown beside it,
 *    and the source's (commit seen → target acknowledged per mutation; request round trip).
 *    Also: backlog max, shipped entries/s, CPU of each cluster.
 *  - a cut phase: writes at a fixed rate, the link cut for a while, then healed: catch-up rate
 *    (entries/s the target acknowledged until everything committed before the heal was shipped),
 *    that time, and when the backlog metric read 0 after the writes stopped.
 *
 * Bounded: fixed windows, bounded drains and catch-ups; the servers and the proxy are stopped and
 * the directory removed at the end, on error too. About 35 min with the defaults (14 with --runs 1).
 *
 * The rate phases (the rates, then the highest sustained rate) run `--runs` times in a row (3 by
 * default: the machines are noisy, so the report gives each figure's median, then every run);
 * the cut phase runs once per delay, after them.
 *
 * The anchor, MariaDB binlog replication side by side (bench/dup-mariadb.ts): at 0 ms, each rate
 * phase is followed by the same phase against a MariaDB primary and replica on the same machine
 * (the "max" one at MariaDB's own highest rate). Skipped, with a note, when mariadbd is not
 * installed, or with --no-mariadb.
 *
 *   npm run bench:dup [-- --seconds 10] [-- --cut-seconds 10] [-- --delays 0,30] [-- --rates 1000,5000]
 *                     [-- --runs 3] [-- --max-probe-seconds 15] [-- --batch-bytes 4096]
 *                     [-- --commit-delay-ms 20] [-- --fdatasync auto|inline|thread]
 *                     [-- --no-mariadb] [-- --no-doc]
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { freemem, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FDATASYNC_MODES, type FdatasyncMode } from "../src/plog/index.ts";
import { type DupBench, startDupBench } from "./dup-cluster.ts";
import { type KvWriter, measureMaxRate, OpenLoopWriter } from "./dup-load.ts";
import {
  findMariaDb,
  type MariaDbPair,
  type MariaDbPhase,
  runMariaDbRatePhase,
  startMariaDbPair,
} from "./dup-mariadb.ts";
import {
  type CutPhase,
  type RatePhase,
  runCutPhase,
  runRatePhase,
  waitDrained,
} from "./dup-phases.ts";
import {
  type MariaDbRunPhase,
  type RunPhase,
  renderMariaDbReport,
  renderReport,
  settingsLine,
} from "./dup-report.ts";
import { formatCount, machineInfo, median } from "./harness.ts";

const TABLE = { table: "dup", replicas: 3 } as const;
/** Partitions of the table on each side (--partitions); the lag scales with it on 2 cores. */
const PARTITIONS_DEFAULT = 8;
const PARTITIONS_MAX = 64;
const SECONDS_MAX = 600;
const RUNS_DEFAULT = 3;
const RUNS_MAX = 10;
/** As many as the open-loop writer allows, so "max" is the rate the phases can reach. */
const MAX_RATE_IN_FLIGHT = 1024;
const MAX_RATE_WARMUP_MS = 3000;
const WARMUP_MS = 10_000;
const WARMUP_RATE_PER_SEC = 500;
/** The cut phase writes at this rate, or half the sustained rate if that is lower. */
const CUT_RATE_PER_SEC = 1000;
const DOC_PATH = join(import.meta.dirname, "..", "docs", "benchmarks.md");

export interface DupOptions {
  readonly windowMs: number;
  readonly cutMs: number;
  readonly probeMs: number;
  readonly delaysMs: readonly number[];
  readonly ratesPerSec: readonly number[];
  readonly partitions: number;
  /** How many times the rate phases run (the report gives medians, then each run). */
  readonly runs: number;
  /** `[replication] duplicate_log_batch_bytes` on the source instead of its default. */
  readonly batchBytes?: number;
  /** `write_coalesce_min_interval_ms` on both clusters (absent: the default, off). */
  readonly commitDelayMs?: number;
  /** `log_private_fdatasync` on both clusters (absent: the default, auto). */
  readonly fdatasync?: FdatasyncMode;
  /** Run the MariaDB anchor at 0 ms (when mariadbd is installed). */
  readonly mariadb: boolean;
  readonly doc: boolean;
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

function parseOptions(): DupOptions {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "60" },
      "cut-seconds": { type: "string" },
      "max-probe-seconds": { type: "string", default: "15" },
      delays: { type: "string", default: "0,30" },
      rates: { type: "string", default: "1000,5000" },
      partitions: { type: "string", default: String(PARTITIONS_DEFAULT) },
      runs: { type: "string", default: String(RUNS_DEFAULT) },
      "batch-bytes": { type: "string" },
      "commit-delay-ms": { type: "string" },
      fdatasync: { type: "string" },
      "no-mariadb": { type: "boolean", default: false },
      "no-doc": { type: "boolean", default: false },
    },
  });
  const seconds = (name: string, text: string): number => {
    const value = Number(text);
    if (!(Number.isInteger(value) && value >= 1 && value <= SECONDS_MAX)) {
      throw new Error(`--${name} must be an integer 1..${SECONDS_MAX}`);
    }
    return value * 1000;
  };
  const list = (name: string, text: string, max: number): number[] => {
    const items = text === "" ? [] : text.split(",").map(Number);
    if (items.some((n) => !(Number.isInteger(n) && n >= 0 && n <= max))) {
      throw new Error(`--${name} must be comma-separated integers 0..${max}`);
    }
    return items;
  };
  const windowMs = seconds("seconds", values.seconds);
  const partitions = Number(values.partitions);
  if (!(Number.isInteger(partitions) && partitions >= 1 && partitions <= PARTITIONS_MAX))
    throw new Error(`--partitions must be an integer 1..${PARTITIONS_MAX}`);
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= RUNS_MAX))
    throw new Error(`--runs must be an integer 1..${RUNS_MAX}`);
  return {
    partitions,
    runs,
    windowMs,
    cutMs:
      values["cut-seconds"] === undefined
        ? windowMs
        : seconds("cut-seconds", values["cut-seconds"]),
    probeMs: seconds("max-probe-seconds", values["max-probe-seconds"]),
    delaysMs: list("delays", values.delays, 1000),
    ratesPerSec: list("rates", values.rates, 100_000).filter((r) => r > 0),
    ...(values["batch-bytes"] === undefined
      ? {}
      : { batchBytes: list("batch-bytes", values["batch-bytes"], 64 * 1024 * 1024)[0] ?? 0 }),
    ...(values["commit-delay-ms"] === undefined
      ? {}
      : {
          commitDelayMs: list("commit-delay-ms", values["commit-delay-ms"], 1000)[0] ?? 0,
        }),
    ...(values.fdatasync === undefined ? {} : { fdatasync: fdatasyncMode(values.fdatasync) }),
    mariadb: !values["no-mariadb"],
    doc: !values["no-doc"],
  };
}

function fdatasyncMode(text: string): FdatasyncMode {
  const mode = FDATASYNC_MODES.find((m) => m === text);
  if (mode === undefined)
    throw new Error(`--fdatasync must be one of ${FDATASYNC_MODES.join(", ")}`);
  return mode;
}

function describeRate(p: RatePhase, run: number, runs: number): string {
  const w = p.writes;
  return `${p.delayMs} ms, ${runs > 1 ? `run ${run}, ` : ""}${p.label}: offered ${formatCount(w.offeredPerSec)}/s, achieved ${formatCount(w.achievedPerSec)}/s (skipped ${w.skipped}, errors ${w.errors}); lag p50 ${p.lag.p50Ms.toFixed(1)} p99 ${p.lag.p99Ms.toFixed(1)} max ${p.lag.maxMs.toFixed(1)} ms over ${p.lag.seen} probes (unseen ${p.lag.unseen}); histogram ≤${p.histogramP50Ms}/≤${p.histogramP99Ms} ms; source commit → ack p50 ${p.commitToAckP50Ms.toFixed(1)} p99 ${p.commitToAckP99Ms.toFixed(1)} ms, round trip p50 ${p.shipP50Ms.toFixed(1)} p99 ${p.shipP99Ms.toFixed(1)} ms; target write mean ${p.targetWriteMeanMs.toFixed(1)} ms, event-loop delay p99 ${p.targetEventLoopP99Ms.toFixed(1)} max ${p.targetEventLoopMaxMs.toFixed(1)} ms; GC pauses ≤ ${(p.gcPauseShareMax * 100).toFixed(1)} % of a replica server's time; backlog max ${p.backlogMax} (unshipped ${p.unshippedMax}); shipped ${formatCount(p.shippedPerSec)}/s (empty plog reads ${p.emptyLoadsPerSec.toFixed(1)}/s); CPU ${p.cpu.source.toFixed(2)} + ${p.cpu.target.toFixed(2)} + ${p.cpu.benchAndProxy.toFixed(2)} (bench + proxy)`;
}

function describeAnchor(p: MariaDbPhase, run: number, runs: number): string {
  const w = p.writes;
  return `MariaDB, 0 ms, ${runs > 1 ? `run ${run}, ` : ""}${p.label}: offered ${formatCount(w.offeredPerSec)}/s, achieved ${formatCount(w.achievedPerSec)}/s (skipped ${w.skipped}, errors ${w.errors}); write p99 ${w.p99Ms.toFixed(1)} ms; lag p50 ${p.lag.p50Ms.toFixed(1)} p99 ${p.lag.p99Ms.toFixed(1)} max ${p.lag.maxMs.toFixed(1)} ms over ${p.lag.seen} probes (unseen ${p.lag.unseen})${p.caughtUp ? "" : " (not caught up)"}; CPU ${p.cpu.primary.toFixed(2)} + ${p.cpu.replica.toFixed(2)} + ${p.cpu.bench.toFixed(2)} (bench)`;
}

function describeCut(c: CutPhase): string {
  return `${c.delayMs} ms, cut ${c.cutMs / 1000} s at ${formatCount(c.writes.achievedPerSec)} writes/s: backlog at heal ${c.backlogAtHeal}, catch-up ${formatCount(c.catchUpPerSec)}/s in ${(c.catchUpMs / 1000).toFixed(1)} s, backlog metric 0 ${(c.backlogZeroAfterStopMs / 1000).toFixed(1)} s after the writes stopped`;
}

/** Warm-up, not measured: fresh processes (JIT, storage files, connections) are slower. */
async function warmUp(target: KvWriter): Promise<void> {
  const writer = new OpenLoopWriter(target, {
    ratePerSec: WARMUP_RATE_PER_SEC,
    inFlightMax: MAX_RATE_IN_FLIGHT,
    keyPrefix: "warmup-",
    probesPerSec: 0,
  });
  writer.start();
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  await writer.stop();
}

/** The highest rate `target` sustains with MAX_RATE_IN_FLIGHT closed loops over `windowMs`. */
function highestRate(target: KvWriter, windowMs: number, keyPrefix: string): Promise<number> {
  return measureMaxRate(target, {
    inFlight: MAX_RATE_IN_FLIGHT,
    warmupMs: MAX_RATE_WARMUP_MS,
    windowMs,
    keyPrefix,
  });
}

/**
 * The MariaDB anchor, started and warmed up, or a note saying why it is not run. A failure to
 * start is such a note: the anchor is a comparison, and Talaria's own figures come without it.
 */
async function startAnchor(
  options: DupOptions,
  dir: string,
  onPid: (pid: number) => void,
): Promise<{ pair?: MariaDbPair; note?: string }> {
  if (!options.mariadb) return { note: "not run (--no-mariadb)" };
  if (!options.delaysMs.includes(0)) return { note: "not run (it runs at 0 ms only)" };
  const binaries = findMariaDb();
  if (typeof binaries === "string") return { note: `not run: ${binaries}` };
  let pair: MariaDbPair | undefined;
  try {
    pair = await startMariaDbPair(binaries, join(dir, "mariadb"), onPid);
    log("MariaDB anchor up (primary and replica)");
    await warmUp(pair.primary);
    return { pair };
  } catch (error) {
    await pair?.close();
    const note = `not run: it did not start (${error instanceof Error ? error.message : String(error)})`;
    log(`MariaDB anchor ${note}`);
    return { note };
  }
}

async function main(): Promise<void> {
  process.stdout.on("error", () => undefined);
  const options = parseOptions();
  const startLoad = loadavg();
  const machine = machineInfo();
  const startedMs = performance.now();
  log(
    `bench:dup on ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB (free ${(freemem() / 1024 ** 3).toFixed(1)}), Node ${machine.node}; load ${startLoad.map((l) => l.toFixed(2)).join(" ")}`,
  );
  const dir = mkdtempSync(join(tmpdir(), "talaria-bench-dup-"));
  const pids: number[] = [];
  let bench: DupBench | undefined;
  let anchor: MariaDbPair | undefined;
  let cleaned = false;
  process.once("exit", () => {
    if (cleaned) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  const cleanUp = async () => {
    await anchor?.close();
    await bench?.close();
    cleaned = true;
    // TALARIA_BENCH_KEEP=1 keeps the servers' logs (<dir>/<cluster>/<process>/talaria.log).
    if (process.env.TALARIA_BENCH_KEEP === undefined) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`bench:dup: ${signal}, stopping the clusters`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const table = { ...TABLE, partitions: options.partitions };
  try {
    bench = await startDupBench(
      dir,
      {
        ...table,
        ...(options.batchBytes === undefined
          ? {}
          : { sourceReplication: { duplicateLogBatchBytes: options.batchBytes } }),
        replication: {
          ...(options.commitDelayMs === undefined
            ? {}
            : { writeCoalesceMinIntervalMs: options.commitDelayMs }),
          ...(options.fdatasync === undefined ? {} : { logPrivateFdatasync: options.fdatasync }),
        },
      },
      (pid) => pids.push(pid),
    );
    const b = bench;
    log(
      `clusters up on base port ${b.basePort}; proxy ${b.proxy.address}; table ${table.table} (${table.partitions} partitions × ${table.replicas} replicas on each side), dupid ${b.dupid}`,
    );
    const tables = {
      source: b.sourceClient.table(TABLE.table),
      target: b.targetClient.table(TABLE.table),
    };
    await tables.source.partitionCount();
    await tables.target.partitionCount();
    await warmUp(tables.source);
    const started = await startAnchor(options, dir, (pid) => pids.push(pid));
    anchor = started.pair;
    const anchorNote = started.note;
    const anchorPhases: MariaDbRunPhase[] = [];
    const ratePhases: RunPhase[] = [];
    const cutPhases: CutPhase[] = [];
    const maxRates: number[] = [];
    const cutRates: number[] = [];
    for (const delayMs of options.delaysMs) {
      await b.proxy.setDelay(delayMs);
      const delayMaxRates: number[] = [];
      for (let run = 1; run <= options.runs; run++) {
        const runRate = async (key: string, label: string, rate: number) => {
          const phase = await runRatePhase(b, tables, {
            delayMs,
            label,
            ratePerSec: rate,
            windowMs: options.windowMs,
            keyPrefix: `d${delayMs}-run${run}-r${rate}-`,
          });
          log(describeRate(phase, run, options.runs));
          ratePhases.push({ run, key, phase });
        };
        const runAnchor = async (key: string, label: string, rate: number) => {
          if (anchor === undefined || delayMs !== 0) return;
          const phase = await runMariaDbRatePhase(anchor, {
            label,
            ratePerSec: rate,
            windowMs: options.windowMs,
            keyPrefix: `run${run}-r${rate}-`,
          });
          log(describeAnchor(phase, run, options.runs));
          anchorPhases.push({ run, key, phase });
        };
        for (const rate of options.ratesPerSec) {
          const label = `${formatCount(rate)}/s`;
          await runRate(label, label, rate);
          await runAnchor(label, label, rate);
        }
        // Measured right before its phase, so both see the same machine (the load varies).
        await waitDrained(b);
        const maxRate = await highestRate(
          tables.source,
          options.probeMs,
          `d${delayMs}-run${run}-max-probe-`,
        );
        delayMaxRates.push(maxRate);
        log(
          `${delayMs} ms${options.runs > 1 ? `, run ${run}` : ""}: the source sustains ${formatCount(maxRate)} writes/s (${MAX_RATE_IN_FLIGHT} closed loops, duplication on)`,
        );
        await runRate("max", `max (${formatCount(maxRate)}/s)`, Math.round(maxRate));
        if (anchor !== undefined && delayMs === 0) {
          await anchor.caughtUp();
          const anchorMax = await highestRate(
            anchor.primary,
            options.probeMs,
            `run${run}-max-probe-`,
          );
          log(
            `MariaDB${options.runs > 1 ? `, run ${run}` : ""}: the primary sustains ${formatCount(anchorMax)} writes/s`,
          );
          await runAnchor("max", `max (${formatCount(anchorMax)}/s)`, Math.round(anchorMax));
        }
      }
      const maxRate = median(delayMaxRates);
      maxRates.push(maxRate);
      const cutRate = Math.round(Math.min(CUT_RATE_PER_SEC, maxRate / 2));
      cutRates.push(cutRate);
      const cut = await runCutPhase(b, tables.source, {
        delayMs,
        ratePerSec: cutRate,
        cutMs: options.cutMs,
        keyPrefix: `d${delayMs}-cut-`,
      });
      log(describeCut(cut));
      cutPhases.push(cut);
    }
    const endLoad = loadavg();
    const body = [
      renderReport(ratePhases, cutPhases),
      "",
      anchorPhases.length > 0
        ? renderMariaDbReport(anchorPhases, ratePhases)
        : `MariaDB binlog replication side by side: ${anchorNote ?? "not run"}.`,
    ].join("\n");
    log("");
    log(body);
    if (options.doc) {
      const date = new Date().toISOString().slice(0, 16).replace("T", " ");
      const section = [
        `## bench:dup — ${date} UTC`,
        "",
        `Machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB (${(totalmem() / 1024 ** 3).toFixed(0)} GiB total, ${(freemem() / 1024 ** 3).toFixed(0)} GiB free at the end), Node ${machine.node}, ${machine.platform}; load average (1/5/15 min; the bench's own processes count in it, and a run just before it in the start figure) at start ${startLoad.map((l) => l.toFixed(2)).join(" ")}, at end ${endLoad.map((l) => l.toFixed(2)).join(" ")}.`,
        `Settings: ${settingsLine(options, table, maxRates, cutRates)}.`,
        "",
        body,
        "",
      ].join("\n");
      appendFileSync(DOC_PATH, `${section}\n`);
    }
    log("");
    log(
      `done in ${((performance.now() - startedMs) / 1000).toFixed(0)} s${options.doc ? `; appended to ${DOC_PATH}` : ""}`,
    );
  } finally {
    await cleanUp();
  }
}

await main();
