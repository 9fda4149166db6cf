import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { Counter, Histogram, Registry } from "prom-client";
import { HotCounter, HotHistogram } from "../../src/metrics/hot-metrics.ts";

const BUCKETS = [0.001, 0.005, 0.01, 0.1, 1];
const METHODS = ["RPC_A", "RPC_B", 'we"ird\\name'];
const CODES = ["OK", "ERR_TIMEOUT"];

const observation = fc.record({
  method: fc.constantFrom(...METHODS),
  code: fc.constantFrom(...CODES),
  value: fc.oneof(
    fc.constantFrom(...BUCKETS, 0, 2),
    fc.double({ min: 0, max: 3, noNaN: true, noDefaultInfinity: true }),
  ),
  times: fc.integer({ min: 1, max: 3 }),
});

it("renders exactly what prom-client renders for the same observations, text and JSON", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(observation, { maxLength: 40 }), async (observations) => {
      const ours = new Registry();
      const theirs = new Registry();
      const hotCounter = new HotCounter({
        name: "t_requests_total",
        help: "requests",
        labelNames: ["method", "code"],
        registers: [ours],
      });
      const hotHistogram = new HotHistogram({
        name: "t_duration_seconds",
        help: "durations",
        labelNames: ["method"],
        buckets: BUCKETS,
        registers: [ours],
      });
      const counter = new Counter({
        name: "t_requests_total",
        help: "requests",
        labelNames: ["method", "code"],
        registers: [theirs],
      });
      const histogram = new Histogram({
        name: "t_duration_seconds",
        help: "durations",
        labelNames: ["method"],
        buckets: BUCKETS,
        registers: [theirs],
      });
      for (const { method, code, value, times } of observations) {
        hotCounter.child({ method, code }).inc(times);
        counter.inc({ method, code }, times);
        hotHistogram.child({ method }).observeMany(value, times);
        for (let i = 0; i < times; i++) histogram.observe({ method }, value);
      }
      assert.equal(await ours.metrics(), await theirs.metrics());
      assert.deepEqual(
        normalise(await ours.getMetricsAsJSON()),
        normalise(await theirs.getMetricsAsJSON()),
      );
    }),
  );
});

/** The JSON as a client would read it (prom-client leaves some fields undefined). */
function normalise(json: unknown): unknown {
  return JSON.parse(JSON.stringify(json));
}

it("a child is resolved once per label values, and reset zeroes the series it keeps", async () => {
  const registry = new Registry();
  const histogram = new HotHistogram({
    name: "t_latency_seconds",
    help: "latency",
    labelNames: ["op"],
    buckets: [0.1, 1],
    registers: [registry],
  });
  const child = histogram.child({ op: "put" });
  assert.equal(histogram.child({ op: "put" }), child);
  child.observe(0.5);
  child.observeMany(5, 2);
  assert.match(await registry.metrics(), /^t_latency_seconds_bucket\{le="1",op="put"\} 1$/m);
  assert.match(await registry.metrics(), /^t_latency_seconds_count\{op="put"\} 3$/m);
  registry.resetMetrics();
  child.observe(0.05);
  assert.match(await registry.metrics(), /^t_latency_seconds_count\{op="put"\} 1$/m);
  assert.match(await registry.metrics(), /^t_latency_seconds_sum\{op="put"\} 0.05$/m);
});

it("rejects what prom-client rejects: non-finite observations, negative increments, unordered buckets", () => {
  const registry = new Registry();
  const histogram = new HotHistogram({
    name: "t_h",
    help: "h",
    labelNames: [],
    buckets: [1, 2],
    registers: [registry],
  });
  assert.throws(() => histogram.child({}).observe(Number.NaN), TypeError);
  const counter = new HotCounter({ name: "t_c", help: "c", labelNames: [], registers: [registry] });
  assert.throws(() => counter.child({}).inc(-1), TypeError);
  assert.throws(
    () =>
      new HotHistogram({ name: "t_x", help: "x", labelNames: [], buckets: [2, 1], registers: [] }),
    /buckets must increase/,
  );
  assert.throws(
    () => new HotCounter({ name: "t_c", help: "again", labelNames: [], registers: [registry] }),
    /already been registered/,
  );
});
