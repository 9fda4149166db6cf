/**
 * One phase of the cluster bench: `loops` closed loops, each awaiting one operation before it
 * starts the next, first for a warm-up and then for a measured window. An operation counts in the
 * window when it starts inside it; its latency, from call to settle, goes into a preallocated
 * buffer whose size bounds the phase (it ends early when the buffer is full).
 */
import { percentile } from "./harness.ts";

export interface PhaseOptions {
  readonly loops: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  /** Called when the measured window opens and when it closes (CPU and counter samples). */
  readonly onWindowStart: () => void;
  readonly onWindowEnd: () => void;
}

export interface PhaseResult {
  readonly ops: number;
  readonly windowMs: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Operations that threw (after the client's own retries). */
  readonly errors: number;
  /** Reads that found no value although the key was preloaded. */
  readonly misses: number;
  readonly firstError: string | undefined;
}

/** Pause of a loop after a failed operation, so a dead server does not make it spin. */
const ERROR_PAUSE_MS = 10;

type Stage = "warmup" | "window" | "done";

/** Latencies of one phase, in ms; reused across phases so the bench allocates it once. */
export class LatencyBuffer {
  readonly latenciesMs: Float64Array;
  constructor(capacity: number) {
    this.latenciesMs = new Float64Array(capacity);
  }
}

/**
 * Runs `op(loop)` in `options.loops` loops. `op` resolves true when the operation did what was
 * asked, false for a read miss; a rejection counts as an error.
 */
export async function runPhase(
  op: (loop: number) => Promise<boolean>,
  buffer: LatencyBuffer,
  options: PhaseOptions,
): Promise<PhaseResult> {
  const latencies = buffer.latenciesMs;
  let stage: Stage = "warmup";
  let recorded = 0;
  let errors = 0;
  let misses = 0;
  let firstError: string | undefined;
  let windowStartMs = 0;
  let windowEndMs = 0;
  let endTimer: NodeJS.Timeout | undefined;
  const closeWindow = () => {
    if (stage !== "window") return;
    stage = "done";
    windowEndMs = performance.now();
    if (endTimer !== undefined) clearTimeout(endTimer);
    options.onWindowEnd();
  };
  const startTimer = setTimeout(() => {
    stage = "window";
    windowStartMs = performance.now();
    options.onWindowStart();
    endTimer = setTimeout(closeWindow, options.windowMs);
  }, options.warmupMs);

  const loop = async (index: number): Promise<void> => {
    while (stage !== "done") {
      const measured = stage === "window";
      const startMs = performance.now();
      let failed = false;
      try {
        if (!(await op(index)) && measured) misses++;
      } catch (error) {
        failed = true;
        if (measured) {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
      if (measured && !failed) {
        latencies[recorded++] = performance.now() - startMs;
        if (recorded === latencies.length) closeWindow();
      }
      if (failed) await new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));
    }
  };
  try {
    await Promise.all(Array.from({ length: options.loops }, (_, i) => loop(i)));
  } finally {
    clearTimeout(startTimer);
    if (endTimer !== undefined) clearTimeout(endTimer);
  }
  const windowMs = windowEndMs - windowStartMs;
  const ops = recorded + errors;
  const sorted = latencies.subarray(0, recorded).sort();
  return {
    ops,
    windowMs,
    opsPerSec: (recorded / windowMs) * 1000,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    errors,
    misses,
    firstError,
  };
}
