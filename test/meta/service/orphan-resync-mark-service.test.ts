/**
 * A re-sync mark left by a removed duplication, through real meta services on embedded stores:
 * the source marks the target's table, loses the link, the duplication is removed, and the source
 * meta server restarts on the same store. The restarted server removes the mark once the link is
 * back, and deletes its record; the gauge counts it meanwhile. Time is a ManualClock.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { ManualClock } from "../../../src/common/clock.ts";
import { TalariaError } from "../../../src/common/errors.ts";
import { MetaService, type RemoteMetaConnector } from "../../../src/meta/service/index.ts";
import { EmbeddedMetaStore, type MetaStore } from "../../../src/meta/store/index.ts";
import { MetaDuplicationMetrics, Registry } from "../../../src/metrics/index.ts";
import {
  type AddDuplicationResponse,
  type CreateAppResponse,
  DuplicationMethod,
  DuplicationStatus,
  MetaMethod,
  type QueryConfigurationResponse,
  type QueryDuplicationResponse,
} from "../../../src/protocol/index.ts";
import { twoClusterCore } from "../../support/two-cluster-meta.ts";
import { until } from "../../support/until.ts";

const MARK = "duplication.resync_from.dc1";
const dirs: string[] = [];
const stores: MetaStore[] = [];
after(async () => {
  for (const store of stores) await store.close().catch(() => {});
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function service(
  dir: string,
  address: string,
  clusterName: string,
  clock: ManualClock,
  connectRemoteMeta?: RemoteMetaConnector,
): Promise<{ meta: MetaService; store: MetaStore }> {
  const store = await EmbeddedMetaStore.open({ dir });
  stores.push(store);
  const core = twoClusterCore(clusterName, address);
  const meta = new MetaService(
    {
      address,
      tickIntervalMs: 5,
      core: {
        ...core,
        duplication: {
          ...core.duplication,
          remoteRetryDelayMs: 1_000,
          remoteRetryDelayMaxMs: 1_000,
        },
      },
    },
    { store, clock, ...(connectRemoteMeta === undefined ? {} : { connectRemoteMeta }) },
  );
  await meta.start();
  return { meta, store };
}

it("a restarted meta server removes the re-sync mark a removed duplication left", async () => {
  const clock = new ManualClock(1_700_000_000_000_000);
  const targetDir = await mkdtemp(join(tmpdir(), "talaria-orphan-target-"));
  const sourceDir = await mkdtemp(join(tmpdir(), "talaria-orphan-source-"));
  dirs.push(targetDir, sourceDir);
  const target = (await service(targetDir, "127.0.0.1:35601", "dc2", clock)).meta;
  let linkUp = true;
  const calls: string[] = [];
  const connector: RemoteMetaConnector = () => ({
    call: async (method, payload) => {
      calls.push(`${method}${linkUp ? "" : " (cut)"}`);
      if (!linkUp) throw new TalariaError("ERR_TIMEOUT", "the link is cut");
      return target.handle(method, payload);
    },
    close: async () => {},
  });
  let source = await service(sourceDir, "127.0.0.1:34601", "dc1", clock, connector);
  const node = "127.0.0.1:1001";
  await source.meta.handle(MetaMethod.BEACON, { node, replicas: [] });
  await target.handle(MetaMethod.BEACON, { node, replicas: [] });
  const created = (await source.meta.handle(MetaMethod.CREATE_APP, {
    appName: "t",
    partitionCount: 1,
    replicaCount: 1,
  })) as CreateAppResponse;
  await target.handle(MetaMethod.CREATE_APP, { appName: "t", partitionCount: 1, replicaCount: 1 });
  const config = created.partitions[0];
  assert.ok(config !== undefined);
  const report = async (confirm: Record<string, unknown>) =>
    source.meta.handle(DuplicationMethod.SYNC, {
      node,
      partitions: [
        { gpid: config.gpid, ballot: config.ballot, lastCommittedDecree: 30, confirms: [confirm] },
      ],
    });
  const status = async () =>
    (
      (await source.meta.handle(DuplicationMethod.QUERY, {
        appName: "t",
      })) as QueryDuplicationResponse
    ).duplications[0]?.status;
  const targetEnvs = async () =>
    (
      (await target.handle(MetaMethod.QUERY_CONFIGURATION, {
        appName: "t",
      })) as QueryConfigurationResponse
    ).app.envs;

  // A duplication in DS_LOG whose log fell out, re-synced: the target's table gets the mark.
  const { dupid } = (await source.meta.handle(DuplicationMethod.ADD, {
    appName: "t",
    remoteClusterName: "dc2",
    waitMs: 0,
  })) as AddDuplicationResponse;
  await report({ dupid, confirmedDecree: 5 });
  await until(async () => (await status()) === DuplicationStatus.DS_LOG, "DS_LOG");
  await report({
    dupid,
    confirmedDecree: 8,
    failure: { kind: "log_truncated", code: "ERR_OBJECT_NOT_FOUND", message: "gone", atDecree: 9 },
  });
  await source.meta.handle(DuplicationMethod.RESYNC, { appName: "t", dupid });
  await report({ dupid, confirmedDecree: 20, checkpointPrepared: true });
  await until(async () => (await status()) === DuplicationStatus.DS_APP, "DS_APP");
  assert.equal((await targetEnvs())[MARK], String(dupid));

  // The link is cut, and the duplication removed: its record stays, the removal fails.
  linkUp = false;
  await source.meta.handle(DuplicationMethod.MODIFY, {
    appName: "t",
    dupid,
    status: DuplicationStatus.DS_REMOVED,
  });
  await until(async () => calls.includes(`${MetaMethod.DEL_APP_ENVS} (cut)`), "a failed removal");
  const registry = new Registry();
  new MetaDuplicationMetrics(
    registry,
    () => source.meta.coreIfLeading()?.listDuplications(),
    () => source.meta.coreIfLeading()?.orphanResyncMarks().length,
  );
  assert.match(await registry.metrics(), /talaria_meta_duplication_orphan_resync_marks 1/);
  const recordPath = `/talaria/orphan_resync_marks/${created.app.appId}.${dupid}`;
  assert.ok(await source.store.exists(recordPath));

  // The source meta server restarts on its store; the link comes back.
  await source.meta.stop();
  await source.store.close();
  linkUp = true;
  source = await service(sourceDir, "127.0.0.1:34601", "dc1", clock, connector);
  assert.equal(source.meta.coreIfLeading()?.restoreReport.orphanResyncMarks, 1);
  assert.equal(await status(), undefined, "the duplication stays removed");
  await until(async () => {
    clock.advanceMs(1_000);
    return (await targetEnvs())[MARK] === undefined;
  }, "the mark's removal");
  await until(async () => !(await source.store.exists(recordPath)), "the record's deletion");
  // The core forgets the mark when the deletion's result comes back, a moment after the store.
  await until(
    async () => /talaria_meta_duplication_orphan_resync_marks 0/.test(await registry.metrics()),
    "the gauge at 0",
  );
  await source.meta.stop();
  await target.stop();
});
