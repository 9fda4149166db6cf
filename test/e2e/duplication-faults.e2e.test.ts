// End-to-end duplication under faults, with two real clusters (alpha → beta) as child processes:
// kill -9 of a source primary mid-shipping, kill -9 and restart of the source and of the target
// meta server while shipping, and the private-log hold of a duplication whose target refuses
// writes, released by removing the duplication. The clusters run with 1 MiB plog segments and a
// 1 s plog GC so a held log is visible in seconds (the defaults: 32 MiB and 30 s).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
  type QueryDuplicationResponse,
} from "../../src/protocol/duplication-messages.ts";
import {
  type CreateAppResponse,
  MetaMethod,
  type QueryConfigurationResponse,
} from "../../src/protocol/index.ts";
import { type RunningOnebox, startOnebox } from "../../src/server/onebox.ts";
import { type OneboxCluster, planOnebox, withReplication } from "../../src/server/onebox-plan.ts";
import { allHealthy, clusterInfo, eventually, writeLoad } from "../server/cluster-support.ts";
import { portFree, randomOneboxBase } from "../support/ports.ts";

const PLOG_SEGMENT_MB = 1;
const GC_INTERVAL_MS = 1000;
const REPLICA_SERVERS = 3;

let dir: string;
let clusters: readonly OneboxCluster[];
let onebox: RunningOnebox;
let alpha: TalariaClient;
let beta: TalariaClient;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Plans a two-cluster onebox on a free port range, with small plog segments and a fast GC. */
async function planTuned(base: string): Promise<OneboxCluster[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const basePort = randomOneboxBase();
    const plan = planOnebox({ dir: base, clusters: 2, replicas: REPLICA_SERVERS, basePort });
    const ports = plan.flatMap((c) =>
      c.processes.flatMap((p) => [Number(p.address.split(":")[1]), p.httpPort]),
    );
    if (!(await Promise.all(ports.map(portFree))).every(Boolean)) continue;
    return withReplication(plan, undefined, {
      logPrivateFileSizeMb: PLOG_SEGMENT_MB,
      gcIntervalMs: GC_INTERVAL_MS,
    });
  }
  throw new Error("no free port range for a onebox");
}

function cluster(name: string): OneboxCluster {
  const found = clusters.find((c) => c.name === name);
  assert.ok(found !== undefined, `no cluster ${name}`);
  return found;
}

async function createTable(
  client: TalariaClient,
  appName: string,
  partitionCount: number,
  envs: Record<string, string> = {},
): Promise<number> {
  const created = (await client.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName, partitionCount, replicaCount: REPLICA_SERVERS, envs },
    10_000,
  )) as CreateAppResponse;
  await eventually(`${appName} healthy`, 30_000, allHealthy(client));
  return created.app.appId;
}

async function addDuplication(appName: string): Promise<AddDuplicationResponse> {
  const added = (await alpha.metaSession.call(
    DuplicationMethod.ADD,
    { appName, remoteClusterName: "beta" },
    60_000,
  )) as AddDuplicationResponse;
  assert.equal(added.status, "DS_LOG");
  return added;
}

function queryDuplication(appName: string): Promise<QueryDuplicationResponse> {
  return alpha.metaSession.call(
    DuplicationMethod.QUERY,
    { appName },
    5000,
  ) as Promise<QueryDuplicationResponse>;
}

/** Every row of a table as hashKey → value (the write load uses one sort key). */
async function rows(client: TalariaClient, table: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const kv of client.table(table).scan({ batchSize: 1000 }))
    out.set(kv.hashKey.toString(), kv.value.toString());
  return out;
}

/** The acknowledged write numbers (writeLoad's `<prefix>-<n>` → `v<n>`) missing on `client`. */
async function missingWrites(
  client: TalariaClient,
  table: string,
  prefix: string,
  acked: readonly number[],
): Promise<number[]> {
  const present = await rows(client, table);
  return acked.filter((n) => present.get(`${prefix}-${n}`) !== `v${n}`);
}

/** Fails unless every partition's confirmed decree in `later` is ≥ the one in `earlier`. */
function assertNotBelow(earlier: QueryDuplicationResponse, later: QueryDuplicationResponse): void {
  for (const dup of earlier.duplications) {
    const now = later.duplications.find((d) => d.dupid === dup.dupid);
    assert.ok(now !== undefined, `duplication ${dup.dupid} disappeared`);
    dup.partitionStates.forEach((state, index) => {
      const decree = now.partitionStates[index]?.confirmedDecree ?? -1;
      assert.ok(
        decree >= state.confirmedDecree,
        `partition ${index}: confirmed decree went from ${state.confirmedDecree} to ${decree}`,
      );
    });
  }
}

/** Every partition confirmed up to its primary's last committed decree. */
function caughtUp(appName: string): () => Promise<boolean> {
  return async () => {
    const query = await queryDuplication(appName);
    return (query.duplications[0]?.partitionStates ?? []).every(
      (s) => s.lastCommittedDecree >= 0 && s.confirmedDecree === s.lastCommittedDecree,
    );
  };
}

async function httpJson(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

interface PartitionStats {
  readonly stats: { readonly plogFirstDecree: number; readonly lastAppliedDecree: number };
}

/** The stats of `gpid` on every replica server of alpha. */
async function replicaStats(gpid: string): Promise<PartitionStats["stats"][]> {
  const servers = cluster("alpha").processes.filter((p) => p.role === "replica");
  return Promise.all(
    servers.map(async (server) => {
      const { status, body } = await httpJson(server.httpPort, `/replica/partition?gpid=${gpid}`);
      assert.equal(status, 200, `${server.name}: ${JSON.stringify(body)}`);
      return (body as PartitionStats).stats;
    }),
  );
}

/** plogFirstDecree of `gpid` on every replica server of alpha. */
async function plogFirstDecrees(gpid: string): Promise<number[]> {
  return (await replicaStats(gpid)).map((s) => s.plogFirstDecree);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "talaria-e2e-"));
  clusters = await planTuned(dir);
  onebox = await startOnebox(clusters, {
    readyTimeoutMs: 60_000,
    // kill -9 shows here too; any other exit is a crash to look for in the process's log.
    onExit: (p, code, signal) => console.log(`# ${p.cluster}/${p.name} exited: ${code ?? signal}`),
  });
  console.log(`# onebox ${dir}`);
  alpha = createClient({ metaServers: [cluster("alpha").metaAddress], timeoutMs: 20_000 });
  beta = createClient({ metaServers: [cluster("beta").metaAddress], timeoutMs: 20_000 });
});
after(async () => {
  await alpha?.close();
  await beta?.close();
  await onebox?.stop();
  // TALARIA_E2E_KEEP=1 keeps the processes' logs (<dir>/<cluster>/<process>/talaria.log).
  if (dir !== undefined && process.env.TALARIA_E2E_KEEP === undefined)
    rmSync(dir, { recursive: true, force: true });
});

it("kill -9 of a source primary mid-shipping (4 → 6 partitions): every write acknowledged after add reaches the target", async (t) => {
  const appId = await createTable(alpha, "kill", 4);
  // beta delays DUPLICATE writes, so the source is behind when its primary dies: the writes the
  // dead primary had not shipped must come from the new primary's held plog.
  await createTable(beta, "kill", 6, { "replica.write_throttling_by_size": "1K*delay*1000" });
  const added = await addDuplication("kill");
  const load = writeLoad(alpha, "kill", 6, "k");
  const config = (await alpha.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: "kill" },
    5000,
  )) as QueryConfigurationResponse;
  const victim = cluster("alpha").processes.find(
    (p) => p.address === config.partitions[0]?.primary,
  );
  assert.ok(victim !== undefined);
  let backlog: Record<string, unknown> | undefined;
  await eventually("the victim shipping partition 0, behind", 30_000, async () => {
    const shipping = await httpJson(victim.httpPort, `/replica/duplication?appid=${appId}`);
    const byGpid = (shipping.body as Record<string, Record<string, Record<string, unknown>>>)[
      String(added.dupid)
    ];
    backlog = byGpid?.[`${appId}.0`];
    return (
      (await rows(beta, "kill")).size > 50 && Number(backlog?.not_duplicated_mutations_num) > 50
    );
  });
  t.diagnostic(`partition 0 at the kill: ${JSON.stringify(backlog)}`);

  onebox.kill("alpha", victim.name);
  await eventually("the dead server noticed", 30_000, async () => {
    return (await clusterInfo(alpha)).nodes.dead === 1;
  });
  await sleep(3000);
  const acked = await load.stop();
  assert.ok(acked.length > 200, `only ${acked.length} writes acknowledged`);
  onebox.restart("alpha", victim.name);
  await beta.metaSession.call(
    MetaMethod.DEL_APP_ENVS,
    { appName: "kill", keys: ["replica.write_throttling_by_size"] },
    10_000,
  );

  let missing: number[] = [];
  await eventually("every acknowledged write on beta", 90_000, async () => {
    missing = await missingWrites(beta, "kill", "k", acked);
    return missing.length === 0;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}: ${missing.length} missing, e.g. ${missing.slice(0, 20)}`);
  });
  await eventually("alpha healthy with the server back", 90_000, allHealthy(alpha));
  await eventually("the duplication confirms everything", 60_000, caughtUp("kill"));
  const query = await queryDuplication("kill");
  assert.equal(query.duplications[0]?.status, "DS_LOG");
});

it("kill -9 and restart of the source meta, then of the target meta, while shipping: nothing lost, confirmed decrees never go back", async () => {
  await createTable(alpha, "metas", 2);
  await createTable(beta, "metas", 5);
  const added = await addDuplication("metas");
  const samples: QueryDuplicationResponse[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        samples.push(await queryDuplication("metas"));
      } catch {
        // the source meta is down
      }
      await sleep(250);
    }
  })();
  const load = writeLoad(alpha, "metas", 4, "m");
  let acked: number[] = [];
  try {
    await sleep(3000);
    for (const name of ["alpha", "beta"]) {
      onebox.kill(name, "meta");
      await sleep(1000);
      onebox.restart(name, "meta");
      const client = name === "alpha" ? alpha : beta;
      await eventually(`${name}'s meta back with every node`, 60_000, async () => {
        return (await clusterInfo(client)).nodes.alive === REPLICA_SERVERS;
      });
      await sleep(3000);
    }
  } finally {
    // Stopped even on failure, so the next test starts quiet.
    acked = await load.stop();
  }
  assert.ok(acked.length > 200, `only ${acked.length} writes acknowledged`);
  let missing: number[] = [];
  await eventually("every acknowledged write on beta", 90_000, async () => {
    missing = await missingWrites(beta, "metas", "m", acked);
    return missing.length === 0;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}: ${missing.length} missing, e.g. ${missing.slice(0, 20)}`);
  });
  await eventually("the duplication confirms everything", 60_000, caughtUp("metas"));
  sampling = false;
  await sampler;
  samples.push(await queryDuplication("metas"));

  assert.ok(samples.length > 10, `only ${samples.length} query samples`);
  for (const sample of samples) {
    assert.equal(sample.duplications.length, 1);
    assert.equal(sample.duplications[0]?.dupid, added.dupid);
    assert.equal(sample.duplications[0]?.status, "DS_LOG");
  }
  for (let i = 1; i < samples.length; i++) {
    const earlier = samples[i - 1];
    const later = samples[i];
    assert.ok(earlier !== undefined && later !== undefined);
    assertNotBelow(earlier, later);
  }
  const first = samples[0]?.duplications[0]?.partitionStates ?? [];
  const last = samples.at(-1)?.duplications[0]?.partitionStates ?? [];
  assert.ok(
    last.every((s, i) => s.confirmedDecree > (first[i]?.confirmedDecree ?? -1)),
    `every partition progressed: ${JSON.stringify(first)} → ${JSON.stringify(last)}`,
  );
});

it("a duplication to a refusing target holds the source plog; removing it releases the hold", async () => {
  // beta's table refuses every write (nothing written is ever confirmed); "free" is a control table
  // without duplication that shows the plog GC does collect the same amount of writes.
  const appId = await createTable(alpha, "hold", 1);
  const freeId = await createTable(alpha, "free", 1);
  await createTable(beta, "hold", 1, { "replica.deny_client_request": "reconfig*write" });
  const added = await addDuplication("hold");
  const start = added.startDecrees[0];
  assert.ok(start !== undefined && start >= 0);
  // A secondary learns of the duplication, and holds its plog, only at its own server's next
  // duplication sync (the primary does not pass the hold on): let every server sync once.
  const syncPeriodS = cluster("alpha").processes[0]?.config.replication.duplicationSyncPeriodSecond;
  await sleep((syncPeriodS ?? 10) * 1000 + 1000);
  // Decrees up to here may be confirmed (a new primary's empty mutation ships as nothing).
  const before = Math.max(...(await replicaStats(`${appId}.0`)).map((s) => s.lastAppliedDecree));

  const value = "x".repeat(20_000);
  // One write at a time per table, so each is its own decree (concurrent writes would be
  // coalesced into fewer, larger mutations, and the decree bounds below count writes).
  for (let i = 0; i < 250; i++) {
    await Promise.all([
      alpha.table("hold").set(`h-${i}`, "s", value),
      alpha.table("free").set(`f-${i}`, "s", value),
    ]);
  }
  await eventually("the control table's plog collected on every replica", 30_000, async () => {
    return (await plogFirstDecrees(`${freeId}.0`)).every((first) => first > 50);
  });
  // Several GC rounds later, the duplicated table still holds everything after its start.
  await sleep(3 * GC_INTERVAL_MS);
  const held = await plogFirstDecrees(`${appId}.0`);
  assert.ok(
    held.every((first) => first <= before + 1),
    `plog held from decree ${before} + 1 (start decree ${start}) on every replica: ${held}`,
  );
  const confirmed = (await queryDuplication("hold")).duplications[0]?.partitionStates[0];
  assert.ok(
    confirmed !== undefined && confirmed.confirmedDecree >= start,
    `nothing written confirmed: ${JSON.stringify(confirmed)}, start ${start}, before ${before}`,
  );
  assert.ok(confirmed.confirmedDecree <= before);
  const config = (await alpha.metaSession.call(
    MetaMethod.QUERY_CONFIGURATION,
    { appName: "hold" },
    5000,
  )) as QueryConfigurationResponse;
  const primary = cluster("alpha").processes.find(
    (p) => p.address === config.partitions[0]?.primary,
  );
  assert.ok(primary !== undefined);
  const status = await httpJson(primary.httpPort, `/replica/duplication?appid=${appId}`);
  assert.equal(status.status, 200);
  const shipper = (status.body as Record<string, Record<string, Record<string, unknown>>>)[
    String(added.dupid)
  ]?.[`${appId}.0`];
  assert.ok(
    shipper !== undefined && Number(shipper.not_duplicated_mutations_num) >= 250,
    `the primary's shipper is behind: ${JSON.stringify(status.body)}`,
  );

  await alpha.metaSession.call(
    DuplicationMethod.MODIFY,
    { appName: "hold", dupid: added.dupid, status: "DS_REMOVED" },
    10_000,
  );
  assert.deepEqual((await queryDuplication("hold")).duplications, []);
  await eventually(
    "the hold released and the plog collected on every replica",
    30_000,
    async () => {
      return (await plogFirstDecrees(`${appId}.0`)).every((first) => first > before + 50);
    },
  );
  const servers = cluster("alpha").processes.filter((p) => p.role === "replica");
  for (const server of servers) {
    const gone = await httpJson(server.httpPort, `/replica/duplication?appid=${appId}`);
    assert.equal(gone.status, 404, `${server.name}: ${JSON.stringify(gone.body)}`);
  }
});
