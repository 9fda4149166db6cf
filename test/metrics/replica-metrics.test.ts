import assert from "node:assert/strict";
import { it } from "node:test";
import { Registry, ReplicaMetrics } from "../../src/metrics/index.ts";
import { ACTIVATION_DECREES, b, openTestReplica, set } from "../replica/replica-fixture.ts";

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it("replicas report writes, errors, latency, decrees and plog/storage counters", async () => {
  const registry = new Registry();
  const metrics = new ReplicaMetrics(registry);
  const { replica } = await openTestReplica({ metrics, gpid: "3.1" });
  for (let i = 0; i < 3; i++) await replica.write(set("h", `${i}`, "v"));
  await assert.rejects(
    replica.write({
      op: "set",
      hashKey: b("h"),
      sortKey: Buffer.alloc(1976),
      value: b(""),
      expireTs: 0,
    }),
  );
  let text = await registry.metrics();
  assert.equal(sample(text, 'talaria_replica_writes_total{op="set"}'), 3);
  assert.equal(
    sample(text, 'talaria_replica_write_errors_total{op="set",code="ERR_LIMIT_EXCEEDED"}'),
    1,
  );
  assert.equal(sample(text, 'talaria_replica_write_duration_seconds_count{op="set"}'), 3);
  // The replica's activation mutation is logged and applied like the 3 writes.
  const logged = ACTIVATION_DECREES + 3;
  assert.equal(sample(text, 'talaria_storage_last_applied_decree{gpid="3.1"}'), logged);
  assert.equal(sample(text, 'talaria_plog_appended_records_total{gpid="3.1"}'), logged);
  const fsyncs = sample(text, 'talaria_plog_fsyncs_total{gpid="3.1"}');
  assert.ok(fsyncs !== undefined && fsyncs >= 1 && fsyncs <= logged);
  assert.ok((sample(text, 'talaria_plog_written_bytes_total{gpid="3.1"}') ?? 0) > 0);

  await replica.close();
  text = await registry.metrics();
  assert.equal(sample(text, 'talaria_storage_last_applied_decree{gpid="3.1"}'), undefined);
});
