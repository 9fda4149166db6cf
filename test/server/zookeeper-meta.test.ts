// Two meta servers on a real ZooKeeper: one leads, the other answers ERR_NOT_LEADER naming it;
// when the leader goes away the other takes over with every table, and clients keep working.
// Needs TALARIA_ZK (.ci/run starts ZooKeeper); skipped otherwise.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { createClient } from "../../src/client/index.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { defaultConfig } from "../../src/config/index.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import { type RunningMetaServer, startMetaServer } from "../../src/server/meta-server.ts";
import { type RunningReplicaServer, startReplicaServer } from "../../src/server/replica-server.ts";
import { freePort } from "../support/ports.ts";
import { allHealthy, eventually } from "./cluster-support.ts";

const zk = process.env.TALARIA_ZK;
function zkHosts() {
  return (zk ?? "").split(",").map((text) => {
    const [host, port] = text.split(":");
    return { host: host ?? "", port: Number(port) };
  });
}
const skip = zk === undefined ? "ZooKeeper tests skipped: set TALARIA_ZK (see .ci/run)" : false;

it("meta servers fail over through ZooKeeper without losing metadata", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "talaria-zkmeta-"));
  const root = `/talaria-test-${randomUUID()}/zkcluster`;
  const ports = [await freePort(), await freePort()];
  const serverList = ports.map((port) => ({ host: "127.0.0.1", port }));
  const timings = {
    fdBeaconIntervalSeconds: 1,
    fdCheckIntervalSeconds: 1,
    fdLeaseSeconds: 3,
    fdGraceSeconds: 4,
    groupCheckIntervalMs: 500,
  };
  const metaConfig = (port: number) =>
    defaultConfig({
      metaServer: {
        port,
        httpPort: 0,
        serverList,
        clusterRoot: root,
        metaStateServiceType: "zookeeper",
      },
      zookeeper: { hostsList: zkHosts(), timeoutMs: 4000 },
      replication: timings,
    });
  const metas: (RunningMetaServer | undefined)[] = [];
  const replicas: RunningReplicaServer[] = [];
  const rpc = new RpcClient({ name: "zk-test" });
  const client = createClient({
    metaServers: ports.map((p) => `127.0.0.1:${p}`),
    timeoutMs: 15_000,
  });
  after(async () => {
    await client.close();
    await rpc.close();
    await Promise.all(replicas.map((r) => r.close()));
    await Promise.all(metas.map((m) => m?.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  metas[0] = await startMetaServer(metaConfig(ports[0] as number), silentLogger);
  await metas[0].leading;
  metas[1] = await startMetaServer(metaConfig(ports[1] as number), silentLogger);
  await assert.rejects(
    rpc.call(`127.0.0.1:${ports[1]}`, MetaMethod.LIST_APPS, {}, { timeoutMs: 5000 }),
    (error) => {
      assert.ok(isTalariaError(error, "ERR_NOT_LEADER"));
      assert.equal(error.details.leader, `127.0.0.1:${ports[0]}`);
      return true;
    },
  );
  for (let i = 0; i < 3; i++) {
    const config = defaultConfig({
      metaServer: {
        port: ports[0] as number,
        httpPort: 0,
        serverList,
        clusterRoot: root,
        metaStateServiceType: "zookeeper",
      },
      zookeeper: { hostsList: zkHosts() },
      replicaServer: { port: await freePort(), httpPort: 0, dataDir: join(dir, `r${i}`) },
      replication: timings,
    });
    replicas.push(await startReplicaServer(config, silentLogger));
  }
  await eventually("three live nodes", 20_000, async () => {
    const nodes = (await client.metaSession.call(MetaMethod.LIST_NODES, {}, 5000)) as {
      nodes: { status: string }[];
    };
    return nodes.nodes.filter((n) => n.status === "ALIVE").length === 3;
  });
  await client.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "z", partitionCount: 2, replicaCount: 3 },
    10_000,
  );
  await eventually("a healthy table", 20_000, allHealthy(client));
  await client.table("z").set("before", "s", "1");

  await metas[0].close(); // the leader resigns and goes away; the follower campaigns and wins
  metas[0] = undefined;
  await metas[1].leading;
  const restored = (await client.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: "z" },
    10_000,
  )) as QueryConfigurationResponse;
  assert.equal(restored.partitions.length, 2);
  assert.equal((await client.table("z").get("before", "s"))?.toString(), "1");
  await client.table("z").set("after", "s", "2");
  assert.equal((await client.table("z").get("after", "s"))?.toString(), "2");
});
