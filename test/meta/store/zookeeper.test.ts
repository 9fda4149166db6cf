/**
 * The ZooKeeper meta store against a real server: the compliance suite plus leader election.
 * Runs only when TALARIA_ZK names a server (`.ci/run` starts one with scripts/zookeeper.sh).
 * Every run works under a fresh `/talaria-test-<random>`, removed at the end.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import {
  ELECTION_PATH,
  type LeaderElection,
  type MetaStore,
  ZooKeeperMetaStore,
  type ZooKeeperMetaStoreOptions,
} from "../../../src/meta/store/index.ts";
import { b, rejectsWith, runMetaStoreCompliance } from "./compliance.ts";
import { TcpProxy } from "./tcp-proxy.ts";

const ZK = process.env.TALARIA_ZK;
/** Bound on waiting for an election to move on after a leader leaves. */
const HANDOVER_WAIT_MS = 15_000;

if (ZK === undefined || ZK === "") {
  it("ZooKeeper meta store", {
    skip: "ZooKeeper tests skipped: set TALARIA_ZK (see .ci/run)",
  }, () => {});
} else {
  const connectionString = ZK;
  const base = `/talaria-test-${randomBytes(6).toString("hex")}`;
  let next = 0;
  const open = (rootPath: string, extra: Partial<ZooKeeperMetaStoreOptions> = {}) =>
    ZooKeeperMetaStore.open({ connectionString, rootPath, connectTimeoutMs: 5000, ...extra });

  after(async () => {
    const admin = await open("/");
    try {
      if (await admin.exists(base)) await admin.delete(base, { recursive: true });
    } finally {
      await admin.close();
    }
  });

  runMetaStoreCompliance("ZooKeeper", async () => {
    const rootPath = `${base}/${next++}`;
    return {
      open: () => open(rootPath),
      cleanup: async () => {
        const admin = await open(base);
        try {
          await admin.delete(rootPath.slice(base.length), { recursive: true });
        } finally {
          await admin.close();
        }
      },
    };
  });

  /** Resolves with true once `promise` settles successfully, false after `ms`. */
  function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), ms);
      promise.then(
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  describe("ZooKeeper meta store: sessions and leader election", () => {
    const stores: MetaStore[] = [];
    const openStore = async (rootPath: string, extra: Partial<ZooKeeperMetaStoreOptions> = {}) => {
      const store = await open(rootPath, extra);
      stores.push(store);
      return store;
    };
    after(async () => {
      for (const store of stores) await store.close();
    });

    it("a new client sees what another wrote, under the same root only", async () => {
      const root = `${base}/shared`;
      const writer = await openStore(root);
      await writer.set("/apps/1", b("app"));
      const reader = await openStore(root);
      assert.deepEqual(await reader.get("/apps/1"), b("app"));
      const other = await openStore(`${base}/elsewhere`);
      assert.equal(await other.exists("/apps/1"), false);
      const admin = await openStore(base);
      assert.deepEqual(await admin.get("/shared/apps/1"), b("app"));
    });

    it("fails with ERR_NETWORK_FAILURE when no server answers", async () => {
      const proxy = await TcpProxy.start(connectionString);
      proxy.cut();
      await rejectsWith(
        ZooKeeperMetaStore.open({
          connectionString: proxy.address,
          rootPath: "/x",
          connectTimeoutMs: 300,
        }),
        "ERR_NETWORK_FAILURE",
      );
      await proxy.close();
    });

    it("two candidates: one leads; when its session closes the other takes over", async () => {
      const root = `${base}/election-close`;
      const storeA = await openStore(root);
      const storeB = await openStore(root);
      const a = storeA.election("a:34601");
      const b2 = storeB.election("b:34601");
      await a.campaign();
      const bLeads = b2.campaign();
      assert.equal(await settlesWithin(bLeads, 200), false, "b must wait while a leads");
      assert.equal(a.isLeader(), true);
      assert.equal(b2.isLeader(), false);
      assert.equal(await a.leader(), "a:34601");
      assert.equal(await b2.leader(), "a:34601");
      await storeA.close();
      assert.equal(await settlesWithin(bLeads, HANDOVER_WAIT_MS), true, "b leads after a leaves");
      assert.equal(b2.isLeader(), true);
      assert.equal(await b2.leader(), "b:34601");
      assert.equal(a.isLeader(), false);
    });

    it("resign hands the leadership to the next candidate in line", async () => {
      const root = `${base}/election-resign`;
      const elections: LeaderElection[] = [];
      for (const name of ["a", "b", "c"]) {
        elections.push((await openStore(root)).election(`${name}:1`));
      }
      const [a, b2, c] = elections as [LeaderElection, LeaderElection, LeaderElection];
      await a.campaign();
      const bLeads = b2.campaign();
      const cLeads = c.campaign();
      await c.resign(); // leaves the queue before ever leading
      await rejectsWith(cLeads, "ERR_INVALID_STATE");
      await a.resign();
      assert.equal(await settlesWithin(bLeads, HANDOVER_WAIT_MS), true);
      assert.equal(await a.leader(), "b:1");
      assert.equal(a.isLeader(), false);
    });

    it("a leader whose election node is deleted is told it lost", async () => {
      const root = `${base}/election-deleted`;
      const storeA = await openStore(root);
      const a = storeA.election("a:1");
      const lost: string[] = [];
      a.onLost((reason) => lost.push(reason));
      await a.campaign();
      const b2 = (await openStore(root)).election("b:1");
      const bLeads = b2.campaign();
      const [node] = await storeA.children(ELECTION_PATH);
      assert.ok(node !== undefined);
      const admin = await openStore(root);
      await admin.delete(`${ELECTION_PATH}/${node}`);
      assert.equal(await settlesWithin(bLeads, HANDOVER_WAIT_MS), true);
      assert.equal(a.isLeader(), false);
      assert.equal(lost.length, 1);
      assert.match(lost[0] ?? "", /deleted/);
    });

    it("a leader cut off from ZooKeeper loses leadership and its store; the other leads", async () => {
      const root = `${base}/election-partition`;
      const proxy = await TcpProxy.start(connectionString);
      try {
        // The server clamps the session timeout to at least 2 ticks (4 s with tickTime=2000).
        const storeA = await openStore(root, {
          connectionString: proxy.address,
          sessionTimeoutMs: 4000,
          opTimeoutMs: 1000,
        });
        const a = storeA.election("a:1");
        const lost = new Promise<string>((resolve) => a.onLost(resolve));
        await a.campaign();
        const b2 = (await openStore(root)).election("b:1");
        const bLeads = b2.campaign();
        proxy.cut();
        assert.match(await lost, /session/);
        assert.equal(a.isLeader(), false);
        await rejectsWith(storeA.get("/"), "ERR_INVALID_STATE");
        assert.equal(await settlesWithin(bLeads, HANDOVER_WAIT_MS), true);
        assert.equal(await b2.leader(), "b:1");
      } finally {
        await proxy.close();
      }
    });
  });
}
