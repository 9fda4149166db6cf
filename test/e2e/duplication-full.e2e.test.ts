// End-to-end full duplication between two real clusters (onebox --clusters 2): `add_dup -s` of a
// table that already holds data and keeps being written, with no follower table on the target;
// the follower table is created with the master envs and the source's partition count, its
// primaries pull their checkpoints from the master replica servers, shipping continues from the
// checkpoint decree, and both tables end identical. Then a re-sync of a paused duplication sends
// what the log did not ship, while newer data on the target survives (last write wins). The
// shell's wait_dup follows the first one to DS_LOG.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
  type DuplicationStatus,
  FollowerEnv,
  type QueryDuplicationResponse,
} from "../../src/protocol/duplication-messages.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { allHealthy, eventually, writeLoad } from "../server/cluster-support.ts";
import { type E2eOnebox, startE2eOnebox } from "./onebox-fixture.ts";

let box: E2eOnebox;
let alpha: TalariaClient;
let beta: TalariaClient;

async function dump(client: TalariaClient, table: string): Promise<string[]> {
  const rows: string[] = [];
  for await (const kv of client.table(table).scan({ batchSize: 500 }))
    rows.push(`${kv.hashKey}/${kv.sortKey}=${kv.value}`);
  return rows.sort();
}

async function status(appName: string, dupid: number): Promise<DuplicationStatus | undefined> {
  const query = (await alpha.metaSession.call(
    DuplicationMethod.QUERY,
    { appName },
    10_000,
  )) as QueryDuplicationResponse;
  return query.duplications.find((d) => d.dupid === dupid)?.status;
}

/** Runs `talaria shell -e <command>` against alpha in a child process (the test's loop runs on). */
function shell(
  command: string,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const meta = box.clusters[0]?.metaAddress ?? "";
  const child = spawn(process.execPath, ["bin/talaria", "shell", "--meta", meta, "-e", command], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  box = await startE2eOnebox(2, 3);
  alpha = createClient({ metaServers: [box.clusters[0]?.metaAddress ?? ""], timeoutMs: 20_000 });
  beta = createClient({ metaServers: [box.clusters[1]?.metaAddress ?? ""], timeoutMs: 20_000 });
  await alpha.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "full", partitionCount: 4, replicaCount: 3 },
    10_000,
  );
  await eventually("alpha healthy", 30_000, allHealthy(alpha));
});
after(async () => {
  await alpha?.close();
  await beta?.close();
  await box?.close();
});

it("add_dup -s copies a written table to a new follower table while writes go on; both end identical", async () => {
  const table = alpha.table("full");
  const value = "x".repeat(200);
  for (let i = 0; i < 2000; i += 50)
    await Promise.all(
      Array.from({ length: 50 }, (_, j) => table.set(`pre-${i + j}`, "s", `${value}${i + j}`)),
    );
  await table.del("pre-7", "s"); // a delete before the copy must stay deleted
  const load = writeLoad(alpha, "full", 4, "during");
  await new Promise((resolve) => setTimeout(resolve, 500));
  const added = (await alpha.metaSession.call(
    DuplicationMethod.ADD,
    { appName: "full", remoteClusterName: "beta", isDuplicatingCheckpoint: true },
    60_000,
  )) as AddDuplicationResponse;
  assert.ok(["DS_PREPARE", "DS_APP", "DS_LOG"].includes(added.status), added.status);
  // The shell's wait_dup follows it to DS_LOG (the writes go on meanwhile).
  const waited = await shell(`wait_dup full ${added.dupid}`, 180_000);
  assert.equal(waited.code, 0, waited.stderr);
  assert.equal(
    waited.stdout,
    `duplication ${added.dupid} of table full: DS_LOG\nit ships the log\n`,
  );
  assert.equal(await status("full", added.dupid), "DS_LOG");
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const acked = await load.stop();
  assert.ok(acked.length > 20, `${acked.length} writes acknowledged during the copy`);

  const follower = (await beta.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: "full" },
    10_000,
  )) as QueryConfigurationResponse;
  assert.equal(follower.app.partitionCount, 4, "the follower keeps the source's partition count");
  assert.equal(follower.app.envs[FollowerEnv.MASTER_CLUSTER], "alpha");
  assert.equal(follower.app.envs[FollowerEnv.MASTER_APP_NAME], "full");
  assert.equal(follower.app.envs[FollowerEnv.FOLLOWER_APP_STATUS], "created");
  await eventually("beta's follower table is healthy", 60_000, allHealthy(beta));

  const expected = await dump(alpha, "full");
  assert.ok(expected.length >= 1999 + acked.length);
  await eventually("beta holds exactly alpha's rows", 120_000, async () => {
    const rows = await dump(beta, "full");
    return rows.length === expected.length && rows.every((row, i) => row === expected[i]);
  });
  assert.equal(await beta.table("full").get("pre-7", "s"), undefined);
});

it("resync_dup sends what a paused duplication did not ship, and newer target data wins", async () => {
  const query = (await alpha.metaSession.call(
    DuplicationMethod.QUERY,
    { appName: "full" },
    10_000,
  )) as QueryDuplicationResponse;
  const dupid = query.duplications[0]?.dupid ?? 0;
  await alpha.metaSession.call(
    DuplicationMethod.MODIFY,
    { appName: "full", dupid, status: "DS_PAUSE" },
    10_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const table = alpha.table("full");
  for (let i = 0; i < 100; i++) await table.set(`paused-${i}`, "s", `a${i}`);
  await table.set("contested", "s", "from-alpha");
  await new Promise((resolve) => setTimeout(resolve, 20));
  await beta.table("full").set("contested", "s", "newer-on-beta");
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.equal(await beta.table("full").get("paused-0", "s"), undefined, "paused: not shipped");

  await alpha.metaSession.call(DuplicationMethod.RESYNC, { appName: "full", dupid }, 10_000);
  await eventually("the re-sync ends back in DS_PAUSE", 180_000, async () => {
    return (await status("full", dupid)) === "DS_PAUSE";
  });
  for (let i = 0; i < 100; i++)
    assert.equal((await beta.table("full").get(`paused-${i}`, "s"))?.toString(), `a${i}`);
  assert.equal((await beta.table("full").get("contested", "s"))?.toString(), "newer-on-beta");
});
