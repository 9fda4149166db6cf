/**
 * `GET /meta/app/duplication?name=` (Pegasus's JSON, ref §6.3) and the meta duplication metrics,
 * in process: the route list and metrics factory over a meta service on the embedded store.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { ManualClock } from "../../../src/common/clock.ts";
import { Router } from "../../../src/http/index.ts";
import type { DuplicationOptions } from "../../../src/meta/core/index.ts";
import { MetaService } from "../../../src/meta/service/index.ts";
import { EmbeddedMetaStore } from "../../../src/meta/store/index.ts";
import { MetaDuplicationMetrics, Registry } from "../../../src/metrics/index.ts";
import {
  type AddDuplicationResponse,
  type CreateAppResponse,
  DuplicationMethod,
  MetaMethod,
} from "../../../src/protocol/index.ts";
import { metaRoutes } from "../../../src/server/meta-http-routes.ts";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function serve(duplication: Partial<DuplicationOptions>) {
  const dir = await mkdtemp(join(tmpdir(), "talaria-dup-http-"));
  dirs.push(dir);
  const store = await EmbeddedMetaStore.open({ dir });
  const clock = new ManualClock(1_717_138_357_000_000);
  const service = new MetaService(
    {
      address: "127.0.0.1:34601",
      core: {
        fdLeaseMs: 3_599_000,
        fdGraceMs: 3_600_000,
        duplication: {
          clusterName: "dc1",
          remoteClusters: { dc2: ["10.0.2.1:34601"] },
          clusterIds: { dc1: 1, dc2: 2 },
          ...duplication,
        },
      },
    },
    { store, clock },
  );
  await service.start();
  const router = new Router(metaRoutes(service));
  const get = async (path: string, query = "") => {
    const response = await router.handle({
      method: "GET",
      path,
      query: new URLSearchParams(query),
    });
    return { status: response.status, body: JSON.parse(response.body) as unknown };
  };
  return {
    service,
    get,
    close: async () => {
      await service.stop();
      await store.close();
    },
  };
}

it("serves the duplications of a table as Pegasus prints them, and counts them in metrics", async () => {
  const { service, get, close } = await serve({});
  const call = <T>(method: string, payload: unknown) =>
    service.handle(method, payload) as Promise<T>;
  for (const node of ["127.0.0.1:1001", "127.0.0.1:1002"])
    await call(MetaMethod.BEACON, { node, replicas: [] });
  const created = await call<CreateAppResponse>(MetaMethod.CREATE_APP, {
    appName: "t",
    partitionCount: 1,
    replicaCount: 2,
  });
  const registry = new Registry();
  new MetaDuplicationMetrics(registry, () => service.coreIfLeading()?.listDuplications());

  assert.equal((await get("/meta/app/duplication")).status, 400);
  assert.equal((await get("/meta/app/duplication", "name=nope")).status, 404);
  assert.deepEqual(await get("/meta/app/duplication", "name=t"), { status: 200, body: null });

  const added = call<AddDuplicationResponse>(DuplicationMethod.ADD, {
    appName: "t",
    remoteClusterName: "dc2",
    remoteAppName: "remote_test_app",
  });
  const dupid = Math.floor(1_717_138_357_000 / 1000);
  for (let i = 0; i < 1_000; i += 1) {
    if (service.coreIfLeading()?.durableState().duplications.length === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.match(await registry.metrics(), /talaria_meta_duplications\{status="DS_INIT"\} 1/);
  const config = created.partitions[0];
  await call(DuplicationMethod.SYNC, {
    node: config?.primary,
    partitions: [
      {
        gpid: config?.gpid,
        ballot: config?.ballot,
        lastCommittedDecree: 12,
        confirms: [{ dupid, confirmedDecree: 4 }],
      },
    ],
  });
  assert.equal((await added).status, "DS_LOG");

  assert.deepEqual(await get("/meta/app/duplication", "name=t"), {
    status: 200,
    body: {
      "1": {
        create_ts: "2024-05-31 06:52:37",
        dupid,
        fail_mode: "FAIL_SLOW",
        partition_states: { "0": { confirmed_decree: 4, last_committed_decree: 12 } },
        remote: "dc2",
        remote_app_name: "remote_test_app",
        remote_replica_count: 2,
        status: "DS_LOG",
      },
      appid: created.app.appId,
    },
  });
  const metrics = await registry.metrics();
  assert.match(metrics, /talaria_meta_duplications\{status="DS_LOG"\} 1/);
  assert.match(metrics, /talaria_meta_duplications\{status="DS_INIT"\} 0/);
  assert.match(
    metrics,
    new RegExp(
      `talaria_meta_duplication_unconfirmed_mutations\\{app="t",dupid="${dupid}",remote="dc2"\\} 8`,
    ),
  );
  await close();
});

it("answers 404 when duplication is disabled", async () => {
  const { service, get, close } = await serve({ enabled: false });
  await service.handle(MetaMethod.BEACON, { node: "127.0.0.1:1001", replicas: [] });
  await service.handle(MetaMethod.CREATE_APP, { appName: "t", partitionCount: 1, replicaCount: 1 });
  const response = await get("/meta/app/duplication", "name=t");
  assert.equal(response.status, 404);
  assert.equal((response.body as { code: string }).code, "ERR_OPERATION_DISABLED");
  await close();
});
