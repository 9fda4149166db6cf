import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { type InProcessCluster, startInProcessCluster } from "./cluster-fixture.ts";
import { allHealthy, clusterInfo, eventually, writeLoad } from "./cluster-support.ts";

let cluster: InProcessCluster;
let client: TalariaClient;

before(async () => {
  cluster = await startInProcessCluster(3);
  client = createClient({ metaServers: [cluster.metaAddress], timeoutMs: 10_000 });
  await eventually(
    "3 replica servers alive",
    15_000,
    async () => (await clusterInfo(client)).nodes.alive === 3,
  );
  await client.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "t", partitionCount: 4, replicaCount: 3 },
    5000,
  );
  await eventually("a healthy table", 15_000, allHealthy(client));
});
after(async () => {
  await client.close();
  await cluster.close();
});

it("replicates writes to every member: reads see them, and each secondary holds them", async () => {
  const table = client.table("t");
  for (let i = 0; i < 50; i++) await table.set(`h${i}`, "s", `v${i}`);
  await table.incr("counter", "n", 7);
  for (let i = 0; i < 50; i++) assert.equal((await table.get(`h${i}`, "s"))?.toString(), `v${i}`);
  const config = (await client.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: "t" },
    5000,
  )) as QueryConfigurationResponse;
  await eventually("secondaries to apply everything", 10_000, async () => {
    for (const partition of config.partitions) {
      const decrees = cluster.replicas.map(
        (server) => server.stub.replica(partition.gpid)?.lastAppliedDecree ?? -1,
      );
      if (new Set(decrees).size !== 1) return false;
    }
    return true;
  });
});

it("a replica server going away: writes continue after failover, none acknowledged is lost, and it rejoins", async () => {
  const load = writeLoad(client, "t", 8);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await cluster.stopReplica(0);
  await eventually(
    "the meta server to see the dead server",
    15_000,
    async () => (await clusterInfo(client)).nodes.dead === 1,
  );
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const acked = await load.stop();
  assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged`);
  const table = client.table("t");
  const missing: number[] = [];
  for (const n of acked)
    if ((await table.get(`key-${n}`, "s"))?.toString() !== `v${n}`) missing.push(n);
  assert.deepEqual(missing, [], "every acknowledged write is readable after failover");

  await cluster.startReplica(0);
  await eventually("every partition healthy again", 60_000, allHealthy(client));
  for (const n of acked.slice(0, 100))
    assert.equal((await table.get(`key-${n}`, "s"))?.toString(), `v${n}`);
});
