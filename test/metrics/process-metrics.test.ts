import assert from "node:assert/strict";
import { it } from "node:test";
import { Counter, Gauge, Registry } from "prom-client";
import { commonRoutes, Router } from "../../src/http/index.ts";
import {
  metricsWithProcess,
  processMetricsRegistry,
  SCRAPE_FAMILIES_PER_TURN,
} from "../../src/metrics/index.ts";

/** Metric names declared by `# TYPE` lines, in order. */
function declaredNames(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string);
}

it("every server's /metrics is its own metrics followed by the one process-wide runtime set", async () => {
  const registries = [new Registry(), new Registry()];
  registries.forEach((registry, i) => {
    new Counter({
      name: `talaria_test_${i}_total`,
      help: "a server's own metric",
      registers: [registry],
    });
  });
  assert.equal(processMetricsRegistry(), processMetricsRegistry(), "made once per process");

  for (const [i, registry] of registries.entries()) {
    const router = new Router(commonRoutes(registry, "replica"));
    const text = (
      await router.handle({ method: "GET", path: "/metrics", query: new URLSearchParams() })
    ).body;
    const names = declaredNames(text);
    assert.equal(names[0], `talaria_test_${i}_total`, "the server's own metrics come first");
    assert.ok(!names.includes(`talaria_test_${1 - i}_total`), "another server's are not mixed in");
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_heap_size_used_bytes",
      "nodejs_gc_duration_seconds",
      "nodejs_eventloop_lag_p99_seconds",
      "nodejs_eventloop_lag_max_seconds",
    ]) {
      assert.ok(names.includes(name), `${name} is exported`);
    }
    assert.equal(new Set(names).size, names.length, "no metric is declared twice");
    // Every line is a comment or a sample: the two texts are joined on a line boundary.
    for (const line of text.split("\n")) {
      if (line === "") continue;
      assert.match(line, /^(# (HELP|TYPE) \S+ .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+)$/, line);
    }
  }
});

it("joins a registry with no metrics, and lays families out as prom-client's Registry.metrics() does", async () => {
  const empty = await metricsWithProcess(new Registry());
  assert.equal(declaredNames(empty)[0], declaredNames(await processMetricsRegistry().metrics())[0]);
  const own = new Registry();
  for (const name of ["talaria_x", "talaria_y"]) {
    new Gauge({ name, help: "a gauge", registers: [own] }).set(1);
  }
  const joined = await metricsWithProcess(own);
  assert.ok(
    joined.startsWith(await own.metrics()),
    "the server's families as prom-client renders them",
  );
  assert.match(joined, /^talaria_y 1\n# HELP process_/m);
  assert.ok(joined.endsWith("\n"));
});

it("a full scrape yields to the event loop between slices of families", async () => {
  const registry = new Registry();
  let immediateRan = false;
  const seen: boolean[] = [];
  for (let i = 0; i < 3 * SCRAPE_FAMILIES_PER_TURN; i++) {
    new Gauge({
      name: `talaria_slice_${i}`,
      help: "records whether the loop ran before its collect",
      registers: [registry],
      collect() {
        seen.push(immediateRan);
      },
    });
  }
  setImmediate(() => {
    immediateRan = true;
  });
  const text = await metricsWithProcess(registry);
  assert.equal(
    declaredNames(text).filter((n) => n.startsWith("talaria_slice_")).length,
    seen.length,
  );
  assert.equal(seen[0], false, "the first slice runs at once");
  assert.equal(seen.at(-1), true, "a later slice runs after the loop turned");
});

it("/metrics?name= answers the named families only, own or runtime, and rejects an unknown name", async () => {
  const registry = new Registry();
  for (const name of ["talaria_test_a_total", "talaria_test_b_total"]) {
    new Counter({ name, help: "a server's own metric", registers: [registry] });
  }
  const router = new Router(commonRoutes(registry, "replica"));
  const get = (query: string) =>
    router.handle({ method: "GET", path: "/metrics", query: new URLSearchParams(query) });

  const one = await get(
    "name=talaria_test_b_total&name=process_cpu_seconds_total&name=talaria_test_b_total",
  );
  assert.equal(one.status, 200);
  assert.deepEqual(declaredNames(one.body), ["talaria_test_b_total", "process_cpu_seconds_total"]);
  assert.match(one.body, /^talaria_test_b_total 0$/m);
  assert.ok(one.body.endsWith("\n"));

  const typo = await get("name=talaria_test_a_totl");
  assert.equal(typo.status, 400);
  const error = JSON.parse(typo.body) as { code: string; message: string };
  assert.equal(error.code, "ERR_INVALID_PARAMETERS");
  assert.match(error.message, /talaria_test_a_totl/);
  assert.match(error.message, /did you mean talaria_test_a_total\?/);

  const far = await get("name=nothing_like_it");
  assert.equal(far.status, 400);
  assert.doesNotMatch(far.body, /did you mean/);
});

it("/metrics?name= of one runtime figure collects the runtime set once, as a full scrape does", async () => {
  // prom-client computes some runtime gauges in another one's collect (the event-loop delay
  // figures, the heap sizes, the CPU split): asking for one alone must not answer a stale value.
  type Collected = { name: string; collect?: () => unknown };
  const metrics = processMetricsRegistry().getMetricsAsArray() as unknown as Collected[];
  const calls = new Map<string, number>();
  const originals = new Map<Collected, () => unknown>();
  for (const metric of metrics) {
    const original = metric.collect;
    if (original === undefined) continue;
    originals.set(metric, original);
    metric.collect = function (this: unknown) {
      calls.set(metric.name, (calls.get(metric.name) ?? 0) + 1);
      return original.call(this);
    };
  }
  try {
    assert.ok(originals.size >= 5, "prom-client's runtime collectors");
    const router = new Router(commonRoutes(new Registry(), "replica"));
    for (const name of ["nodejs_eventloop_lag_p99_seconds", "nodejs_heap_size_used_bytes"]) {
      calls.clear();
      const answer = await router.handle({
        method: "GET",
        path: "/metrics",
        query: new URLSearchParams({ name }),
      });
      assert.equal(answer.status, 200);
      assert.deepEqual(declaredNames(answer.body), [name]);
      assert.deepEqual(
        [...originals.keys()].filter((m) => calls.get(m.name) !== 1).map((m) => m.name),
        [],
        `every runtime collect ran once for ${name}`,
      );
    }
  } finally {
    for (const [metric, original] of originals) metric.collect = original;
  }
});
