/**
 * Measurement helpers shared by the benchmark scripts: closed-loop async load with a fixed number
 * of operations in flight, time-boxed synchronous loops, percentiles and medians, machine facts
 * and a raw fdatasync probe. Every loop is bounded twice: by a time window and by an op count.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { join } from "node:path";

export interface LoadResult {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  /** Per-operation latency from call to settle; NaN for synchronous loops. */
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface ClosedLoopOptions {
  /** Operations kept outstanding: each of this many workers awaits one op, then starts the next. */
  readonly inFlight: number;
  readonly windowMs: number;
  /** Stops earlier once this many ops were started; sizes the latency buffer. */
  readonly opsMax: number;
}

/** Runs `op(sequence)` with `inFlight` outstanding until the window or the op budget runs out. */
export async function runClosedLoop(
  op: (sequence: number) => Promise<unknown>,
  options: ClosedLoopOptions,
): Promise<LoadResult> {
  const latenciesUs = new Float64Array(options.opsMax);
  let started = 0;
  let completed = 0;
  const startMs = performance.now();
  const deadlineMs = startMs + options.windowMs;
  const worker = async (): Promise<void> => {
    while (started < options.opsMax && performance.now() < deadlineMs) {
      const sequence = started++;
      const opStartMs = performance.now();
      await op(sequence);
      latenciesUs[completed++] = (performance.now() - opStartMs) * 1000;
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  const elapsedMs = performance.now() - startMs;
  const sorted = latenciesUs.subarray(0, completed).sort();
  return {
    ops: completed,
    elapsedMs,
    opsPerSec: (completed / elapsedMs) * 1000,
    p50Us: percentile(sorted, 0.5),
    p99Us: percentile(sorted, 0.99),
  };
}

/** Ops between two clock reads in a synchronous loop: keeps `performance.now()` off the profile. */
const SYNC_CHECK_EVERY_OPS = 1024;

/** Runs synchronous `op(sequence)` back to back until the window or the op budget runs out. */
export function runSyncLoop(
  op: (sequence: number) => void,
  options: { readonly windowMs: number; readonly opsMax: number },
): LoadResult {
  const startMs = performance.now();
  const deadlineMs = startMs + options.windowMs;
  let done = 0;
  while (done < options.opsMax && performance.now() < deadlineMs) {
    const end = Math.min(done + SYNC_CHECK_EVERY_OPS, options.opsMax);
    for (; done < end; done++) op(done);
  }
  const elapsedMs = performance.now() - startMs;
  return { ops: done, elapsedMs, opsPerSec: (done / elapsedMs) * 1000, p50Us: NaN, p99Us: NaN };
}

/** Times one synchronous run that returns how many rows it produced. */
export function timeRows(run: () => number): {
  rows: number;
  elapsedMs: number;
  rowsPerSec: number;
} {
  const startMs = performance.now();
  const rows = run();
  const elapsedMs = performance.now() - startMs;
  return { rows, elapsedMs, rowsPerSec: (rows / elapsedMs) * 1000 };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** xorshift32: a seeded, allocation-free source of indices for reproducible read patterns. */
export class Xorshift32 {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform-enough integer in [0, bound). */
  below(bound: number): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state % bound;
  }
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly nproc: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    nproc: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Cost of one durable 4 KiB overwrite: `count` rounds of write + fdatasync on one file. */
export function probeFdatasync(dir: string, count: number): { p50Us: number; p99Us: number } {
  const path = join(dir, "fdatasync-probe");
  const block = Buffer.alloc(4096, 0xab);
  const fd = openSync(path, "w");
  const latenciesUs = new Float64Array(count);
  try {
    for (let i = 0; i < count; i++) {
      const startMs = performance.now();
      writeSync(fd, block, 0, block.length, 0);
      fdatasyncSync(fd);
      latenciesUs[i] = (performance.now() - startMs) * 1000;
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  latenciesUs.sort();
  return { p50Us: percentile(latenciesUs, 0.5), p99Us: percentile(latenciesUs, 0.99) };
}

/** "12.3k" style figures for tables. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return value.toFixed(0);
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "–";
}

export function formatUs(value: number): string {
  return Number.isFinite(value) ? value.toFixed(0) : "–";
}

/** A GitHub-flavoured markdown table; also readable as plain text on stdout. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
