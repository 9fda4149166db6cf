/** bench:dup's histogram arithmetic: the figures it reports come from these. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { gcPauseShareMax, histogramQuantileMs, lagBucketMs } from "../../bench/dup-metrics.ts";

const bounds = [0.01, 0.05, 0.1, Number.POSITIVE_INFINITY];
const before = { bounds, counts: [5, 5, 5, 5] };
// Between the readings: 10 under 10 ms, 80 in 10–50 ms, 8 in 50–100 ms, 2 above.
const after = { bounds, counts: [15, 95, 103, 105] };

it("estimates a quantile inside its bucket from the difference of two readings", () => {
  assert.equal(histogramQuantileMs(before, after, 0.05), 5); // half of the first bucket
  assert.equal(histogramQuantileMs(before, after, 0.5), 30); // 40 of 80 into 10–50 ms
  assert.ok(Math.abs(histogramQuantileMs(before, after, 0.94) - 75) < 1e-9); // 4 of 8 into 50–100
  assert.equal(histogramQuantileMs(before, after, 0.995), 100, "+Inf: the last finite bound");
  assert.ok(Number.isNaN(histogramQuantileMs(after, after, 0.5)), "nothing observed");
});

it("gives the bucket bound as an upper bound", () => {
  assert.equal(lagBucketMs(before, after, 0.5), 50);
  assert.equal(lagBucketMs(before, after, 0.99), Number.POSITIVE_INFINITY);
});

it("reports the highest share of the phase any server spent in GC pauses", () => {
  // Over 10 s: the second server paused 0.4 s more, the first 0.1 s.
  assert.ok(Math.abs(gcPauseShareMax([1.0, 2.0], [1.1, 2.4], 10_000) - 0.04) < 1e-12);
  assert.equal(gcPauseShareMax([], [], 10_000), 0);
});
