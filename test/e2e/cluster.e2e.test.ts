// End-to-end with real processes: a onebox cluster (one meta server, three replica servers as
// child processes), driven by the shell binary, the runnable client example and the client.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { allHealthy, clusterInfo, eventually, writeLoad } from "../server/cluster-support.ts";
import { type E2eOnebox, startE2eOnebox } from "./onebox-fixture.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
let box: E2eOnebox;
let client: TalariaClient;
let meta: string;

function shell(...commands: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    ["bin/talaria", "shell", "--meta", meta, "-e", commands.join("; ")],
    {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

before(async () => {
  box = await startE2eOnebox(1, 3);
  meta = box.clusters[0]?.metaAddress ?? "";
  client = createClient({ metaServers: [meta], timeoutMs: 20_000 });
});
after(async () => {
  await client?.close();
  await box?.close();
});

it("the shell creates a table and reads and writes it; the client example runs", async () => {
  const created = shell("create demo -p 4 -r 3");
  assert.equal(created.status, 0, created.stderr);
  await eventually("a healthy table", 30_000, allHealthy(client));
  const session = shell(
    "use demo",
    "set user1 name alice",
    "get user1 name",
    "incr user1 n 2",
    "exist user1 name",
  );
  assert.equal(session.status, 0, session.stderr);
  assert.match(session.stdout, /alice/);
  const example = spawnSync(process.execPath, ["--import", "tsx", "examples/quickstart.ts", meta], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(example.status, 0, example.stderr);
  assert.match(example.stdout, /done/);
});

it("kill -9 of a primary's server under write load: no acknowledged write lost, service resumes", async () => {
  const config = (await client.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: "demo" },
    5000,
  )) as QueryConfigurationResponse;
  const victim = config.partitions[0]?.primary;
  const cluster = box.clusters[0];
  const process = cluster?.processes.find((p) => p.address === victim);
  assert.ok(cluster !== undefined && process !== undefined);
  const load = writeLoad(client, "demo", 8);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  box.onebox.kill(cluster.name, process.name);
  await eventually(
    "the dead server noticed",
    30_000,
    async () => (await clusterInfo(client)).nodes.dead === 1,
  );
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const acked = await load.stop();
  assert.ok(acked.length > 100, `only ${acked.length} writes acknowledged`);
  const table = client.table("demo");
  const lost: number[] = [];
  for (const n of acked)
    if ((await table.get(`key-${n}`, "s"))?.toString() !== `v${n}`) lost.push(n);
  assert.deepEqual(lost, [], "acknowledged writes lost");
  await table.set("after-kill", "s", "ok");
  box.onebox.restart(cluster.name, process.name);
  await eventually("full health after the server returns", 90_000, allHealthy(client));
});

it("the meta server restarts (kill -9) and clients keep working; drop and recall a table", async () => {
  const cluster = box.clusters[0];
  assert.ok(cluster !== undefined);
  box.onebox.kill(cluster.name, "meta");
  box.onebox.restart(cluster.name, "meta");
  await eventually(
    "the meta server back with every node",
    60_000,
    async () => (await clusterInfo(client)).nodes.alive === 3,
  );
  const table = client.table("demo");
  await table.set("after-meta", "s", "ok");
  assert.equal((await table.get("after-kill", "s"))?.toString(), "ok");

  const dropped = shell("drop demo");
  assert.equal(dropped.status, 0, dropped.stderr);
  const missing = shell("use demo");
  assert.notEqual(missing.status, 0);
  const listed = shell("ls -a");
  assert.match(listed.stdout, /demo/);
  const appId = JSON.parse(
    spawnSync(process.execPath, ["bin/talaria", "shell", "--meta", meta, "--json", "-e", "ls -a"], {
      cwd: ROOT,
      encoding: "utf8",
    }).stdout,
  ) as { result: { apps?: { appId: number }[] } | { appId: number }[] };
  const apps = Array.isArray(appId.result) ? appId.result : (appId.result.apps ?? []);
  const id = apps[0]?.appId;
  assert.ok(id !== undefined);
  const recalled = shell(`recall ${id}`);
  assert.equal(recalled.status, 0, recalled.stderr);
  await eventually(
    "the recalled table serving",
    60_000,
    async () => (await table.get("after-meta", "s"))?.toString() === "ok",
  );
});
