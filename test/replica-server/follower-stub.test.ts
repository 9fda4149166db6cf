/**
 * The follower side wired in a real replica server: a real meta server (the follower cluster),
 * one replica server, and the fake master cluster (fake-master.ts). The follower table is created
 * with the follower envs; its primary copies each partition's checkpoint before opening it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createClient } from "../../src/client/index.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { type Config, defaultConfig } from "../../src/config/index.ts";
import {
  FollowerAppStatus,
  FollowerEnv,
  MetaMethod,
  type QueryConfigurationResponse,
  ReplicaStatus,
} from "../../src/protocol/index.ts";
import { type RunningMetaServer, startMetaServer } from "../../src/server/meta-server.ts";
import { type RunningReplicaServer, startReplicaServer } from "../../src/server/replica-server.ts";
import { eventually } from "../server/cluster-support.ts";
import { freePort } from "../support/ports.ts";
import {
  FakeMaster,
  makeMasterCheckpoint,
  recordKey,
  recordValue,
  tempRoot,
} from "./fake-master.ts";

const RECORDS = 200;
const VALUE_BYTES = 4096;
const PARTITIONS = 2;

const TIMINGS = {
  fdBeaconIntervalSeconds: 1,
  fdCheckIntervalSeconds: 1,
  fdLeaseSeconds: 2,
  fdGraceSeconds: 3,
  groupCheckIntervalMs: 500,
};

/** A master with its chunks held back until `release`, and the follower cluster's meta server. */
async function startMasterAndMeta(
  root: string,
  partitions: number,
  checkpoint: Awaited<ReturnType<typeof makeMasterCheckpoint>>,
) {
  const master = await FakeMaster.start("orders", partitions, checkpoint);
  let release: () => void = () => {};
  master.gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const metaPort = await freePort();
  const meta: RunningMetaServer = await startMetaServer(
    defaultConfig({
      metaServer: { port: metaPort, httpPort: 0, dataDir: join(root, "meta") },
      replication: TIMINGS,
    }),
    silentLogger,
  );
  await meta.leading;
  return { master, meta, metaPort, release: () => release() };
}

describe("replica server: follower primaries copy their checkpoint before they open", () => {
  it("reports the copy while it runs, resumes it after a restart, then serves the master's data", async () => {
    const { root, remove } = await tempRoot("talaria-follower-stub-");
    const checkpoint = await makeMasterCheckpoint(root, RECORDS, VALUE_BYTES);
    const { master, meta, metaPort, release } = await startMasterAndMeta(
      root,
      PARTITIONS,
      checkpoint,
    );
    const replicaConfig: Config = defaultConfig({
      metaServer: { port: metaPort, httpPort: 0 },
      replicaServer: { port: await freePort(), httpPort: 0, dataDir: join(root, "replica") },
      replication: { ...TIMINGS, dupCheckpointCopyRateMb: 0 },
    });
    let replica: RunningReplicaServer | undefined = await startReplicaServer(
      replicaConfig,
      silentLogger,
    );
    const client = createClient({ metaServers: [meta.address] });
    after(async () => {
      release();
      await client.close();
      await replica?.close();
      await meta.close();
      await master.close();
      await remove();
    });

    await client.metaSession.call(
      MetaMethod.CREATE_APP,
      {
        appName: "orders_copy",
        partitionCount: PARTITIONS,
        replicaCount: 1,
        envs: {
          [FollowerEnv.MASTER_CLUSTER]: "alpha",
          [FollowerEnv.MASTER_METAS]: master.address,
          [FollowerEnv.MASTER_APP_NAME]: "orders",
          [FollowerEnv.FOLLOWER_APP_STATUS]: FollowerAppStatus.CREATING,
        },
      },
      5000,
    );

    // While the master holds the chunks back, both partitions are reported as copies in progress.
    await eventually("both partitions are being copied", 15_000, async () => {
      const reports = replica?.stub.reports() ?? [];
      return (
        reports.length === PARTITIONS &&
        reports.every(
          (r) =>
            r.status === ReplicaStatus.INACTIVE &&
            r.ballot === 0 &&
            r.lastCommittedDecree === 0 &&
            r.lastPreparedDecree === 0 &&
            r.followerCopy !== undefined &&
            r.followerCopy.totalBytes > 0,
        )
      );
    });
    assert.equal(replica.stub.replica({ appId: 1, partitionIndex: 0 }), undefined, "not open yet");

    // The meta server keeps this node as primary while it copies (for longer than fdGraceMs:
    // follower-meta-rules.test.ts).
    const during = (await client.metaSession.call(
      MetaMethod.QUERY_CONFIGURATION,
      { appName: "orders_copy" },
      5000,
    )) as QueryConfigurationResponse;
    for (const partition of during.partitions) {
      assert.equal(partition.primary, replica.address);
      assert.equal(partition.ballot, 1);
    }

    // A restart mid-copy: the copy is found on disk and not opened as an empty replica.
    await replica.close();
    replica = undefined;
    replica = await startReplicaServer(replicaConfig, silentLogger);
    assert.equal(replica.stub.reports().length, PARTITIONS, "unfinished copies reported at once");

    release();
    master.gate = undefined;
    await eventually("the follower table serves the master's data", 30_000, async () => {
      const { hashKey, sortKey } = recordKey(RECORDS - 1);
      const got = await client.table("orders_copy").get(hashKey, sortKey, { timeoutMs: 2000 });
      return got?.equals(recordValue(RECORDS - 1, VALUE_BYTES)) === true;
    });
    await client.table("orders_copy").set("new", "key", "value", { timeoutMs: 5000 });
    assert.equal(
      (await client.table("orders_copy").get("new", "key"))?.toString(),
      "value",
      "the follower takes writes",
    );
    // What the source meta server waits for: a primary whose committed decree reached the
    // checkpoint's decree.
    await eventually("meta sees the follower partitions caught up", 10_000, async () => {
      const after = (await client.metaSession.call(
        MetaMethod.QUERY_CONFIGURATION,
        { appName: "orders_copy" },
        5000,
      )) as QueryConfigurationResponse;
      return after.partitions.every(
        (p) => p.primary === replica?.address && p.lastCommittedDecree >= checkpoint.decree,
      );
    });
    assert.ok(replica.stub.reports().every((r) => r.followerCopy === undefined));
    // One replica per partition: no learner will come, so no checkpoint is made for one.
    for (let index = 0; index < PARTITIONS; index++) {
      const made = join(root, "replica", `1.${index}`, "checkpoints");
      assert.ok(!existsSync(made) || readdirSync(made).length === 0, "no learner checkpoint");
    }
  });

  it("with secondaries to come, makes the checkpoint they learn from, and lists it, as soon as it opens", async () => {
    const { root, remove } = await tempRoot("talaria-follower-learners-");
    // Over CHECKPOINT_CRC_CACHED_BYTES_MIN, so its CRC32C is cached for the learners' FILES.
    const checkpoint = await makeMasterCheckpoint(root, 1500, 1000);
    const { master, meta, metaPort, release } = await startMasterAndMeta(root, 1, checkpoint);
    const servers = new Map<string, RunningReplicaServer>();
    const dataDirs = new Map<string, string>();
    for (const name of ["a", "b"]) {
      const server = await startReplicaServer(
        defaultConfig({
          metaServer: { port: metaPort, httpPort: 0 },
          replicaServer: {
            port: await freePort(),
            httpPort: await freePort(),
            dataDir: join(root, name),
          },
          replication: { ...TIMINGS, dupCheckpointCopyRateMb: 0 },
        }),
        silentLogger,
      );
      servers.set(server.address, server);
      dataDirs.set(server.address, join(root, name));
    }
    const client = createClient({ metaServers: [meta.address] });
    after(async () => {
      release();
      await client.close();
      for (const server of servers.values()) await server.close();
      await meta.close();
      await master.close();
      await remove();
    });
    await eventually("both replica servers alive", 15_000, async () => {
      const nodes = (await client.metaSession.call(MetaMethod.LIST_NODES, {}, 5000)) as {
        nodes: { status: string }[];
      };
      return nodes.nodes.filter((node) => node.status === "ALIVE").length === 2;
    });
    await client.metaSession.call(
      MetaMethod.CREATE_APP,
      {
        appName: "orders_copy",
        partitionCount: 1,
        replicaCount: 2,
        envs: {
          [FollowerEnv.MASTER_CLUSTER]: "alpha",
          [FollowerEnv.MASTER_METAS]: master.address,
          [FollowerEnv.MASTER_APP_NAME]: "orders",
          [FollowerEnv.FOLLOWER_APP_STATUS]: FollowerAppStatus.CREATING,
        },
      },
      5000,
    );
    const config = (await client.metaSession.call(
      MetaMethod.QUERY_CONFIGURATION,
      { appName: "orders_copy" },
      5000,
    )) as QueryConfigurationResponse;
    const primary = servers.get(config.partitions[0]?.primary ?? "");
    assert.ok(primary !== undefined, "a primary copies");
    // The other server goes before the copy ends: no learner can ever ask.
    for (const [address, server] of servers) {
      if (server === primary) continue;
      await server.close();
      servers.delete(address);
    }
    release();
    const dir = join(dataDirs.get(primary.address) ?? "", "1.0", "checkpoints");
    await eventually("a checkpoint for learners, with no learner", 30_000, async () =>
      existsSync(join(dir, "1", "checkpoint.json")),
    );
    assert.equal(primary.stub.replica({ appId: 1, partitionIndex: 0 })?.report().status, "PRIMARY");
    // Its data file's CRC32C is summed and cached before any learner asked for the file list.
    const crcs = async (outcome: string) => {
      const response = await fetch(
        `http://127.0.0.1:${primary.httpPort}/metrics?name=talaria_replica_learner_checkpoint_file_crcs_total`,
      );
      const line = (await response.text())
        .split("\n")
        .find((l) =>
          l.startsWith(`talaria_replica_learner_checkpoint_file_crcs_total{outcome="${outcome}"}`),
        );
      return Number(line?.split(" ").at(-1) ?? 0);
    };
    await eventually(
      "the learner checkpoint's files listed",
      10_000,
      async () => (await crcs("miss")) === 1,
    );
    assert.equal(await crcs("hit"), 0, "no learner asked");
  });
});
