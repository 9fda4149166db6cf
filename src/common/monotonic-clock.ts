import type { Clock } from "./clock.ts";

/**
 * Wall-clock time at start plus monotonic elapsed time: never jumps backwards while the process
 * runs, which is what leases, failure detection and timeouts need.
 */
export function monotonicClock(): Clock {
  const startMs = Date.now();
  const base = performance.now();
  return {
    nowMs: () => Math.floor(startMs + (performance.now() - base)),
    nowUs: () => Math.floor((startMs + (performance.now() - base)) * 1000),
  };
}
