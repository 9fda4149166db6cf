/**
 * The duplication RPCs through the meta service runtime against both meta stores (embedded lmdb
 * always; ZooKeeper when TALARIA_ZK names a server): payload validation, the add that waits for
 * start decrees, the DS_INIT answer when the wait runs out, progress persisted through the real
 * store, and an exact restore by a new leader. Time is a ManualClock; the service's ticker only
 * delivers ticks.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ManualClock } from "../../../src/common/clock.ts";
import { isTalariaError } from "../../../src/common/errors.ts";
import { MetaService } from "../../../src/meta/service/index.ts";
import {
  EmbeddedMetaStore,
  type MetaStore,
  ZooKeeperMetaStore,
} from "../../../src/meta/store/index.ts";
import {
  type AddDuplicationResponse,
  type CreateAppResponse,
  DuplicationMethod,
  DuplicationStatus,
  type DuplicationSyncPartition,
  type DuplicationSyncResponse,
  MetaMethod,
  type QueryDuplicationResponse,
} from "../../../src/protocol/index.ts";
import { until } from "../../support/until.ts";

const NODES = ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"];
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

interface StoreKind {
  readonly name: string;
  /** Opens a store over the same data each time it is called. */
  readonly opener: () => Promise<() => Promise<MetaStore>>;
}

const kinds: StoreKind[] = [
  {
    name: "embedded",
    opener: async () => {
      const dir = await mkdtemp(join(tmpdir(), "talaria-dup-meta-"));
      dirs.push(dir);
      return () => EmbeddedMetaStore.open({ dir });
    },
  },
];
const ZK = process.env.TALARIA_ZK;
if (ZK !== undefined && ZK !== "") {
  const base = `/talaria-dup-test-${randomBytes(6).toString("hex")}`;
  const open = (rootPath: string) =>
    ZooKeeperMetaStore.open({ connectionString: ZK, rootPath, connectTimeoutMs: 5000 });
  after(async () => {
    const admin = await open("/");
    try {
      if (await admin.exists(base)) await admin.delete(base, { recursive: true });
    } finally {
      await admin.close();
    }
  });
  kinds.push({ name: "ZooKeeper", opener: async () => () => open(base) });
}

/** Polls until `check` holds (the store's writes complete asynchronously); bounded. */
async function leader(store: MetaStore, clock: ManualClock): Promise<MetaService> {
  const service = new MetaService(
    {
      address: "127.0.0.1:34601",
      tickIntervalMs: 5,
      core: {
        fdLeaseMs: 3_599_000,
        fdGraceMs: 3_600_000,
        duplication: {
          clusterName: "dc1",
          remoteClusters: { dc2: ["10.0.2.1:34601"], dc3: ["10.0.3.1:34601"] },
          clusterIds: { dc1: 1, dc2: 2, dc3: 3 },
          progressMinUpdatePeriodMs: 0,
        },
      },
    },
    { store, clock },
  );
  await service.start();
  return service;
}

for (const kind of kinds) {
  describe(`duplication RPCs through the meta service (${kind.name} store)`, () => {
    it("validates payloads, waits for start decrees, persists progress and restores exactly", async () => {
      const openStore = await kind.opener();
      const clock = new ManualClock(1_700_000_000_000_000);
      let store = await openStore();
      let service = await leader(store, clock);
      const call = <T>(method: string, payload: unknown) =>
        service.handle(method, payload) as Promise<T>;

      for (const node of NODES) await call(MetaMethod.BEACON, { node, replicas: [] });
      const created = await call<CreateAppResponse>(MetaMethod.CREATE_APP, {
        appName: "t",
        partitionCount: 2,
        replicaCount: 3,
      });
      const appId = created.app.appId;

      for (const [method, payload] of [
        [DuplicationMethod.ADD, { appName: 7, remoteClusterName: "dc2" }],
        [DuplicationMethod.ADD, { appName: "t", remoteClusterName: "dc2", waitMs: -1 }],
        [DuplicationMethod.MODIFY, { appName: "t", dupid: 1, status: "DS_START" }],
        [DuplicationMethod.LIST, { matchType: "MATCH_REGEX" }],
        [DuplicationMethod.SYNC, { node: "not an address", partitions: [] }],
        [
          DuplicationMethod.SYNC,
          {
            node: NODES[0],
            partitions: [
              {
                gpid: { appId, partitionIndex: 0 },
                ballot: 1,
                lastCommittedDecree: 1,
                confirms: [{ dupid: 1, confirmedDecree: -1 }],
              },
            ],
          },
        ],
      ] as const)
        await assert.rejects(call(method, payload), (e) =>
          isTalariaError(e, "ERR_INVALID_PARAMETERS"),
        );

      // An add whose wait runs out answers DS_INIT with a hint.
      const waiting = call<AddDuplicationResponse>(DuplicationMethod.ADD, {
        appName: "t",
        remoteClusterName: "dc2",
        waitMs: 1_000,
      });
      await until(
        async () =>
          (await call<QueryDuplicationResponse>(DuplicationMethod.QUERY, { appName: "t" }))
            .duplications.length === 1,
        "DS_INIT to be persisted",
      );
      let answered = false;
      void waiting.then(() => {
        answered = true;
      });
      clock.advanceMs(1_000);
      // The service's ticker is unref'd: keep the loop alive until a tick delivers the answer.
      await until(() => answered, "the add to time out");
      const timedOut = await waiting;
      assert.equal(timedOut.status, DuplicationStatus.DS_INIT);
      assert.match(timedOut.hint ?? "", /background/);

      // The primaries report their start decrees through duplication sync.
      const primaries = created.partitions.map((c) => c.primary ?? "");
      const report = async (dupid: number, decree: number, committed = decree + 5) => {
        for (const [index, config] of created.partitions.entries()) {
          const partition: DuplicationSyncPartition = {
            gpid: config.gpid,
            ballot: config.ballot,
            lastCommittedDecree: committed,
            confirms: [{ dupid, confirmedDecree: decree }],
          };
          await call(DuplicationMethod.SYNC, { node: primaries[index], partitions: [partition] });
        }
      };
      await report(timedOut.dupid, 10);
      await until(
        async () =>
          (await call<QueryDuplicationResponse>(DuplicationMethod.QUERY, { appName: "t" }))
            .duplications[0]?.status === DuplicationStatus.DS_LOG,
        "DS_LOG",
      );

      // An add that sees its start decrees in time answers DS_LOG with them.
      const second = call<AddDuplicationResponse>(DuplicationMethod.ADD, {
        appName: "t",
        remoteClusterName: "dc3",
      });
      let dc3 = 0;
      await until(async () => {
        const q = await call<QueryDuplicationResponse>(DuplicationMethod.QUERY, { appName: "t" });
        dc3 = q.duplications.find((d) => d.remoteClusterName === "dc3")?.dupid ?? 0;
        return dc3 > 0;
      }, "the second DS_INIT");
      await report(dc3, 20);
      const started = await second;
      assert.equal(started.status, DuplicationStatus.DS_LOG);
      assert.deepEqual(started.startDecrees, [20, 20]);

      // Progress goes through the store; the sync reply shows it once persisted.
      await report(timedOut.dupid, 15);
      await until(async () => {
        const reply = await call<DuplicationSyncResponse>(DuplicationMethod.SYNC, {
          node: primaries[0],
          partitions: [],
        });
        const entry = reply.apps[0]?.duplications.find((d) => d.dupid === timedOut.dupid);
        return entry?.confirmedDecrees.join() === "15,15";
      }, "progress 15 to be persisted");

      const before = service.coreIfLeading()?.durableState();
      await service.stop();
      await store.close();
      store = await openStore();
      service = await leader(store, clock);
      assert.deepEqual(service.coreIfLeading()?.restoreReport.problems, []);
      assert.deepEqual(service.coreIfLeading()?.durableState(), before);
      assert.equal(before?.duplications.length, 2);
      await service.stop();
      await store.close();
    });
  });
}
