/** bench:dup's report over several runs: each figure's median, then every run. */
import assert from "node:assert/strict";
import { it } from "node:test";
import type { MariaDbPhase } from "../../bench/dup-mariadb.ts";
import type { RatePhase } from "../../bench/dup-phases.ts";
import {
  type MariaDbRunPhase,
  medianPhases,
  type RunPhase,
  renderMariaDbReport,
  renderReport,
} from "../../bench/dup-report.ts";

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

function anchorPhase(label: string, lagP99Ms: number, offered: number): MariaDbPhase {
  return {
    label,
    writes: { ...phase(0, label, 10, offered).writes, p99Ms: 4 },
    lag: { seen: 3000, unseen: 0, dropped: 0, p50Ms: 1, p99Ms: lagP99Ms, maxMs: 30 },
    caughtUp: true,
    cpu: { primary: 0.3, replica: 0.2, bench: 0.1 },
  };
}

it("sets the MariaDB anchor beside Talaria: medians per rate, and the medians of per-run ratios", () => {
  const anchor: MariaDbRunPhase[] = [
    { run: 1, key: "1.00k/s", phase: anchorPhase("1.00k/s", 10, 1000) },
    { run: 1, key: "max", phase: anchorPhase("max (6.00k/s)", 500, 6000) },
    { run: 2, key: "1.00k/s", phase: anchorPhase("1.00k/s", 50, 1000) },
    { run: 2, key: "max", phase: anchorPhase("max (8.00k/s)", 400, 8000) },
    {
      run: 3,
      key: "1.00k/s",
      phase: { ...anchorPhase("1.00k/s", 40, 1000), caughtUp: false },
    },
    { run: 3, key: "max", phase: anchorPhase("max (7.00k/s)", 100, 7000) },
  ];
  const rows = renderMariaDbReport(anchor, runs)
    .split("\n")
    .filter((line) => /^\| (1\.00k|max)/.test(line))
    .map((line) => line.split(" | "));
  assert.equal(rows.length, 2, "one row per rate");
  const [rate, max] = rows;
  assert.equal(rate?.[4], "40", "lag p99: the middle of 10, 50, 40");
  assert.match(rate?.[6] ?? "", /not caught up/, "a run whose replica did not catch up is flagged");
  // Per run, Talaria ÷ MariaDB lag p99: 90/10 = 9, 250/50 = 5, 80/40 = 2 → 5.
  assert.equal(rate?.[8], "5.00×");
  // CPU: (0.8 + 0.7) / (0.3 + 0.2) = 3 in every run.
  assert.equal(rate?.[9]?.replace(/ \|$/, ""), "3.00×");
  assert.match(max?.[0] ?? "", /^\| max \(7\.00k\/s, median\)/);
  // 300/500 = 0.6, 200/400 = 0.5, 100/100 = 1 → 0.6.
  assert.equal(max?.[8], "0.60×");
});
