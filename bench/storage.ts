/**
 * bench:storage — one Talaria replica (plog append + apply, durable group commit; point reads;
 * ordered scan) against raw lmdb-js on the same machine, side by side in one process.
 *
 * Each repetition opens fresh stores, alternates which engine goes first, and measures every
 * figure for every engine; the report gives medians over repetitions, and ratios as the median of
 * the per-repetition Talaria/lmdb ratios. Bounded: fixed windows and op budgets, ~2 minutes.
 */
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import {
  formatCount,
  formatRatio,
  formatUs,
  type LoadResult,
  machineInfo,
  markdownTable,
  median,
  probeFdatasync,
  runClosedLoop,
  runSyncLoop,
  timeRows,
  Xorshift32,
} from "./harness.ts";
import {
  HASH_KEY_BYTES,
  KeyPool,
  LmdbTarget,
  PlogTarget,
  SORT_KEY_BYTES,
  TalariaTarget,
  VALUE_BYTES,
} from "./storage-targets.ts";

const REPETITIONS = 3;
const IN_FLIGHT_LEVELS = [1, 64, 256] as const;
const WRITE_WINDOW_MS = 2000;
const WRITE_OPS_MAX = 200_000;
const READ_WINDOW_MS = 1000;
const READ_OPS_MAX = 10_000_000;
/** Keys in the store when reads and scans run (the write phases' keys count towards it). */
const DATASET_KEYS = 100_000;
const SCAN_BATCH_SIZE = 1000;
/** Full scans per engine per repetition (one takes well under a second); their median counts. */
const SCAN_ROUNDS = 3;
/** Writes per engine before measuring, so the JIT and the files are warm. */
const WARMUP_WRITES = 1000;
const FDATASYNC_PROBE_ROUNDS = 200;
/** Enough unique keys for every raw-lmdb write window of one repetition. */
const POOL_KEYS = Math.max(
  DATASET_KEYS,
  WARMUP_WRITES + 2 * IN_FLIGHT_LEVELS.length * WRITE_OPS_MAX,
);
const DOC_PATH = join(import.meta.dirname, "..", "docs", "benchmarks.md");

type WriteEngine = "talaria" | "lmdbPut" | "lmdbFlushed" | "plog";
const WRITE_ENGINES: readonly WriteEngine[] = ["talaria", "lmdbPut", "lmdbFlushed", "plog"];

interface Repetition {
  readonly writes: Record<WriteEngine, LoadResult[]>;
  /** plog alone: appends per fdatasync, per in-flight level. */
  readonly plogAppendsPerFlush: number[];
  readonly talariaGetsPerSec: number;
  readonly lmdbGetsPerSec: number;
  readonly talariaScanRowsPerSec: number;
  readonly lmdbScanRowsPerSec: number;
  readonly datasetKeys: number;
  readonly fdatasyncP50Us: number;
  readonly fdatasyncP99Us: number;
  readonly plogPayloadBytes: number;
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

function describe(result: LoadResult): string {
  return `${formatCount(result.opsPerSec)} ops/s p50 ${formatUs(result.p50Us)} µs p99 ${formatUs(result.p99Us)} µs (${result.ops} ops)`;
}

/** Runs `first` and `second` in an order that flips every repetition, so drift hits both. */
async function sideBySide<T>(rep: number, first: () => Promise<T>, second: () => Promise<T>) {
  if (rep % 2 === 0) {
    const a = await first();
    return [a, await second()] as const;
  }
  const b = await second();
  return [await first(), b] as const;
}

async function runRepetition(rep: number, pool: KeyPool): Promise<Repetition> {
  const dir = mkdtempSync(join(tmpdir(), "talaria-bench-storage-"));
  try {
    const fsync = probeFdatasync(dir, FDATASYNC_PROBE_ROUNDS);
    log(
      `rep ${rep + 1}: fdatasync of 4 KiB p50 ${formatUs(fsync.p50Us)} µs p99 ${formatUs(fsync.p99Us)} µs`,
    );
    const talaria = await TalariaTarget.open(join(dir, "talaria"), pool);
    const lmdbWrites = LmdbTarget.open(join(dir, "lmdb-writes"), pool);
    const plog = await PlogTarget.open(join(dir, "plog"), pool);
    const writes: Record<WriteEngine, LoadResult[]> = {
      talaria: [],
      lmdbPut: [],
      lmdbFlushed: [],
      plog: [],
    };
    const plogAppendsPerFlush: number[] = [];
    const plogPayloadBytes = plog.payloadBytes;
    try {
      const warm = { inFlight: 64, windowMs: Number.POSITIVE_INFINITY, opsMax: WARMUP_WRITES };
      await runClosedLoop(() => talaria.write(), warm);
      await runClosedLoop(() => lmdbWrites.put(), warm);
      await runClosedLoop(() => plog.append(), warm);
      for (const inFlight of IN_FLIGHT_LEVELS) {
        const window = { inFlight, windowMs: WRITE_WINDOW_MS, opsMax: WRITE_OPS_MAX };
        const [t, l] = await sideBySide(
          rep,
          () => runClosedLoop(() => talaria.write(), window),
          () => runClosedLoop(() => lmdbWrites.put(), window),
        );
        const lf = await runClosedLoop(() => lmdbWrites.putFlushed(), window);
        const before = plog.stats;
        const p = await runClosedLoop(() => plog.append(), window);
        const after = plog.stats;
        const appendsPerFlush = (after.appends - before.appends) / (after.flushes - before.flushes);
        writes.talaria.push(t);
        writes.lmdbPut.push(l);
        writes.lmdbFlushed.push(lf);
        writes.plog.push(p);
        plogAppendsPerFlush.push(appendsPerFlush);
        log(`rep ${rep + 1}: ${inFlight} in flight`);
        log(`  talaria            ${describe(t)}`);
        log(`  lmdb put           ${describe(l)}`);
        log(`  lmdb put+flushed   ${describe(lf)}`);
        log(`  plog alone         ${describe(p)}; ${appendsPerFlush.toFixed(1)} appends/fdatasync`);
      }
    } finally {
      await lmdbWrites.close();
      await plog.close();
    }

    // Reads and scans: both stores hold exactly keys [0, datasetKeys) of the pool.
    const datasetKeys = Math.max(DATASET_KEYS, talaria.written);
    const lmdbReads = LmdbTarget.open(join(dir, "lmdb-reads"), pool);
    try {
      await talaria.fillTo(datasetKeys);
      await lmdbReads.fillTo(datasetKeys);
      const readWindow = { windowMs: READ_WINDOW_MS, opsMax: READ_OPS_MAX };
      let misses = 0;
      const [tGet, lGet] = await sideBySide(
        rep,
        async () => {
          const random = new Xorshift32(rep + 1);
          return runSyncLoop(() => {
            if (!talaria.get(random.below(datasetKeys))) misses++;
          }, readWindow);
        },
        async () => {
          const random = new Xorshift32(rep + 1);
          return runSyncLoop(() => {
            if (!lmdbReads.get(random.below(datasetKeys))) misses++;
          }, readWindow);
        },
      );
      if (misses > 0) throw new Error(`${misses} point reads missed keys that were written`);
      const tScans: number[] = [];
      const lScans: number[] = [];
      for (let round = 0; round < SCAN_ROUNDS; round++) {
        const [t, l] = await sideBySide(
          rep + round,
          async () => timeRows(() => talaria.scan(SCAN_BATCH_SIZE)),
          async () => timeRows(() => lmdbReads.scan()),
        );
        if (t.rows !== datasetKeys || l.rows !== datasetKeys) {
          throw new Error(`scans saw ${t.rows} / ${l.rows} rows, expected ${datasetKeys}`);
        }
        tScans.push(t.rowsPerSec);
        lScans.push(l.rowsPerSec);
      }
      const tScan = { rowsPerSec: median(tScans) };
      const lScan = { rowsPerSec: median(lScans) };
      log(`rep ${rep + 1}: ${datasetKeys} keys`);
      log(
        `  get      talaria ${formatCount(tGet.opsPerSec)}/s  lmdb ${formatCount(lGet.opsPerSec)}/s`,
      );
      log(
        `  scan     talaria ${formatCount(tScan.rowsPerSec)} rows/s  lmdb ${formatCount(lScan.rowsPerSec)} rows/s`,
      );
      return {
        writes,
        plogAppendsPerFlush,
        talariaGetsPerSec: tGet.opsPerSec,
        lmdbGetsPerSec: lGet.opsPerSec,
        talariaScanRowsPerSec: tScan.rowsPerSec,
        lmdbScanRowsPerSec: lScan.rowsPerSec,
        datasetKeys,
        fdatasyncP50Us: fsync.p50Us,
        fdatasyncP99Us: fsync.p99Us,
        plogPayloadBytes,
      };
    } finally {
      await lmdbReads.close();
      await talaria.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median over repetitions of `pick(rep)`. */
function med(reps: readonly Repetition[], pick: (rep: Repetition) => number): number {
  return median(reps.map(pick));
}

function writeOps(engine: WriteEngine, level: number) {
  return (rep: Repetition) => rep.writes[engine][level]?.opsPerSec ?? Number.NaN;
}

function report(reps: readonly Repetition[]): string {
  const plogPayloadBytes = med(reps, (r) => r.plogPayloadBytes);
  const writeRows = IN_FLIGHT_LEVELS.map((inFlight, level) => {
    const ratio = (anchor: WriteEngine) =>
      med(reps, (r) => writeOps("talaria", level)(r) / writeOps(anchor, level)(r));
    return [
      String(inFlight),
      formatCount(med(reps, writeOps("talaria", level))),
      formatCount(med(reps, writeOps("lmdbPut", level))),
      formatRatio(ratio("lmdbPut")),
      formatCount(med(reps, writeOps("lmdbFlushed", level))),
      formatRatio(ratio("lmdbFlushed")),
      formatCount(med(reps, writeOps("plog", level))),
      med(reps, (r) => r.plogAppendsPerFlush[level] ?? Number.NaN).toFixed(1),
    ];
  });
  const latencyRows = IN_FLIGHT_LEVELS.map((inFlight, level) => [
    String(inFlight),
    ...WRITE_ENGINES.map((engine) => {
      const p50 = med(reps, (r) => r.writes[engine][level]?.p50Us ?? Number.NaN);
      const p99 = med(reps, (r) => r.writes[engine][level]?.p99Us ?? Number.NaN);
      return `${formatUs(p50)} / ${formatUs(p99)}`;
    }),
  ]);
  const readRows = [
    [
      "point reads (ops/s)",
      formatCount(med(reps, (r) => r.talariaGetsPerSec)),
      formatCount(med(reps, (r) => r.lmdbGetsPerSec)),
      formatRatio(med(reps, (r) => r.talariaGetsPerSec / r.lmdbGetsPerSec)),
    ],
    [
      "full ordered scan (rows/s)",
      formatCount(med(reps, (r) => r.talariaScanRowsPerSec)),
      formatCount(med(reps, (r) => r.lmdbScanRowsPerSec)),
      formatRatio(med(reps, (r) => r.talariaScanRowsPerSec / r.lmdbScanRowsPerSec)),
    ],
  ];
  const datasetKeys = med(reps, (r) => r.datasetKeys);
  return [
    "Durable writes, ops/s (ratio = Talaria / lmdb):",
    "",
    markdownTable(
      [
        "in flight",
        "Talaria",
        "lmdb `await put`",
        "ratio",
        "lmdb put + `flushed`",
        "ratio",
        "plog alone",
        "plog appends / fdatasync",
      ],
      writeRows,
    ),
    "",
    "Write latency, p50 / p99 µs:",
    "",
    markdownTable(
      ["in flight", "Talaria", "lmdb `await put`", "lmdb put + `flushed`", "plog alone"],
      latencyRows,
    ),
    "",
    `Reads over ${formatCount(datasetKeys)} keys (sync API, data in page cache):`,
    "",
    markdownTable(["figure", "Talaria", "lmdb", "ratio"], readRows),
    "",
    `fdatasync of a 4 KiB overwrite (${FDATASYNC_PROBE_ROUNDS} rounds): p50 ${formatUs(
      med(reps, (r) => r.fdatasyncP50Us),
    )} µs, p99 ${formatUs(med(reps, (r) => r.fdatasyncP99Us))} µs. plog-alone records carry a ${plogPayloadBytes}-byte encoded mutation.`,
  ].join("\n");
}

function formatLoad(load: readonly number[]): string {
  return load.map((l) => l.toFixed(2)).join(" ");
}

function appendToDoc(body: string, startLoad: readonly number[], endLoad: readonly number[]): void {
  const machine = machineInfo();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  if (!existsSync(DOC_PATH)) {
    writeFileSync(
      DOC_PATH,
      `${[
        "# Benchmarks",
        "",
        "Figures printed by the `bench*` npm scripts (see `bench/`). Each script appends a dated",
        "section below. The machines are shared 2-core VMs whose load varies from run to run:",
        "every figure is the median of several repetitions, and comparisons are ratios measured side",
        "by side in the same run, so compare ratios across runs rather than absolute figures.",
        "",
        "| script | what it measures |",
        "|---|---|",
        "| `bench:storage` | one replica: durable writes (plog append + fdatasync group commit + lmdb apply) at 1, 64 and 256 in flight; random point reads; full ordered scan. Anchor: raw lmdb-js in the same process, and the plog alone. |",
        "",
      ].join("\n")}\n`,
    );
  }
  const settings = [
    `${REPETITIONS} repetitions, medians`,
    `write windows ${WRITE_WINDOW_MS / 1000} s per engine and level`,
    `read windows ${READ_WINDOW_MS / 1000} s`,
    `keys: ${HASH_KEY_BYTES}-byte random hash key + ${SORT_KEY_BYTES}-byte random sort key (raw lmdb: the same 16 bytes as one key)`,
    `values: ${VALUE_BYTES} random bytes`,
    `scan batchSize ${SCAN_BATCH_SIZE}, ${SCAN_ROUNDS} full scans per repetition`,
  ].join("; ");
  const section = [
    `## bench:storage — ${date} UTC`,
    "",
    `Machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; load average (1/5/15 min) at start ${formatLoad(startLoad)}, at end ${formatLoad(endLoad)}.`,
    `Settings: ${settings}.`,
    "",
    body,
    "",
    "Talaria acknowledges a write once it is fdatasync'ed in the plog and applied to the replica's",
    "memtable; lmdb takes the memtable in background flushes (docs/storage.md), so its commits are",
    "off the write path and a crash replays the log from lmdb's last flushed decree.",
    "`await put` resolves when lmdb's batch transaction commits (its overlapping fsync may still",
    "run), `put + flushed` when that commit is on disk. The replica keeps its plog private, so its",
    "own group-commit ratio is not shown; the plog-alone column shows the ratio at the same load.",
    "Ratios are medians of the per-repetition ratios, so they can differ from the ratio of the",
    "medians when the load changes between repetitions.",
    "",
  ].join("\n");
  appendFileSync(DOC_PATH, `${section}\n`);
}

async function main(): Promise<void> {
  const startLoad = loadavg();
  const machine = machineInfo();
  log(
    `bench:storage on ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB, Node ${machine.node}; load ${formatLoad(startLoad)}`,
  );
  const startMs = performance.now();
  const pool = new KeyPool(POOL_KEYS);
  const reps: Repetition[] = [];
  for (let rep = 0; rep < REPETITIONS; rep++) reps.push(await runRepetition(rep, pool));
  const body = report(reps);
  log("");
  log(body);
  appendToDoc(body, startLoad, loadavg());
  log("");
  log(`done in ${((performance.now() - startMs) / 1000).toFixed(0)} s; appended to ${DOC_PATH}`);
}

await main();
