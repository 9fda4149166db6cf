// End-to-end recovery of a duplication that fell out of its log: two real clusters (alpha → beta,
// child processes), alpha reaching beta through the fault proxy, alpha's replica servers keeping
// at most 1 MiB of log for a duplication (`dup_max_retained_log_bytes`) in 1 MiB segments. The
// link is cut while alpha is written past that bound — overwrites, deletes, new keys — so every
// partition reports `log_truncated` and alpha's replica servers hold the table's tombstones; the
// link heals, and one `resync_dup` brings beta to exactly alpha's contents, deletes included, with
// shipping going on from the re-sync's checkpoints.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
  type DuplicationStatus,
  type QueryDuplicationResponse,
} from "../../src/protocol/duplication-messages.ts";
import { MetaMethod, type QueryConfigurationResponse } from "../../src/protocol/index.ts";
import { FaultProxy } from "../../src/testing/index.ts";
import { allHealthy, eventually } from "../server/cluster-support.ts";
import { type E2eOnebox, startE2eOnebox, throughProxy } from "./onebox-fixture.ts";

const TABLE = "trunc";
const BIG = "b".repeat(64 * 1024);

let box: E2eOnebox;
let proxy: FaultProxy;
let alpha: TalariaClient;
let beta: TalariaClient;
let dupid: number;
let appId: number;

async function dump(client: TalariaClient): Promise<string[]> {
  const rows: string[] = [];
  for await (const kv of client.table(TABLE).scan({ batchSize: 200 }))
    rows.push(
      `${kv.hashKey}/${kv.sortKey}=${kv.value.length > 64 ? `<${kv.value.length} B>` : kv.value}`,
    );
  return rows.sort();
}

async function query(): Promise<QueryDuplicationResponse["duplications"][number] | undefined> {
  const answer = (await alpha.metaSession.call(
    DuplicationMethod.QUERY,
    { appName: TABLE },
    10_000,
  )) as QueryDuplicationResponse;
  return answer.duplications.find((d) => d.dupid === dupid);
}

async function status(): Promise<DuplicationStatus | undefined> {
  return (await query())?.status;
}

/** `talaria_dup_tombstone_holds{app_id}` of the table on each of alpha's replica servers. */
async function tombstoneHolds(): Promise<number[]> {
  const alphaBox = box.clusters.find((c) => c.name === "alpha");
  assert.ok(alphaBox !== undefined);
  const holds: number[] = [];
  for (const server of alphaBox.processes.filter((p) => p.role === "replica")) {
    const text = await (
      await fetch(`http://127.0.0.1:${server.httpPort}/metrics?name=talaria_dup_tombstone_holds`)
    ).text();
    const line = text
      .split("\n")
      .find((l) => l.startsWith(`talaria_dup_tombstone_holds{app_id="${appId}"}`));
    holds.push(line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return holds;
}

before(async () => {
  proxy = await FaultProxy.start();
  box = await startE2eOnebox(2, 3, (plan) =>
    throughProxy(plan, "alpha", "beta", proxy.address, {
      dupMaxRetainedLogBytes: 1024 * 1024,
      logPrivateFileSizeMb: 1,
      dupProgressMinUpdatePeriodMs: 1000,
    }),
  );
  alpha = createClient({ metaServers: [box.clusters[0]?.metaAddress ?? ""], timeoutMs: 20_000 });
  beta = createClient({ metaServers: [box.clusters[1]?.metaAddress ?? ""], timeoutMs: 20_000 });
  for (const client of [alpha, beta]) {
    await client.metaSession.call(
      MetaMethod.CREATE_APP,
      { appName: TABLE, partitionCount: 2, replicaCount: 3 },
      10_000,
    );
    await eventually("healthy", 30_000, allHealthy(client));
  }
  const config = (await alpha.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: TABLE },
    10_000,
  )) as QueryConfigurationResponse;
  appId = config.app.appId;
  const added = (await alpha.metaSession.call(
    DuplicationMethod.ADD,
    { appName: TABLE, remoteClusterName: "beta" },
    60_000,
  )) as AddDuplicationResponse;
  assert.equal(added.status, "DS_LOG");
  dupid = added.dupid;
});

after(async () => {
  await alpha?.close();
  await beta?.close();
  await box?.close();
  await proxy?.close();
});

it("a duplication pushed out of its log by a cut link is brought back whole by one resync_dup", async () => {
  const table = alpha.table(TABLE);
  for (let i = 0; i < 60; i++) await table.set(`base-${i}`, "s", `v${i}`);
  await eventually("the base rows on beta", 60_000, async () => {
    return (await dump(beta)).length === 60;
  });

  proxy.cut();
  for (let i = 0; i < 20; i++) await table.del(`base-${i}`, "s");
  for (let i = 20; i < 40; i++) await table.set(`base-${i}`, "s", `new${i}`);
  // ≈ 4 MiB over 2 partitions: each holds more than 1 MiB of log the remote has not confirmed.
  for (let i = 0; i < 64; i += 4) {
    await Promise.all([0, 1, 2, 3].map((j) => table.set(`big-${i + j}`, "s", BIG)));
  }
  await eventually("every partition reports log_truncated", 60_000, async () => {
    const states = (await query())?.partitionStates ?? [];
    return states.length === 2 && states.every((s) => s.failure?.kind === "log_truncated");
  });
  await eventually("alpha's replica servers hold the table's tombstones", 30_000, async () => {
    return (await tombstoneHolds()).every((held) => held === 1);
  });
  assert.equal(
    (await beta.table(TABLE).get("base-0", "s"))?.toString(),
    "v0",
    "beta has not seen the deletes",
  );

  // Re-synced while the link is still cut: the checkpoints are made, but nothing is sent before
  // beta's table carries the re-sync's mark, and the mark cannot reach beta's meta server.
  await alpha.metaSession.call(DuplicationMethod.RESYNC, { appName: TABLE, dupid }, 10_000);
  await eventually("prepared, but stuck marking beta's table", 60_000, async () => {
    const dup = await query();
    return dup?.status === "DS_PREPARE" && dup.remoteError !== undefined;
  });
  proxy.heal();
  await eventually("the re-sync ends back in DS_LOG without failures", 180_000, async () => {
    const dup = await query();
    return dup?.status === "DS_LOG" && dup.partitionStates.every((s) => s.failure === undefined);
  });
  const expected = await dump(alpha);
  assert.equal(expected.length, 40 + 64);
  let last: string[] = [];
  await eventually("beta holds exactly alpha's rows", 60_000, async () => {
    last = await dump(beta);
    return last.length === expected.length && last.every((row, i) => row === expected[i]);
  }).catch((error: unknown) => {
    const extra = last.filter((row) => !expected.includes(row));
    const missing = expected.filter((row) => !last.includes(row));
    throw new Error(`${String(error)}: extra ${extra.slice(0, 5)}, missing ${missing.slice(0, 5)}`);
  });

  // The mark was set before the checkpoints went out (alpha's meta server logs it only after
  // beta's answered), and it is gone now.
  const metaLog = readFileSync(
    join(box.clusters[0]?.processes.find((p) => p.role === "meta")?.dir ?? "", "talaria.log"),
    "utf8",
  );
  assert.match(metaLog, /the remote table is marked; the primaries send their checkpoints/);
  assert.match(metaLog, /every checkpoint sent; removing the remote table's mark/);
  const betaTable = (await beta.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: TABLE },
    10_000,
  )) as QueryConfigurationResponse;
  assert.deepEqual(
    Object.keys(betaTable.app.envs).filter((key) => key.startsWith("duplication.resync_from.")),
    [],
    "no re-sync mark left on beta's table",
  );

  // Shipping goes on from the checkpoints.
  await table.set("after", "s", "shipped");
  await eventually("a write after the re-sync reaches beta", 60_000, async () => {
    return (await beta.table(TABLE).get("after", "s"))?.toString() === "shipped";
  });
  assert.equal(await status(), "DS_LOG");
});
