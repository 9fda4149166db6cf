/**
 * The two kinds of bench:dup phase. A rate phase offers a fixed write rate to the source for a
 * window and measures replication lag (probed end to end, and the target's histogram), backlog and
 * shipped entries/s. A cut phase writes at a fixed rate, cuts the link through the proxy, heals it,
 * and measures how fast the backlog built during the cut is shipped.
 */
import type { Table } from "../src/client/index.ts";
import { ownCpuSeconds, type ProcessCpu, processCpu } from "./cluster-cpu.ts";
import type { DupBench } from "./dup-cluster.ts";
import {
  type KvReader,
  type KvWriter,
  LagProber,
  OpenLoopWriter,
  type WriterResult,
} from "./dup-load.ts";
import {
  gcPauseShareMax,
  histogramCount,
  histogramQuantileMs,
  lagBucketMs,
  meanMs,
  readGcPauseSeconds,
  readSource,
  readSourceTimings,
  readTargetTimings,
  type SourceReading,
} from "./dup-metrics.ts";

/** Writes one writer keeps outstanding; past it the offered rate is not reached (counted). */
const IN_FLIGHT_MAX = 1024;
/** Lag probes per second, whatever the write rate. */
const PROBES_PER_SEC = 50;
const PROBE_POLL_MS = 10;
const PROBES_OUTSTANDING_MAX = 2000;
const PROBE_GIVE_UP_MS = 60_000;

/**
 * A rate phase's load: an open-loop writer to `writeTo` at `ratePerSec` whose acknowledged writes
 * are sampled by a lag prober reading `readFrom` (neither started). Shared with the MariaDB
 * anchor (bench/dup-mariadb.ts), so both are measured alike.
 */
export function probedLoad(
  writeTo: KvWriter,
  readFrom: KvReader,
  spec: { ratePerSec: number; keyPrefix: string },
): { writer: OpenLoopWriter; prober: LagProber } {
  const prober = new LagProber(readFrom, {
    pollIntervalMs: PROBE_POLL_MS,
    outstandingMax: PROBES_OUTSTANDING_MAX,
    giveUpMs: PROBE_GIVE_UP_MS,
  });
  const writer = new OpenLoopWriter(writeTo, {
    ratePerSec: spec.ratePerSec,
    inFlightMax: IN_FLIGHT_MAX,
    keyPrefix: spec.keyPrefix,
    probesPerSec: PROBES_PER_SEC,
    onProbe: (hashKey, ackAtMs) => prober.add(hashKey, ackAtMs),
  });
  return { writer, prober };
}

/** After a window: time for the last probes' gets, a few poll rounds. */
export const PROBE_LAST_POLLS_MS = PROBE_POLL_MS * 5;
/** After a window, how long probes of its last writes may still be polled for. */
const PROBE_TAIL_MS = 15_000;
const SAMPLE_MS = 500;
const DRAIN_TIMEOUT_MS = 120_000;
const CATCH_UP_POLL_MS = 250;
/** Steady load before a cut, so the cut starts from the normal backlog. */
const PRE_CUT_MS = 5000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface CpuShare {
  /** CPU seconds per second of wall time, summed over the cluster's processes. */
  readonly source: number;
  readonly target: number;
  /** The bench process itself (load, probes, scrapes) and the fault proxy. */
  readonly benchAndProxy: number;
}

function cpuOf(pids: readonly number[]): number {
  return pids
    .map(processCpu)
    .reduce((sum, c: ProcessCpu) => sum + c.userSeconds + c.systemSeconds, 0);
}

function cpuMeter(bench: DupBench): () => CpuShare {
  const startMs = performance.now();
  const proxyPids = bench.proxy.pid === undefined ? [] : [bench.proxy.pid];
  const others = () => ownCpuSeconds() + cpuOf(proxyPids);
  const source = cpuOf(bench.pids.source);
  const target = cpuOf(bench.pids.target);
  const other = others();
  return () => {
    const seconds = (performance.now() - startMs) / 1000;
    return {
      source: (cpuOf(bench.pids.source) - source) / seconds,
      target: (cpuOf(bench.pids.target) - target) / seconds,
      benchAndProxy: (others() - other) / seconds,
    };
  };
}

/** Waits until the target acknowledged everything committed on the source (bounded). */
export async function waitDrained(bench: DupBench): Promise<boolean> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const reading = await readSource(bench.sourceHttpPorts, bench.dupid).catch(() => undefined);
    if (reading !== undefined && reading.partitions.size > 0 && reading.unshipped === 0)
      return true;
    await sleep(SAMPLE_MS);
  }
  return false;
}

export interface RatePhase {
  readonly delayMs: number;
  readonly label: string;
  readonly writes: WriterResult;
  readonly lag: Awaited<ReturnType<LagProber["stop"]>>;
  /** Bucket bounds of the target's lag histogram (source timestamp → apply), ms. */
  readonly histogramP50Ms: number;
  readonly histogramP99Ms: number;
  readonly histogramCount: number;
  /** Source side (talaria_dup_commit_to_ack_seconds): commit seen → target acknowledged, ms. */
  readonly commitToAckP50Ms: number;
  readonly commitToAckP99Ms: number;
  /** Source side (talaria_dup_ship_seconds): DUPLICATE request round trip, ms. */
  readonly shipP50Ms: number;
  readonly shipP99Ms: number;
  /** Target side: mean time of a DUPLICATE request on its primary, receipt to answer, ms. */
  readonly targetWriteMeanMs: number;
  /** The target's replica servers' event-loop delay over the phase (highest p99, highest max). */
  readonly targetEventLoopP99Ms: number;
  readonly targetEventLoopMaxMs: number;
  /**
   * The highest share of the phase any replica server (source or target) spent in GC pauses
   * (nodejs_gc_duration_seconds, every kind): every write through that server waited meanwhile.
   */
  readonly gcPauseShareMax: number;
  readonly backlogMax: number;
  readonly unshippedMax: number;
  readonly shippedPerSec: number;
  /** Plog reads per second that found nothing although more was committed. */
  readonly emptyLoadsPerSec: number;
  readonly cpu: CpuShare;
}

export async function runRatePhase(
  bench: DupBench,
  tables: { readonly source: Table; readonly target: Table },
  spec: { delayMs: number; label: string; ratePerSec: number; windowMs: number; keyPrefix: string },
): Promise<RatePhase> {
  await waitDrained(bench);
  const { writer, prober } = probedLoad(tables.source, tables.target, spec);
  const targetBefore = await readTargetTimings(bench.targetHttpPorts);
  const timingsBefore = await readSourceTimings(bench.sourceHttpPorts);
  const before = await readSource(bench.sourceHttpPorts, bench.dupid);
  const replicaPorts = [...bench.sourceHttpPorts, ...bench.targetHttpPorts];
  const gcBefore = await readGcPauseSeconds(replicaPorts);
  const gcStartMs = performance.now();
  const cpu = cpuMeter(bench);
  prober.start();
  writer.start();
  let backlogMax = 0;
  let unshippedMax = 0;
  const endMs = performance.now() + spec.windowMs;
  while (performance.now() < endMs) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, endMs - performance.now())));
    const reading = await readSource(bench.sourceHttpPorts, bench.dupid).catch(() => undefined);
    backlogMax = Math.max(backlogMax, reading?.backlog ?? 0);
    unshippedMax = Math.max(unshippedMax, reading?.unshipped ?? 0);
  }
  const writes = await writer.stop();
  const after = await readSource(bench.sourceHttpPorts, bench.dupid);
  const cpuShare = cpu();
  const tailEnd = performance.now() + PROBE_TAIL_MS;
  while (performance.now() < tailEnd && !(await waitDrainedOnce(bench))) await sleep(SAMPLE_MS);
  // The last probes' gets: one more poll round after the drain.
  await sleep(PROBE_LAST_POLLS_MS);
  const lag = await prober.stop();
  const targetAfter = await readTargetTimings(bench.targetHttpPorts);
  const timingsAfter = await readSourceTimings(bench.sourceHttpPorts);
  // After the target's timings: reading a runtime family restarts the event-loop delay window
  // (docs/http.md), which readTargetTimings must find covering the whole phase.
  const gcShare = gcPauseShareMax(
    gcBefore,
    await readGcPauseSeconds(replicaPorts),
    performance.now() - gcStartMs,
  );
  const quantile = (pick: "commitToAck" | "ship", q: number) =>
    histogramQuantileMs(timingsBefore[pick], timingsAfter[pick], q);
  return {
    delayMs: spec.delayMs,
    label: spec.label,
    writes,
    lag,
    histogramP50Ms: lagBucketMs(targetBefore.lag, targetAfter.lag, 0.5),
    histogramP99Ms: lagBucketMs(targetBefore.lag, targetAfter.lag, 0.99),
    histogramCount: histogramCount(targetBefore.lag, targetAfter.lag),
    commitToAckP50Ms: quantile("commitToAck", 0.5),
    commitToAckP99Ms: quantile("commitToAck", 0.99),
    shipP50Ms: quantile("ship", 0.5),
    shipP99Ms: quantile("ship", 0.99),
    targetWriteMeanMs: meanMs(targetBefore.duplicateWrite, targetAfter.duplicateWrite),
    targetEventLoopP99Ms: targetAfter.eventLoopP99Ms,
    targetEventLoopMaxMs: targetAfter.eventLoopMaxMs,
    gcPauseShareMax: gcShare,
    backlogMax,
    unshippedMax,
    shippedPerSec:
      ((after.shippedEntries - before.shippedEntries) / (after.atMs - before.atMs)) * 1000,
    emptyLoadsPerSec: ((after.emptyLoads - before.emptyLoads) / (after.atMs - before.atMs)) * 1000,
    cpu: cpuShare,
  };
}

async function waitDrainedOnce(bench: DupBench): Promise<boolean> {
  const reading = await readSource(bench.sourceHttpPorts, bench.dupid).catch(() => undefined);
  return reading !== undefined && reading.unshipped === 0;
}

export interface CutPhase {
  readonly delayMs: number;
  readonly ratePerSec: number;
  readonly cutMs: number;
  readonly writes: WriterResult;
  /** Mutations not shipped when the link healed. */
  readonly backlogAtHeal: number;
  /** Entries the target acknowledged per second from the heal until that backlog was shipped. */
  readonly catchUpPerSec: number;
  /** From the heal until everything committed before it was acknowledged by the target; NaN: not within the bound. */
  readonly catchUpMs: number;
  /** From the end of the writes until the backlog metric (committed − confirmed) read 0. */
  readonly backlogZeroAfterStopMs: number;
  readonly cpu: CpuShare;
}

function caughtUp(heal: SourceReading, now: SourceReading): boolean {
  for (const [gpid, progress] of heal.partitions) {
    const current = now.partitions.get(gpid);
    if (current === undefined || current.last < progress.committed) return false;
  }
  return true;
}

export async function runCutPhase(
  bench: DupBench,
  source: Table,
  spec: { delayMs: number; ratePerSec: number; cutMs: number; keyPrefix: string },
): Promise<CutPhase> {
  await waitDrained(bench);
  const writer = new OpenLoopWriter(source, {
    ratePerSec: spec.ratePerSec,
    inFlightMax: IN_FLIGHT_MAX,
    keyPrefix: spec.keyPrefix,
    probesPerSec: 0,
  });
  const cpu = cpuMeter(bench);
  writer.start();
  await sleep(PRE_CUT_MS);
  await bench.proxy.cut();
  await sleep(spec.cutMs);
  const heal = await readSource(bench.sourceHttpPorts, bench.dupid);
  await bench.proxy.heal();
  const healMs = performance.now();
  const boundMs = Math.max(DRAIN_TIMEOUT_MS, 3 * spec.cutMs);
  let last = heal;
  let catchUpMs = Number.NaN;
  while (performance.now() - healMs < boundMs) {
    await sleep(CATCH_UP_POLL_MS);
    const reading = await readSource(bench.sourceHttpPorts, bench.dupid).catch(() => undefined);
    if (reading === undefined) continue;
    last = reading;
    if (caughtUp(heal, reading)) {
      catchUpMs = reading.atMs - healMs;
      break;
    }
  }
  const writes = await writer.stop();
  const cpuShare = cpu();
  const stopMs = performance.now();
  let backlogZeroAfterStopMs = Number.NaN;
  while (performance.now() - stopMs < DRAIN_TIMEOUT_MS) {
    const reading = await readSource(bench.sourceHttpPorts, bench.dupid).catch(() => undefined);
    if (reading !== undefined && reading.backlog === 0) {
      backlogZeroAfterStopMs = reading.atMs - stopMs;
      break;
    }
    await sleep(CATCH_UP_POLL_MS);
  }
  return {
    delayMs: spec.delayMs,
    ratePerSec: spec.ratePerSec,
    cutMs: spec.cutMs,
    writes,
    backlogAtHeal: heal.unshipped,
    catchUpPerSec: ((last.shippedEntries - heal.shippedEntries) / (last.atMs - heal.atMs)) * 1000,
    catchUpMs,
    backlogZeroAfterStopMs,
    cpu: cpuShare,
  };
}
