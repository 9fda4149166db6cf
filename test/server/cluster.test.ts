import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

it("every replica server's private-log fdatasyncs go through its placement, shown in /metrics", async () => {
  await client.table("t").set("fdatasync", "s", "v");
  for (const server of cluster.replicas) {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    const runs = (place: string) =>
      Number(
        new RegExp(`^talaria_plog_fdatasync_runs_total\\{place="${place}"\\} (\\d+)`, "m").exec(
          text,
        )?.[1] ?? Number.NaN,
      );
    // Every replica's log syncs (its creation, the writes above) counted once, wherever they ran.
    assert.ok(runs("inline") + runs("thread") > 0, `no fdatasync counted on ${server.address}`);
    assert.match(text, /^talaria_plog_fdatasync_inline [01]$/m);
    assert.match(text, /^talaria_plog_fdatasync_inline_median_seconds \d/m);
  }
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

it("table envs reach every replica: deny (reconfig, timeout) and write throttling (delay, reject)", async () => {
  const table = client.table("t");
  const setEnvs = (envs: Record<string, string>) =>
    client.metaSession.call(MetaMethod.SET_APP_ENVS, { appName: "t", envs }, 5000);
  const clearEnvs = () =>
    client.metaSession.call(MetaMethod.DEL_APP_ENVS, { appName: "t", prefix: "replica." }, 5000);
  const codeOf = async (write: Promise<unknown>) => {
    try {
      await write;
      return "OK";
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };

  await setEnvs({ "replica.deny_client_request": "reconfig*write" });
  await eventually(
    "writes denied with ERR_INVALID_STATE",
    10_000,
    async () =>
      (await codeOf(table.set("deny", "s", "v", { timeoutMs: 300 }))) === "ERR_INVALID_STATE",
  );
  assert.equal((await table.get("h1", "s"))?.toString(), "v1", "reads still served");
  await setEnvs({ "replica.deny_client_request": "timeout*all" });
  await eventually(
    "requests dropped without reply",
    10_000,
    async () => (await codeOf(table.get("h1", "s", { timeoutMs: 300 }))) === "ERR_TIMEOUT",
  );
  await clearEnvs();
  await eventually(
    "writes served again",
    10_000,
    async () => (await codeOf(table.set("deny", "s", "v", { timeoutMs: 1000 }))) === "OK",
  );

  // 4 partitions: 1 unit per table → 1 per partition and second.
  await setEnvs({ "replica.write_throttling": "1*reject*50" });
  await eventually("the second write in a second rejected with ERR_BUSY", 10_000, async () => {
    await codeOf(table.set("throttled", "a", "v", { timeoutMs: 200 }));
    return (await codeOf(table.set("throttled", "b", "v", { timeoutMs: 200 }))) === "ERR_BUSY";
  });
  await setEnvs({ "replica.write_throttling": "1*delay*400" });
  await eventually("the second write in a second delayed", 10_000, async () => {
    await table.set("slow", "a", "v");
    const start = Date.now();
    await table.set("slow", "b", "v");
    return Date.now() - start >= 300;
  });
  await clearEnvs();
});

it("replicas of a table removed for good are deleted on every server, the rest left alone", async () => {
  const create = async (appName: string) =>
    (
      (await client.metaSession.call(
        MetaMethod.CREATE_APP,
        { appName, partitionCount: 2, replicaCount: 3 },
        5000,
      )) as { app: { appId: number } }
    ).app.appId;
  const drop = (appName: string, reserveSeconds: number) =>
    client.metaSession.call(MetaMethod.DROP_APP, { appName, reserveSeconds }, 5000);
  const dirsOf = (appId: number) =>
    cluster.configs.flatMap((config) =>
      readdirSync(config.replicaServer.dataDir).filter((name) => name.startsWith(`${appId}.`)),
    );
  const deletedCount = async () => {
    let sum = 0;
    for (const server of cluster.replicas) {
      const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      const match = /^talaria_replica_removed_replicas_deleted_total (\d+)/m.exec(text);
      sum += Number(match?.[1] ?? 0);
    }
    return sum;
  };

  // "closed": dropped with a hold period, so every server closes its replicas and keeps the data
  // (no longer hosted, reported as stored); "open": removed at once, still hosted when removed.
  const closedId = await create("gc-closed");
  const openId = await create("gc-open");
  await eventually("both tables healthy", 15_000, allHealthy(client));
  await client.table("gc-closed").set("h", "s", "v");
  await client.table("gc-open").set("h", "s", "v");
  // Healthy is the meta server's view: each server opens its replicas on its next beacon.
  await eventually("every replica opened", 10_000, async () => dirsOf(closedId).length === 6);
  await drop("gc-closed", 4);
  await eventually("the dropped table's replicas closed everywhere", 10_000, async () =>
    cluster.replicas.every((server) =>
      server.stub.reports().every((report) => report.gpid.appId !== closedId),
    ),
  );
  assert.equal(dirsOf(closedId).length, 6, "kept while the table can be recalled");
  const partitions = (await (
    await fetch(`http://127.0.0.1:${cluster.replicas[0]?.httpPort}/replica/partitions`)
  ).json()) as { storedAppIds: number[] };
  assert.deepEqual(partitions.storedAppIds, [closedId]);
  await drop("gc-open", 0);
  await eventually("both tables' replicas deleted on every server", 20_000, async () => {
    return dirsOf(closedId).length === 0 && dirsOf(openId).length === 0;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}; left: ${[...dirsOf(closedId), ...dirsOf(openId)]}`);
  });
  assert.equal(await deletedCount(), 12);
  for (const server of cluster.replicas) assert.deepEqual(server.stub.storedAppIds(), []);
  assert.equal(dirsOf(1).length, 12, "the live table's replicas are untouched");
  assert.equal((await client.table("t").get("h1", "s"))?.toString(), "v1");

  // A deletion cut short by a crash leaves a `.gar` directory: the next start deletes it.
  const dataDir = cluster.configs[0]?.replicaServer.dataDir as string;
  mkdirSync(join(dataDir, `${closedId}.0.gar`, "data"), { recursive: true });
  writeFileSync(join(dataDir, `${closedId}.0.gar`, "data", "data.mdb"), "x");
  await cluster.stopReplica(0);
  await cluster.startReplica(0);
  assert.ok(!existsSync(join(dataDir, `${closedId}.0.gar`)));
  await eventually(
    "3 replica servers alive",
    15_000,
    async () => (await clusterInfo(client)).nodes.alive === 3,
  );
  await eventually("the live table healthy again", 15_000, allHealthy(client));
});
