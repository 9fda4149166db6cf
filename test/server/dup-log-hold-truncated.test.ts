/**
 * A duplication past its log retention bound stops holding the private log (docs/duplication.md,
 * "the log hold"), on a real replica server whose meta server is a scripted fake:
 *
 *  - its own primary's shipper falls out (`dup_max_retained_log_bytes` = 1 MiB, the remote never
 *    answers): it reports `log_truncated` and the log's GC bound moves past the confirmed decree;
 *  - meta lists a partition as fallen out (what secondaries hear): the hold goes too, while the
 *    same paused duplication without that word keeps holding;
 *  - the table's tombstones are then held (its re-sync will need them): the sweeper, which
 *    collected them after the 1 s retention before, keeps them until the duplication is removed;
 *  - a primary receiving a re-sync's DUPLICATE requests reports it in its syncs (meta then lists
 *    it, and every replica of the table holds its tombstones); plain DUPLICATEs are not reported;
 *  - the last decree holding a re-sync's writes is in storage, so a restart keeps it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UpdateKind } from "../../src/codec/mutation.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { type Config, defaultConfig } from "../../src/config/index.ts";
import { ReplicaClientMethod } from "../../src/protocol/client-messages.ts";
import type { DuplicationSyncEntry } from "../../src/protocol/duplication-messages.ts";
import { type AppInfo, gpidKey } from "../../src/protocol/index.ts";
import type { PartitionReplica } from "../../src/replica/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import { type RunningReplicaServer, startReplicaServer } from "../../src/server/replica-server.ts";
import { freePort } from "../support/ports.ts";
import { syncEntry } from "../support/sync-entry.ts";
import { eventually } from "./cluster-support.ts";
import { ScriptedMeta } from "./scripted-meta.ts";

/** A DUPLICATE request from cluster beta (id 2), as its shipper or re-sync sender sends one. */
async function duplicateFromBeta(app: AppInfo, key: string, resync: boolean): Promise<void> {
  const update = {
    kind: UpdateKind.PUT,
    hashKey: b(key),
    sortKey: b(""),
    value: b("from beta"),
    expireTs: 0,
  } as const;
  await rpc.call(
    server.address,
    ReplicaClientMethod.WRITE,
    {
      gpid: { appId: app.appId, partitionIndex: 0 },
      partitionCount: 1,
      request: {
        op: "duplicate",
        entries: [{ timestampUs: Date.now() * 1000, clusterId: 2, update }],
        ...(resync ? { resync: true } : {}),
      },
    },
    { timeoutMs: 5000 },
  );
}

const SHIPPING: AppInfo = {
  appId: 1,
  appName: "shipping",
  partitionCount: 1,
  replicaCount: 1,
  status: "AVAILABLE",
  envs: {},
  createdAtMs: 1,
};
const PAUSED: AppInfo = { ...SHIPPING, appId: 2, appName: "paused" };
const SWEPT: AppInfo = { ...SHIPPING, appId: 3, appName: "swept" };
const RECEIVING: AppInfo = { ...SHIPPING, appId: 4, appName: "receiving" };
const LOGGING: AppInfo = { ...SHIPPING, appId: 5, appName: "logging" };
const APPS = [SHIPPING, PAUSED, SWEPT, RECEIVING, LOGGING];
const b = (s: string) => Buffer.from(s);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function entry(
  dupid: number,
  status: "DS_LOG" | "DS_PAUSE",
  confirmed: number,
  remoteMetas: string[],
): DuplicationSyncEntry {
  return syncEntry(dupid, { status, remoteMetas, confirmedDecrees: [confirmed] });
}

let root: string;
let fakeMeta: ScriptedMeta;
let server: RunningReplicaServer;
let serverConfig: Config;
let deadRemote: string;
const rpc = new RpcClient({ name: "remote cluster" }, { log: silentLogger });

function replicaOf(app: AppInfo): PartitionReplica {
  const replica = server.stub.replica({ appId: app.appId, partitionIndex: 0 });
  assert.ok(replica !== undefined);
  return replica;
}

/** Writes about `kib` KiB into `app` in 60 KiB values. */
async function fill(app: AppInfo, kib: number, prefix: string): Promise<void> {
  const replica = replicaOf(app);
  const value = b("v".repeat(60 * 1024));
  for (let i = 0; i * 60 < kib; i++) {
    await replica.write({
      op: "set",
      hashKey: b(`${prefix}${i}`),
      sortKey: b(""),
      value,
      expireTs: 0,
    });
  }
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "talaria-truncated-hold-"));
  fakeMeta = new ScriptedMeta(APPS);
  const fakePort = (await fakeMeta.server.listen({ host: "127.0.0.1", port: 0 })).port;
  // Nothing listens here: every ship fails, FAIL_SLOW retries, the backlog grows.
  deadRemote = `127.0.0.1:${await freePort()}`;
  const config = defaultConfig({
    metaServer: { port: fakePort, httpPort: 0 },
    replicaServer: {
      port: await freePort(),
      httpPort: await freePort(),
      dataDir: join(root, "replica"),
    },
    replication: {
      fdBeaconIntervalSeconds: 1,
      fdCheckIntervalSeconds: 1,
      fdLeaseSeconds: 3,
      fdGraceSeconds: 4,
      groupCheckIntervalMs: 500,
      duplicationSyncPeriodSecond: 1,
      clusterName: "alpha",
      dupMaxRetainedLogBytes: 1024 * 1024,
      dupMaxRetainedLogSeconds: 60,
    },
    pegasusServer: { ttlSweepIntervalMs: 100 },
    duplicationGroup: { alpha: 1, beta: 2 },
  });
  // Tombstones collected 1 s after their delete: below what the config's cross-check allows
  // (dup_max_retained_log_seconds ≥ 60 plus the clock skew must not exceed it), so set after
  // the check.
  serverConfig = {
    ...config,
    pegasusServer: { ...config.pegasusServer, tombstoneRetentionSeconds: 1 },
  };
  server = await startReplicaServer(serverConfig, silentLogger);
  await eventually("the primaries are active", 15_000, async () =>
    APPS.every((app) => {
      const replica = server.stub.replica({ appId: app.appId, partitionIndex: 0 });
      return replica?.report().status === "PRIMARY" && replica.refusal("write") === undefined;
    }),
  );
});

after(async () => {
  await rpc.close();
  await server?.close();
  await fakeMeta?.server.close();
  rmSync(root, { recursive: true, force: true });
});

/** Writes `key` and deletes it: one tombstone for the sweeper. */
async function writeThenDelete(replica: PartitionReplica, key: string): Promise<void> {
  await replica.write({ op: "set", hashKey: b(key), sortKey: b(""), value: b("v"), expireTs: 0 });
  await replica.write({ op: "del", hashKey: b(key), sortKey: b("") });
}

describe("a duplication that fell out of its log holds nothing", () => {
  it("its own shipper: log_truncated past dup_max_retained_log_bytes, and the hold goes", async () => {
    const replica = replicaOf(SHIPPING);
    // 2 MiB below the confirmed decree, in the same 32 MiB segment as what follows: only the bytes
    // above the confirmed decree count toward the 1 MiB bound, not the whole segment.
    await fill(SHIPPING, 2048, "before-");
    const confirmed = replica.lastAppliedDecree;
    fakeMeta.dups.set(SHIPPING.appId, [entry(9, "DS_LOG", confirmed, [deadRemote])]);
    await fill(SHIPPING, 600, "held-");
    await eventually("the hold reaches the replica", 10_000, async () => {
      return fakeMeta.confirm({ appId: SHIPPING.appId, partitionIndex: 0 }, 9) !== undefined;
    });
    assert.ok(
      replica.logGcBoundDecree() <= confirmed + 1,
      "under the bound the log is held above the confirmed decree",
    );

    await fill(SHIPPING, 1600, "past-");
    await eventually("the primary reports log_truncated", 15_000, async () => {
      const failure = fakeMeta.confirm({ appId: SHIPPING.appId, partitionIndex: 0 }, 9)?.failure;
      return failure?.kind === "log_truncated" && failure.code === "retained_bytes";
    });
    await eventually("the log's GC bound moves past the confirmed decree", 15_000, async () => {
      return replica.logGcBoundDecree() > confirmed + 1;
    });
  });

  it("meta's word: a partition listed as fallen out is not held, the same one unlisted is", async () => {
    const replica = replicaOf(PAUSED);
    await fill(PAUSED, 120, "before-");
    const confirmed = replica.lastAppliedDecree;
    fakeMeta.dups.set(PAUSED.appId, [entry(10, "DS_PAUSE", confirmed, [deadRemote])]);
    await eventually("the paused duplication is reported", 10_000, async () => {
      return fakeMeta.confirm({ appId: PAUSED.appId, partitionIndex: 0 }, 10) !== undefined;
    });
    await fill(PAUSED, 300, "held-");
    // A few syncs later the paused duplication still holds the log.
    const syncs = fakeMeta.syncs.length;
    await eventually("three more syncs", 10_000, async () => fakeMeta.syncs.length >= syncs + 3);
    assert.ok(replica.logGcBoundDecree() <= confirmed + 1, "paused: the log is held");

    fakeMeta.dups.set(PAUSED.appId, [
      { ...entry(10, "DS_PAUSE", confirmed, [deadRemote]), logTruncated: [0] },
    ]);
    await eventually("meta's log_truncated releases the hold", 15_000, async () => {
      return replica.logGcBoundDecree() > confirmed + 1;
    });
  });

  it("its table's tombstones are held until the duplication goes: the sweeper keeps them", async () => {
    const replica = replicaOf(SWEPT);
    const agent = server.stub.duplicationAgent;
    assert.ok(agent !== undefined);
    const collected = () => replica.statsSnapshot().tombstonesCollected;
    const setThenDelete = (key: string) => writeThenDelete(replica, key);
    const dupEntry = entry(11, "DS_PAUSE", replica.lastAppliedDecree, [deadRemote]);
    fakeMeta.dups.set(SWEPT.appId, [dupEntry]);
    await setThenDelete("first");
    await eventually(
      "an unheld tombstone is collected after the 1 s retention",
      15_000,
      async () => {
        return collected() >= 1;
      },
    );

    fakeMeta.dups.set(SWEPT.appId, [{ ...dupEntry, logTruncated: [0] }]);
    await eventually("the table's tombstones are held", 10_000, async () =>
      agent.tombstonesHeld(SWEPT.appId),
    );
    const before = collected();
    await setThenDelete("second");
    await pause(2_500); // the retention is 1 s and the sweeper passes every 100 ms
    assert.equal(collected(), before, "held: nothing collected");

    fakeMeta.dups.delete(SWEPT.appId); // removed
    await eventually("released: the tombstone is collected", 15_000, async () => {
      return collected() > before;
    });
    assert.equal(agent.tombstonesHeld(SWEPT.appId), false);
  });

  it("a remote cluster's re-sync mark (app env) holds the table's tombstones until it goes", async () => {
    const replica = replicaOf(SWEPT);
    const agent = server.stub.duplicationAgent;
    assert.ok(agent !== undefined);
    fakeMeta.dups.delete(SWEPT.appId);
    const collected = () => replica.statsSnapshot().tombstonesCollected;
    const setThenDelete = (key: string) => writeThenDelete(replica, key);
    await eventually(
      "not held without a cause",
      10_000,
      async () => !agent.tombstonesHeld(SWEPT.appId),
    );
    fakeMeta.setEnvs(SWEPT.appId, { "duplication.resync_from.beta": "77" });
    await eventually("held once a beacon brings the mark", 10_000, async () =>
      agent.tombstonesHeld(SWEPT.appId),
    );
    const metric = async () =>
      (await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text())
        .split("\n")
        .some((line) => line === `talaria_dup_tombstone_holds{app_id="${SWEPT.appId}"} 1`);
    assert.ok(await metric(), "talaria_dup_tombstone_holds shows it");
    const before = collected();
    await setThenDelete("marked");
    await pause(2_500); // the retention is 1 s and the sweeper passes every 100 ms
    assert.equal(collected(), before, "held: nothing collected");
    assert.equal(agent.resyncReceivedThrough(replica), undefined, "no re-sync write received here");
    fakeMeta.setEnvs(SWEPT.appId, {});
    await eventually("released: the tombstone is collected", 15_000, async () => {
      return collected() > before;
    });
    assert.equal(agent.tombstonesHeld(SWEPT.appId), false);
    assert.equal(await metric(), false);
    // The mark says nothing of where re-sync writes are: only applying them records that.
    assert.equal(agent.resyncReceivedThrough(replica), undefined);
  });

  it("a primary receiving a re-sync says so in its syncs; plain duplicated writes do not", async () => {
    for (const app of [RECEIVING, LOGGING]) {
      fakeMeta.dups.set(app.appId, [entry(12 + app.appId, "DS_LOG", 0, [deadRemote])]);
    }
    const reported = (app: AppInfo) => {
      const last = fakeMeta.syncs.at(-1);
      const partition = last?.partitions.find(
        (p) => gpidKey(p.gpid) === gpidKey({ appId: app.appId, partitionIndex: 0 }),
      );
      return partition?.receivingResync === true;
    };
    await duplicateFromBeta(LOGGING, "shipped", false);
    await duplicateFromBeta(RECEIVING, "re-synced", true);
    const syncs = fakeMeta.syncs.length;
    await eventually("two more syncs", 10_000, async () => fakeMeta.syncs.length >= syncs + 2);
    assert.equal(reported(RECEIVING), true, "the re-sync's table is reported");
    assert.equal(reported(LOGGING), false, "a plain DUPLICATE is not a re-sync");
    // The decree that holds the re-sync's writes is kept for the table's own duplications, in
    // storage too; a plain DUPLICATE is not recorded.
    const agent = server.stub.duplicationAgent;
    const receiving = replicaOf(RECEIVING);
    assert.ok(receiving.lastResyncDecree > 0);
    assert.equal(receiving.lastResyncDecree, receiving.lastAppliedDecree);
    assert.equal(agent?.resyncReceivedThrough(receiving), receiving.lastAppliedDecree);
    assert.equal(replicaOf(LOGGING).lastResyncDecree, 0);
    assert.equal(agent?.resyncReceivedThrough(replicaOf(LOGGING)), undefined);
  });

  it("a restarted replica server still knows where a received re-sync's writes end", async () => {
    const decree = replicaOf(RECEIVING).lastResyncDecree;
    assert.ok(decree > 0);
    // A later local write does not move it.
    await replicaOf(RECEIVING).write({
      op: "set",
      hashKey: b("local"),
      sortKey: b(""),
      value: b("v"),
      expireTs: 0,
    });
    assert.equal(replicaOf(RECEIVING).lastResyncDecree, decree);
    await server.close();
    fakeMeta.ballot += 1; // as a real meta server would reassign the restarted server
    server = await startReplicaServer(serverConfig, silentLogger);
    await eventually("the receiving primary is active again", 15_000, async () => {
      const replica = server.stub.replica({ appId: RECEIVING.appId, partitionIndex: 0 });
      return replica?.report().status === "PRIMARY";
    });
    const replica = replicaOf(RECEIVING);
    assert.equal(replica.lastResyncDecree, decree, "read back from storage");
    assert.equal(server.stub.duplicationAgent?.resyncReceivedThrough(replica), decree);
    assert.equal(replicaOf(LOGGING).lastResyncDecree, 0);
  });
});
