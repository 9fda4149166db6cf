import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { defaultConfig } from "../../src/config/index.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import { startMetaServer } from "../../src/server/meta-server.ts";
import { freePort } from "../support/ports.ts";

const dir = mkdtempSync(join(tmpdir(), "talaria-meta-"));
const rpc = new RpcClient({ name: "test" });
after(async () => {
  await rpc.close();
  rmSync(dir, { recursive: true, force: true });
});

it("serves DDL, beacons and HTTP, and restores everything after a restart", async () => {
  const port = await freePort();
  const httpPort = await freePort();
  const config = defaultConfig({ metaServer: { port, httpPort, dataDir: join(dir, "meta") } });
  let meta = await startMetaServer(config, silentLogger);
  await meta.leading;
  const address = meta.address;
  const call = (method: string, payload: unknown) =>
    rpc.call(address, method, payload, { timeoutMs: 5000 });

  await assert.rejects(
    call(MetaMethod.CREATE_APP, { appName: "t", partitionCount: 4, replicaCount: 3 }),
    (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"),
  );
  const nodes = ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"];
  for (const node of nodes) await call(MetaMethod.BEACON, { node, replicas: [] });
  const created = (await call(MetaMethod.CREATE_APP, {
    appName: "t",
    partitionCount: 4,
    replicaCount: 3,
    envs: { "replica.write_throttling": "1000*delay*100" },
  })) as QueryConfigurationResponse;
  assert.equal(created.partitions.length, 4);
  for (const partition of created.partitions) {
    assert.equal(partition.secondaries.length, 2);
    assert.ok(partition.primary !== undefined && nodes.includes(partition.primary));
  }
  await assert.rejects(
    call(MetaMethod.CREATE_APP, { appName: "t", partitionCount: 1, replicaCount: 1 }),
    (e) => isTalariaError(e, "ERR_APP_EXIST"),
  );
  await assert.rejects(call(MetaMethod.QUERY_CONFIGURATION, { appName: 42 }), (e) =>
    isTalariaError(e, "ERR_INVALID_PARAMETERS"),
  );
  await assert.rejects(call("meta.nope", {}), (e) => isTalariaError(e, "ERR_HANDLER_NOT_FOUND"));

  const beacon = (await call(MetaMethod.BEACON, { node: nodes[0], replicas: [] })) as {
    configs: unknown[];
    leaseMs: number;
  };
  assert.ok(beacon.configs.length >= 1);
  assert.equal(beacon.leaseMs, 9000);

  const http = await fetch(`http://127.0.0.1:${httpPort}/meta/app?name=t`);
  assert.equal(http.status, 200);
  assert.equal(((await http.json()) as QueryConfigurationResponse).app.appName, "t");
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  assert.match(metrics, /talaria_rpc_/);
  // The runtime's metrics follow the server's own.
  for (const name of ["process_cpu_seconds_total", "nodejs_eventloop_lag_p99_seconds"]) {
    assert.match(metrics, new RegExp(`^${name} [0-9.e+-]+$`, "m"), name);
  }

  await call(MetaMethod.DROP_APP, { appName: "t" });
  await assert.rejects(call(MetaMethod.QUERY_CONFIGURATION, { appName: "t" }), (e) =>
    isTalariaError(e, "ERR_APP_NOT_EXIST"),
  );
  await meta.close();

  meta = await startMetaServer(config, silentLogger);
  await meta.leading;
  const listed = (await call(MetaMethod.LIST_APPS, {})) as {
    apps: { appId: number; appName: string; status: string }[];
  };
  assert.deepEqual(
    listed.apps.map((a) => [a.appName, a.status]),
    [["t", "DROPPED"]],
  );
  await call(MetaMethod.RECALL_APP, { appId: created.app.appId });
  const recalled = (await call(MetaMethod.QUERY_CONFIGURATION, {
    appName: "t",
  })) as QueryConfigurationResponse;
  assert.deepEqual(
    recalled.partitions.map((p) => p.primary),
    created.partitions.map((p) => p.primary),
  );
  assert.equal(recalled.app.envs["replica.write_throttling"], "1000*delay*100");
  await meta.close();
});
