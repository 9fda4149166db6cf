import assert from "node:assert/strict";
import { it } from "node:test";
import { Counter, Registry } from "prom-client";
import { commonRoutes, Router } from "../../src/http/index.ts";
import { metricsWithProcess, processMetricsRegistry } from "../../src/metrics/index.ts";

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

it("joins a registry with no metrics, and one whose text lacks the final newline", async () => {
  const empty = await metricsWithProcess(new Registry());
  assert.equal(declaredNames(empty)[0], declaredNames(await processMetricsRegistry().metrics())[0]);
  const own = new Registry();
  own.metrics = async () => "# TYPE talaria_x gauge\ntalaria_x 1";
  const joined = await metricsWithProcess(own);
  assert.match(joined, /^talaria_x 1\n# HELP /m);
});
