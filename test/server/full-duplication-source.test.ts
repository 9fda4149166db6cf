/**
 * Full duplication, source side, in process and over the wire: a real replica server of cluster
 * "alpha" (config → ReplicaStub → RPC) whose meta server is a scripted fake, so the test decides
 * each duplication sync reply (DS_PREPARE, DS_APP, removed) whatever the meta side does today;
 * and a real cluster "beta" (meta server + replica server) as the remote.
 *
 *  - "create" (table follow, 1 partition): the primary picks its start decree, makes a durable
 *    dup checkpoint and reports it prepared; a follower's OPEN + CHUNKs over RPC get files whose
 *    CRC32C match and that open as a checkpoint holding the table's data; after a restart of the
 *    source server the same checkpoint id is answered.
 *  - "resync" (table orders, 2 partitions → beta's t, 3 partitions): every record of each
 *    primary's checkpoint reaches t routed by t's partition count; last-write-wins keeps t's newer
 *    values and applies the source's newer values and tombstones.
 *  - Removing the duplications deletes the dup checkpoints.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import { partitionIndex } from "../../src/codec/key-schema.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { type Config, defaultConfig } from "../../src/config/index.ts";
import {
  DupCheckpointMethod,
  type DupCheckpointOpenResponse,
} from "../../src/protocol/dup-checkpoint-messages.ts";
import type { DuplicationSyncEntry } from "../../src/protocol/duplication-messages.ts";
import { type AppInfo, type Gpid, gpidKey, MetaMethod } from "../../src/protocol/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import { type RunningMetaServer, startMetaServer } from "../../src/server/meta-server.ts";
import { type RunningReplicaServer, startReplicaServer } from "../../src/server/replica-server.ts";
import { CheckpointReader } from "../../src/storage/index.ts";
import { freePort } from "../support/ports.ts";
import { syncEntry } from "../support/sync-entry.ts";
import { allHealthy, eventually } from "./cluster-support.ts";
import { ScriptedMeta } from "./scripted-meta.ts";

const ORDERS: AppInfo = {
  appId: 1,
  appName: "orders",
  partitionCount: 2,
  replicaCount: 1,
  status: "AVAILABLE",
  envs: {},
  createdAtMs: 1,
};
const FOLLOW: AppInfo = { ...ORDERS, appId: 2, appName: "follow", partitionCount: 1 };
const RESYNC_DUPID = 7;
const CREATE_DUPID = 8;
const b = (s: string) => Buffer.from(s);

function entry(
  dupid: number,
  status: "DS_PREPARE" | "DS_APP",
  fullSync: "create" | "resync",
  remoteAppName: string,
  remoteMetas: string[],
  confirmedDecrees: number[],
): DuplicationSyncEntry {
  return syncEntry(dupid, { status, remoteAppName, fullSync, remoteMetas, confirmedDecrees });
}

const timings = {
  fdBeaconIntervalSeconds: 1,
  fdCheckIntervalSeconds: 1,
  fdLeaseSeconds: 3,
  fdGraceSeconds: 4,
  groupCheckIntervalMs: 500,
  duplicationSyncPeriodSecond: 1,
};
const groups = { duplicationGroup: { alpha: 1, beta: 2 } };

let root: string;
let fakeMeta: ScriptedMeta;
let alphaConfig: Config;
let alpha: RunningReplicaServer | undefined;
let betaMeta: RunningMetaServer;
let beta: RunningReplicaServer;
let betaClient: TalariaClient;
let rpc: RpcClient;

const ordersGpids: Gpid[] = [0, 1].map((partitionIndex) => ({ appId: 1, partitionIndex }));
const followGpid: Gpid = { appId: 2, partitionIndex: 0 };

function alphaServer(): RunningReplicaServer {
  assert.ok(alpha !== undefined);
  return alpha;
}

async function sourceWrite(
  op: "set" | "del",
  key: string,
  value = "",
  app: AppInfo = ORDERS,
): Promise<void> {
  const gpid = {
    appId: app.appId,
    partitionIndex: partitionIndex(b(key), b("s"), app.partitionCount),
  };
  const replica = alphaServer().stub.replica(gpid);
  assert.ok(replica !== undefined);
  await replica.write(
    op === "set"
      ? { op, hashKey: b(key), sortKey: b("s"), value: b(value), expireTs: 0 }
      : { op, hashKey: b(key), sortKey: b("s") },
  );
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startAlpha(): Promise<void> {
  alpha = await startReplicaServer(alphaConfig, silentLogger);
  await eventually("alpha's primaries active", 15_000, async () =>
    [...ordersGpids, followGpid].every((gpid) => {
      const replica = alpha?.stub.replica(gpid);
      return replica?.report().status === "PRIMARY" && replica.refusal("read") === undefined;
    }),
  );
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "talaria-fullsync-"));
  fakeMeta = new ScriptedMeta([ORDERS, FOLLOW]);
  const fakePort = (await fakeMeta.server.listen({ host: "127.0.0.1", port: 0 })).port;
  const betaPort = await freePort();
  betaMeta = await startMetaServer(
    defaultConfig({
      metaServer: { port: betaPort, httpPort: 0, dataDir: join(root, "beta-meta") },
      replication: { ...timings, clusterName: "beta" },
      ...groups,
    }),
    silentLogger,
  );
  await betaMeta.leading;
  beta = await startReplicaServer(
    defaultConfig({
      metaServer: { port: betaPort, httpPort: 0 },
      replicaServer: { port: await freePort(), httpPort: 0, dataDir: join(root, "beta-replica") },
      replication: { ...timings, clusterName: "beta" },
      ...groups,
    }),
    silentLogger,
  );
  alphaConfig = defaultConfig({
    metaServer: { port: fakePort, httpPort: 0 },
    replicaServer: {
      port: await freePort(),
      httpPort: await freePort(),
      dataDir: join(root, "alpha-replica"),
    },
    replication: { ...timings, clusterName: "alpha" },
    pegasusClusters: { beta: [{ host: "127.0.0.1", port: betaPort }] },
    ...groups,
  });
  await startAlpha();
  betaClient = createClient({ metaServers: [betaMeta.address], timeoutMs: 10_000 });
  await eventually("beta's replica server alive", 15_000, async () => {
    await betaClient.metaSession.call(
      MetaMethod.CREATE_APP,
      { appName: "t", partitionCount: 3, replicaCount: 1 },
      5000,
    );
    return true;
  });
  await eventually("t healthy", 15_000, allHealthy(betaClient));
  rpc = new RpcClient({ name: "follower" }, { log: silentLogger });
});

after(async () => {
  await rpc?.close();
  await betaClient?.close();
  await alpha?.close();
  await beta?.close();
  await betaMeta?.close();
  await fakeMeta?.server.close();
  rmSync(root, { recursive: true, force: true });
});

describe("full duplication, source side, over the wire", () => {
  it("prepares, serves a dup checkpoint to a follower, re-syncs into newer data, and cleans up", async () => {
    const t = betaClient.table("t");
    // Older on beta: the source's later writes win.
    for (let i = 0; i < 30; i++) await t.set(`a${i}`, "s", "beta-old");
    await t.set("c", "s", "beta-old");
    await pause(5);
    for (let i = 0; i < 30; i++) await sourceWrite("set", `a${i}`, "alpha");
    for (let i = 0; i < 30; i++) await sourceWrite("set", `b${i}`, "alpha-old");
    for (let i = 0; i < 10; i++) await sourceWrite("set", `e${i}`, "alpha-only");
    await sourceWrite("set", "c", "doomed");
    await sourceWrite("del", "c");
    await sourceWrite("del", "d");
    for (let i = 0; i < 40; i++) await sourceWrite("set", `f${i}`, `follow-${i}`, FOLLOW);
    await pause(5);
    // Newer on beta: they stay.
    for (let i = 0; i < 30; i++) await t.set(`b${i}`, "s", "beta-new");
    await t.set("d", "s", "beta-new");

    // ---- DS_PREPARE: every primary picks C, makes a durable dup checkpoint, reports it.
    const betaMetas = [betaMeta.address];
    fakeMeta.dups.set(1, [entry(RESYNC_DUPID, "DS_PREPARE", "resync", "t", betaMetas, [-1, -1])]);
    fakeMeta.dups.set(2, [entry(CREATE_DUPID, "DS_PREPARE", "create", "follow", betaMetas, [-1])]);
    const prepared = [
      ...ordersGpids.map((gpid) => [gpid, RESYNC_DUPID] as const),
      [followGpid, CREATE_DUPID] as const,
    ];
    await eventually("every partition prepared", 20_000, async () =>
      prepared.every(([gpid, dupid]) => fakeMeta.confirm(gpid, dupid)?.checkpointPrepared === true),
    );
    const decrees = new Map<string, number>();
    for (const [gpid, dupid] of prepared) {
      const confirm = fakeMeta.confirm(gpid, dupid);
      const replica = alphaServer().stub.replica(gpid);
      assert.ok(confirm !== undefined && replica !== undefined);
      assert.ok(confirm.confirmedDecree >= 1, "an active primary has decree ≥ 1");
      assert.ok(confirm.confirmedDecree <= replica.lastAppliedDecree);
      assert.ok(
        replica.logGcBoundDecree() <= confirm.confirmedDecree + 1,
        "the log after C is held",
      );
      decrees.set(gpidKey(gpid), confirm.confirmedDecree);
    }
    const dirOf = (gpid: Gpid) => join(alphaConfig.replicaServer.dataDir, gpidKey(gpid));
    for (const [gpid] of prepared) {
      const kept = readdirSync(join(dirOf(gpid), "dup-checkpoints"));
      assert.equal(kept.length, 1);
      assert.ok(Number(kept[0]) >= (decrees.get(gpidKey(gpid)) ?? Infinity));
    }

    // ---- DS_APP: meta persisted each C.
    const listed = (gpids: Gpid[]) => gpids.map((g) => decrees.get(gpidKey(g)) ?? -1);
    fakeMeta.dups.set(1, [
      entry(RESYNC_DUPID, "DS_APP", "resync", "t", betaMetas, listed(ordersGpids)),
    ]);
    fakeMeta.dups.set(2, [
      entry(CREATE_DUPID, "DS_APP", "create", "follow", betaMetas, listed([followGpid])),
    ]);

    // A follower primary pulls the checkpoint: OPEN, then bounded CHUNKs, checked by CRC32C.
    const open = async (): Promise<DupCheckpointOpenResponse> => {
      let opened: DupCheckpointOpenResponse | undefined;
      await eventually("OPEN answered", 20_000, async () => {
        try {
          opened = (await rpc.call(
            alphaServer().address,
            DupCheckpointMethod.OPEN,
            { gpid: followGpid },
            { timeoutMs: 5000 },
          )) as DupCheckpointOpenResponse;
          return true;
        } catch (error) {
          if (isTalariaError(error, "ERR_BUSY")) return false;
          throw error;
        }
      });
      assert.ok(opened !== undefined);
      return opened;
    };
    const opened = await open();
    assert.ok(opened.decree >= (decrees.get(gpidKey(followGpid)) ?? Infinity));
    assert.match(opened.id, /^dup-\d+$/);
    const copy = join(root, "follower-copy");
    mkdirSync(copy);
    for (const file of opened.files) {
      const parts: Buffer[] = [];
      let crc = 0;
      for (let offset = 0; offset < file.bytes; ) {
        const { data } = (await rpc.call(
          alphaServer().address,
          DupCheckpointMethod.CHUNK,
          { gpid: followGpid, id: opened.id, file: file.name, offset, length: 64 * 1024 },
          { timeoutMs: 5000 },
        )) as { data: Uint8Array };
        assert.ok(data.length > 0 && data.length <= 64 * 1024);
        const chunk = Buffer.from(data);
        crc = crc32c(chunk, crc);
        parts.push(chunk);
        offset += data.length;
      }
      assert.equal(crc, file.crc32c, `${file.name} arrives intact`);
      await writeFile(join(copy, file.name), Buffer.concat(parts));
    }
    await assert.rejects(
      rpc.call(
        alphaServer().address,
        DupCheckpointMethod.CHUNK,
        { gpid: followGpid, id: opened.id, file: "../CURRENT", offset: 0, length: 10 },
        { timeoutMs: 5000 },
      ),
      (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"),
    );
    const reader = await CheckpointReader.open(copy);
    assert.equal(reader.decree, opened.decree);
    const follows = reader
      .read(undefined, 1000)
      .filter((r) => r.hashKey.toString().startsWith("f"));
    assert.equal(follows.length, 40, "the copy holds the table's data");
    await reader.close();

    // The re-sync: every record of both primaries' checkpoints reaches t.
    await eventually("the re-sync done on both partitions", 30_000, async () =>
      ordersGpids.every(
        (gpid) => fakeMeta.confirm(gpid, RESYNC_DUPID)?.resyncProgress?.done === true,
      ),
    );
    for (const gpid of ordersGpids) {
      const progress = fakeMeta.confirm(gpid, RESYNC_DUPID)?.resyncProgress;
      assert.ok(progress !== undefined && progress.totalBytes > 0);
      assert.equal(progress.sentBytes, progress.totalBytes);
    }
    for (let i = 0; i < 30; i++) {
      assert.equal((await t.get(`a${i}`, "s"))?.toString(), "alpha", `a${i}: alpha is newer`);
      assert.equal((await t.get(`b${i}`, "s"))?.toString(), "beta-new", `b${i}: beta is newer`);
    }
    for (let i = 0; i < 10; i++)
      assert.equal((await t.get(`e${i}`, "s"))?.toString(), "alpha-only");
    assert.equal(await t.get("c", "s"), undefined, "alpha's newer delete reaches beta");
    assert.equal((await t.get("d", "s"))?.toString(), "beta-new", "an older delete loses");

    const metrics = await (
      await fetch(`http://127.0.0.1:${alphaServer().httpPort}/metrics`)
    ).text();
    assert.match(metrics, /talaria_dup_checkpoints_made_total\{gpid="2\.0"\} [1-9]/);
    assert.match(metrics, /talaria_dup_checkpoint_served_bytes_total\{gpid="2\.0"\} [1-9]/);
    assert.match(metrics, /talaria_dup_resync_done\{dupid="7",gpid="1\.0"\} 1/);

    // ---- A restart of the source server: the follower resumes the same files.
    await alpha?.close();
    alpha = undefined;
    fakeMeta.ballot++;
    await startAlpha();
    const reopened = await open();
    assert.equal(reopened.id, opened.id);
    assert.deepEqual(reopened.files, opened.files);

    // ---- Removed: the dup checkpoints go.
    fakeMeta.dups.clear();
    await eventually("dup checkpoints deleted", 20_000, async () =>
      prepared.every(([gpid]) => {
        const dir = join(dirOf(gpid), "dup-checkpoints");
        return !existsSync(dir) || readdirSync(dir).length === 0;
      }),
    );
    await assert.rejects(
      rpc.call(
        alphaServer().address,
        DupCheckpointMethod.OPEN,
        { gpid: followGpid },
        { timeoutMs: 5000 },
      ),
      (e) => isTalariaError(e, "ERR_OBJECT_NOT_FOUND"),
    );
  });
});
