/** bench:dup's report over several runs: each figure's median, then every run. */
import assert from "node:assert/strict";
import { it } from "node:test";
import type { RatePhase } from "../../bench/dup-phases.ts";
import { medianPhases, type RunPhase, renderReport } from "../../bench/dup-report.ts";

function phase(delayMs: number, label: string, lagP99Ms: number, offered: number): RatePhase {
  return {
    delayMs,
    label,
    writes: {
      offeredPerSec: offered,
      elapsedMs: 60_000,
      acked: offered * 60,
      errors: 0,
      skipped: 0,
      achievedPerSec: offered,
      p50Ms: 5,
      p99Ms: lagP99Ms / 2,
      firstError: undefined,
    },
    lag: { seen: 3000, unseen: 0, dropped: 0, p50Ms: lagP99Ms / 3, p99Ms: lagP99Ms, maxMs: 400 },
    histogramP50Ms: 50,
    histogramP99Ms: 150,
    histogramCount: 100,
    commitToAckP50Ms: 20,
    commitToAckP99Ms: lagP99Ms,
    shipP50Ms: 19,
    shipP99Ms: Number.NaN,
    targetWriteMeanMs: 15,
    targetEventLoopP99Ms: 20,
    targetEventLoopMaxMs: 60,
    gcPauseShareMax: 0.035,
    backlogMax: 10,
    unshippedMax: 5,
    shippedPerSec: offered,
    emptyLoadsPerSec: 0,
    cpu: { source: 0.8, target: 0.7, benchAndProxy: 0.2 },
  };
}

const runs: RunPhase[] = [
  { run: 1, key: "1.00k/s", phase: phase(0, "1.00k/s", 90, 1000) },
  { run: 1, key: "max", phase: phase(0, "max (9.00k/s)", 300, 9000) },
  { run: 2, key: "1.00k/s", phase: phase(0, "1.00k/s", 250, 1000) },
  { run: 2, key: "max", phase: phase(0, "max (11.0k/s)", 200, 11_000) },
  { run: 3, key: "1.00k/s", phase: { ...phase(0, "1.00k/s", 80, 1000), shipP99Ms: 70 } },
  { run: 3, key: "max", phase: phase(0, "max (10.0k/s)", 100, 10_000) },
];

it("takes each figure's median over the runs of one rate, ignoring runs that could not measure it", () => {
  const [rate, max, ...rest] = medianPhases(runs);
  assert.equal(rest.length, 0, "one phase per delay and rate");
  assert.equal(rate?.label, "1.00k/s");
  assert.equal(rate?.lag.p99Ms, 90, "the middle of 80, 90, 250");
  assert.equal(rate?.writes.p99Ms, 45);
  assert.equal(rate?.shipP99Ms, 70, "the one run that measured it");
  assert.equal(rate?.cpu.target, 0.7);
  assert.equal(max?.lag.p99Ms, 200);
  assert.equal(max?.writes.offeredPerSec, 10_000);
  assert.equal(max?.label, "max (10.0k/s, median)");
});

it("keeps the delays apart", () => {
  const both = [...runs, { run: 1, key: "1.00k/s", phase: phase(30, "1.00k/s", 500, 1000) }];
  const phases = medianPhases(both);
  assert.deepEqual(
    phases.map((p) => [p.delayMs, p.label, p.lag.p99Ms]),
    [
      [0, "1.00k/s", 90],
      [0, "max (10.0k/s, median)", 200],
      [30, "1.00k/s", 500],
    ],
  );
});

it("prints the medians, then every run with its number; one run prints one table", () => {
  const several = renderReport(runs, []);
  assert.match(several, /^Median of 3 runs/);
  const each = several.slice(several.indexOf("Each run:"));
  assert.match(each, /\| one-way delay \| run \| offered writes\/s \|/);
  assert.match(each, /\| 0 ms \| 2 \| max \(11\.0k\/s\) \|/);
  const once = renderReport(runs.slice(0, 1), []);
  assert.doesNotMatch(once, /Median|Each run| run \|/);
  assert.match(once, /\| 0 ms \| 1\.00k\/s \| 1\.00k \|/);
  assert.match(once, /\| GC pauses, highest replica server \|/);
  assert.match(once, /\| 3\.5 % \|/);
});
