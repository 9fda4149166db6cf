/**
 * A replica server that was replaced while it was away comes back with stale replicas: the meta
 * server names them once their partitions are full and confirmed on the other servers, the server
 * stops hosting them, moves them aside and deletes them after the hold period; no data is lost.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { type InProcessCluster, startInProcessCluster } from "./cluster-fixture.ts";
import { allHealthy, clusterInfo, eventually } from "./cluster-support.ts";

let cluster: InProcessCluster;
let client: TalariaClient;

before(async () => {
  cluster = await startInProcessCluster(4, undefined, {
    gcIntervalMs: 300,
    gcDiskGarbageReplicaIntervalSeconds: 2,
  });
  client = createClient({ metaServers: [cluster.metaAddress], timeoutMs: 10_000 });
  await eventually(
    "4 replica servers alive",
    15_000,
    async () => (await clusterInfo(client)).nodes.alive === 4,
  );
});
after(async () => {
  await client.close();
  await cluster.close();
});

it("a returning server's stale replicas are retired, then deleted after the hold; no data is lost", async () => {
  const created = (await client.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "s", partitionCount: 2, replicaCount: 3 },
    5000,
  )) as { app: { appId: number } };
  const appId = created.app.appId;
  await eventually("a healthy table", 15_000, allHealthy(client));
  const table = client.table("s");
  for (let i = 0; i < 50; i += 1) await table.set(`k${i}`, "s", `v${i}`);

  const dataDir = (index: number) => cluster.configs[index]?.replicaServer.dataDir as string;
  const dirs = (index: number, suffix = "") =>
    readdirSync(dataDir(index))
      .filter((name) => name.startsWith(`${appId}.`) && name.endsWith(suffix))
      .sort();
  // The server hosting the most of the table's replicas goes away.
  const away = [0, 1, 2, 3].sort((a, b) => dirs(b).length - dirs(a).length)[0] as number;
  const address = `127.0.0.1:${cluster.configs[away]?.replicaServer.port}`;
  // Where the returning server is a member again (a partition that fell short meanwhile — a
  // member failing for a moment under load — takes it back as the best learner), its replica is
  // not stale; every other replica of the table there must be retired.
  const memberOf = async () => {
    const answer = (await client.metaSession.call(
      MetaMethod.QUERY_CONFIGURATION,
      { appName: "s" },
      5000,
    )) as QueryConfigurationResponse;
    return new Set(
      answer.partitions
        .filter((c) => c.primary === address || c.secondaries.includes(address))
        .map((c) => `${appId}.${c.gpid.partitionIndex}`),
    );
  };
  // Both partitions end up on the same three servers, so one failing member makes both short and
  // the returning server may be taken back everywhere: then nothing was stale, and it goes away
  // again (at most three rounds).
  let retired = 0;
  let keys = 50;
  for (let round = 1; round <= 3 && retired === 0; round += 1) {
    const held = dirs(away).filter((name) => !name.endsWith(".stale"));
    assert.ok(held.length > 0);
    await cluster.stopReplica(away);
    await eventually("the table full again on the other three servers", 30_000, async () => {
      const info = await clusterInfo(client);
      return info.nodes.alive === 3 && (await allHealthy(client)());
    });
    for (const end = keys + 50; keys < end; keys += 1) await table.set(`k${keys}`, "s", `v${keys}`);
    await cluster.startReplica(away);
    await eventually(
      `round ${round}: each replica moved aside as stale or a member`,
      15_000,
      async () => {
        const members = await memberOf();
        const left = dirs(away).filter((name) => !name.endsWith(".stale"));
        return (
          left.every((name) => members.has(name)) &&
          (dirs(away, ".stale").length > 0 || held.every((name) => members.has(name)))
        );
      },
    ).catch(async (error: unknown) => {
      const members = await memberOf().catch(() => new Set<string>());
      throw new Error(
        `${String(error)}; dirs: ${dirs(away).join(", ")}; member of: ${[...members].join(", ")}`,
      );
    });
    retired = dirs(away, ".stale").length;
    assert.ok(retired <= held.length);
  }
  assert.ok(retired > 0, "three rounds without a stale replica");
  const server = cluster.replicas.find((r) => r.address === address);
  assert.ok(server !== undefined);
  const members = await memberOf();
  for (const report of server.stub.reports())
    if (report.gpid.appId === appId)
      assert.ok(members.has(`${appId}.${report.gpid.partitionIndex}`), "only members hosted");
  await eventually(
    "deleted after the 2 s hold",
    15_000,
    async () => dirs(away, ".stale").length === 0,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; dirs: ${dirs(away).join(", ")}`);
  });
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  assert.match(text, new RegExp(`^talaria_replica_stale_replicas_retired_total ${retired}$`, "m"));
  assert.match(text, new RegExp(`^talaria_replica_stale_replicas_deleted_total ${retired}$`, "m"));

  await eventually(
    "4 replica servers alive",
    15_000,
    async () => (await clusterInfo(client)).nodes.alive === 4,
  );
  // The primary balancer may be moving a primary onto the returning server (ballot + 1): wait.
  await eventually("the table healthy with 4 servers", 15_000, allHealthy(client));
  for (let i = 0; i < keys; i += 1)
    assert.equal((await table.get(`k${i}`, "s"))?.toString(), `v${i}`, `k${i}`);
});
