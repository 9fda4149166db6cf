/**
 * Full duplication through two meta services (embedded stores), the source's remote-meta
 * connector wired to the target service in process: the source runtime runs the core's remote
 * tasks (create the follower, poll its copy, mark it created), the target creates a primary-only
 * follower and reports its copy progress, HTTP and metrics show the progress, and the duplication
 * ends in DS_LOG. Time is a ManualClock; the services' tickers only deliver ticks.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { ManualClock } from "../../../src/common/clock.ts";
import { Router } from "../../../src/http/index.ts";
import { MetaService, type RemoteMetaConnector } from "../../../src/meta/service/index.ts";
import { EmbeddedMetaStore, type MetaStore } from "../../../src/meta/store/index.ts";
import { MetaDuplicationMetrics, Registry } from "../../../src/metrics/index.ts";
import {
  type AddDuplicationResponse,
  type CreateAppResponse,
  DuplicationMethod,
  DuplicationStatus,
  FollowerEnv,
  MetaMethod,
  type QueryConfigurationResponse,
  type QueryDuplicationResponse,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { metaRoutes } from "../../../src/server/meta-http-routes.ts";
import { twoClusterCore } from "../../support/two-cluster-meta.ts";
import { until } from "../../support/until.ts";

const dirs: string[] = [];
const stores: MetaStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function service(
  address: string,
  clusterName: string,
  clock: ManualClock,
  connectRemoteMeta?: RemoteMetaConnector,
  tickIntervalMs = 5,
): Promise<MetaService> {
  const dir = await mkdtemp(join(tmpdir(), "talaria-full-dup-"));
  dirs.push(dir);
  const store = await EmbeddedMetaStore.open({ dir });
  stores.push(store);
  const meta = new MetaService(
    {
      address,
      tickIntervalMs,
      core: twoClusterCore(clusterName, address),
    },
    { store, clock, ...(connectRemoteMeta === undefined ? {} : { connectRemoteMeta }) },
  );
  await meta.start();
  return meta;
}

/** A connector to `target` in process that records each method called on it. */
function recordingConnector(target: MetaService, remoteCalls: string[]): RemoteMetaConnector {
  return (cluster, metas) => {
    assert.deepEqual([cluster, metas], ["dc2", ["127.0.0.1:35601"]]);
    return {
      call: async (method, payload) => {
        remoteCalls.push(method);
        return target.handle(method, payload);
      },
      close: async () => {},
    };
  };
}

/** The primary of `config` reports its durable checkpoint at decree 5 (committed 7). */
async function reportPrepared(
  source: MetaService,
  config: CreateAppResponse["partitions"][number],
  dupid: number,
): Promise<void> {
  await source.handle(DuplicationMethod.SYNC, {
    node: config.primary,
    partitions: [
      {
        gpid: config.gpid,
        ballot: config.ballot,
        lastCommittedDecree: 7,
        confirms: [{ dupid, confirmedDecree: 5, checkpointPrepared: true }],
      },
    ],
  });
}

/** Table t's first duplication as the source's meta server answers it. */
async function firstDuplication(source: MetaService) {
  const answer = (await source.handle(DuplicationMethod.QUERY, {
    appName: "t",
  })) as QueryDuplicationResponse;
  return answer.duplications[0];
}

it("creates the follower on the remote, follows its copy and ends in DS_LOG", async () => {
  const clock = new ManualClock(1_700_000_000_000_000);
  const target = await service("127.0.0.1:35601", "dc2", clock);
  const remoteCalls: string[] = [];
  const source = await service(
    "127.0.0.1:34601",
    "dc1",
    clock,
    recordingConnector(target, remoteCalls),
  );
  const nodes = ["127.0.0.1:1001", "127.0.0.1:1002"];
  for (const node of nodes) {
    await source.handle(MetaMethod.BEACON, { node, replicas: [] });
    await target.handle(MetaMethod.BEACON, { node, replicas: [] });
  }
  const created = (await source.handle(MetaMethod.CREATE_APP, {
    appName: "t",
    partitionCount: 2,
    replicaCount: 2,
  })) as CreateAppResponse;
  const registry = new Registry();
  new MetaDuplicationMetrics(registry, () => source.coreIfLeading()?.listDuplications());
  const router = new Router(metaRoutes(source));
  const http = async () =>
    JSON.parse(
      (
        await router.handle({
          method: "GET",
          path: "/meta/app/duplication",
          query: new URLSearchParams("name=t"),
        })
      ).body,
    ) as Record<string, Record<string, unknown>>;

  const added = (await source.handle(DuplicationMethod.ADD, {
    appName: "t",
    remoteClusterName: "dc2",
    isDuplicatingCheckpoint: true,
    remoteReplicaCount: 1,
  })) as AddDuplicationResponse;
  assert.equal(added.status, DuplicationStatus.DS_PREPARE);
  assert.equal((await http())["1"]?.full_sync, "create");
  assert.match(
    await registry.metrics(),
    /talaria_meta_duplication_full_sync_ready_partitions\{app="t",dupid="\d+",remote="dc2",status="DS_PREPARE"\} 0/,
  );

  // Every primary reports its durable checkpoint at decree 5.
  for (const config of created.partitions) await reportPrepared(source, config, added.dupid);
  const status = () => firstDuplication(source);
  await until(async () => (await status())?.status === DuplicationStatus.DS_APP, "DS_APP");
  // The create came first; DS_APP's polling of the follower may already have started after it.
  assert.equal(remoteCalls[0], MetaMethod.CREATE_APP);
  assert.deepEqual(
    remoteCalls.slice(1).filter((method) => method !== MetaMethod.QUERY_CONFIGURATION),
    [],
  );
  const follower = (await target.handle(MetaMethod.QUERY_CONFIGURATION, {
    appName: "t",
  })) as QueryConfigurationResponse;
  assert.equal(follower.app.envs[FollowerEnv.FOLLOWER_APP_STATUS], "creating");
  assert.equal(follower.app.envs[FollowerEnv.MASTER_METAS], "127.0.0.1:34601");
  assert.deepEqual(
    follower.partitions.map((c) => c.secondaries),
    [[], []],
  );

  // The follower's primaries copy: the source shows their progress.
  const beaconFollower = async (
    report: (ballot: number) => {
      ballot: number;
      status: string;
      lastCommittedDecree: number;
      followerCopy?: { copiedBytes: number; totalBytes: number };
    },
  ) => {
    for (const node of nodes)
      await target.handle(MetaMethod.BEACON, {
        node,
        replicas: follower.partitions
          .filter((c) => c.primary === node)
          .map((c) => ({
            gpid: c.gpid,
            lastPreparedDecree: report(c.ballot).lastCommittedDecree,
            ...report(c.ballot),
          })),
      });
  };
  await beaconFollower(() => ({
    ballot: 0,
    status: ReplicaStatus.INACTIVE,
    lastCommittedDecree: 0,
    followerCopy: { copiedBytes: 300, totalBytes: 1000 },
  }));
  await until(async () => {
    clock.advanceMs(2_000);
    return (await status())?.partitionStates[0]?.copy?.doneBytes === 300;
  }, "the copy progress");
  const shown = (await http())["1"]?.partition_states as Record<string, Record<string, unknown>>;
  assert.deepEqual(shown["0"]?.copy, { done_bytes: 300, total_bytes: 1000, done: false });
  assert.match(
    await registry.metrics(),
    /talaria_meta_duplication_full_sync_total_bytes\{app="t",dupid="\d+",remote="dc2"\} 2000/,
  );

  // They serve their checkpoints: created, then DS_LOG from the checkpoint decrees.
  await beaconFollower((ballot) => ({
    ballot,
    status: ReplicaStatus.PRIMARY,
    lastCommittedDecree: 6,
  }));
  await until(async () => {
    clock.advanceMs(2_000);
    return (await status())?.status === DuplicationStatus.DS_LOG;
  }, "DS_LOG");
  const done = await status();
  assert.equal(done?.fullSync, undefined);
  assert.deepEqual(
    done?.partitionStates.map((s) => s.confirmedDecree),
    [5, 5],
  );
  const marked = (await target.handle(MetaMethod.QUERY_CONFIGURATION, {
    appName: "t",
  })) as QueryConfigurationResponse;
  assert.equal(marked.app.envs[FollowerEnv.FOLLOWER_APP_STATUS], "created");
  assert.equal(remoteCalls.at(-1), MetaMethod.CREATE_APP);
  assert.deepEqual([...new Set(remoteCalls)].sort(), [
    MetaMethod.CREATE_APP,
    MetaMethod.QUERY_CONFIGURATION,
  ]);
  await source.stop();
  await target.stop();
});

it("runs each step's remote call as soon as the step before it is done, not a tick later", async () => {
  const clock = new ManualClock(1_700_000_000_000_000);
  const NO_TICKS = 3_600_000;
  const target = await service("127.0.0.1:35601", "dc2", clock, undefined, NO_TICKS);
  const remoteCalls: string[] = [];
  const connector = recordingConnector(target, remoteCalls);
  const source = await service("127.0.0.1:34601", "dc1", clock, connector, NO_TICKS);
  // The one tick this test gives, by hand (the services' own tickers never fire here).
  const tick = () => (source as unknown as { tick(): void }).tick();
  const node = "127.0.0.1:1001";
  await source.handle(MetaMethod.BEACON, { node, replicas: [] });
  await target.handle(MetaMethod.BEACON, { node, replicas: [] });
  const created = (await source.handle(MetaMethod.CREATE_APP, {
    appName: "t",
    partitionCount: 1,
    replicaCount: 1,
  })) as CreateAppResponse;
  const added = (await source.handle(DuplicationMethod.ADD, {
    appName: "t",
    remoteClusterName: "dc2",
    isDuplicatingCheckpoint: true,
    remoteReplicaCount: 1,
  })) as AddDuplicationResponse;
  const config = created.partitions[0];
  assert.ok(config !== undefined);
  await reportPrepared(source, config, added.dupid);
  const status = async () => (await firstDuplication(source))?.status;
  // Checkpoints persisted → the follower created → DS_APP persisted → its first poll: no tick.
  await until(
    async () => remoteCalls.includes(MetaMethod.QUERY_CONFIGURATION),
    "the first poll without a tick",
  );
  assert.equal(await status(), DuplicationStatus.DS_APP);
  assert.deepEqual(remoteCalls, [MetaMethod.CREATE_APP, MetaMethod.QUERY_CONFIGURATION]);

  // The follower serves its checkpoint; one tick polls it, and the rest follows from that poll.
  const follower = (await target.handle(MetaMethod.QUERY_CONFIGURATION, {
    appName: "t",
  })) as QueryConfigurationResponse;
  const served = follower.partitions[0];
  assert.ok(served !== undefined);
  await target.handle(MetaMethod.BEACON, {
    node,
    replicas: [
      {
        gpid: served.gpid,
        ballot: served.ballot,
        status: ReplicaStatus.PRIMARY,
        lastCommittedDecree: 6,
        lastPreparedDecree: 6,
      },
    ],
  });
  clock.advanceMs(1_000);
  tick();
  await until(async () => (await status()) === DuplicationStatus.DS_LOG, "DS_LOG after one tick");
  assert.deepEqual(remoteCalls, [
    MetaMethod.CREATE_APP,
    MetaMethod.QUERY_CONFIGURATION,
    MetaMethod.QUERY_CONFIGURATION,
    MetaMethod.CREATE_APP,
  ]);
  await source.stop();
  await target.stop();
});
