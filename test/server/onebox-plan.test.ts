import assert from "node:assert/strict";
import { it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { parseConfig, renderConfig } from "../../src/config/index.ts";
import { planOnebox } from "../../src/server/onebox-plan.ts";

it("plans clusters with distinct ports, valid configs and each other's addresses and ids", () => {
  const clusters = planOnebox({ dir: "/tmp/ob", clusters: 2, replicas: 3 });
  assert.deepEqual(
    clusters.map((c) => [c.name, c.clusterId, c.metaAddress]),
    [
      ["alpha", 1, "127.0.0.1:34601"],
      ["beta", 2, "127.0.0.1:35601"],
    ],
  );
  const ports = clusters.flatMap((c) =>
    c.processes.flatMap((p) => [Number(p.address.split(":")[1]), p.httpPort]),
  );
  assert.equal(new Set(ports).size, ports.length, "no two endpoints share a port");
  for (const cluster of clusters) {
    assert.equal(cluster.processes.length, 4);
    for (const process of cluster.processes) {
      const reparsed = parseConfig(renderConfig(process.config), { source: process.configFile });
      assert.equal(reparsed.replication.clusterName, cluster.name);
      assert.deepEqual(reparsed.duplicationGroup, { alpha: 1, beta: 2 });
      assert.deepEqual(Object.keys(reparsed.pegasusClusters).sort(), ["alpha", "beta"]);
      assert.equal(`${reparsed.metaServer.host}:${reparsed.metaServer.port}`, cluster.metaAddress);
    }
  }
  assert.throws(
    () => planOnebox({ dir: "/tmp/ob", clusters: 4, replicas: 3 }),
    (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"),
  );
});
