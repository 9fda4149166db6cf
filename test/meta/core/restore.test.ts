import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetaCore, type MetaRecord } from "../../../src/meta/core/index.ts";
import { MetaMethod } from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

const encode = (value: unknown): Uint8Array =>
  new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

/** A cluster with history: tables created, dropped, recalled, envs, failures, learners. */
function busyCluster(): Driver {
  const [A, B, C, D] = nodes(4) as [string, string, string, string];
  const driver = Driver.create({ holdSecondsForDroppedApp: 3_600 });
  driver.beaconAll([A, B, C, D]);
  driver.createApp("a", 4, 3);
  driver.createApp("b", 2, 2);
  driver.createApp("c", 1, 1);
  driver.ok(MetaMethod.SET_APP_ENVS, { appName: "a", envs: { default_ttl: "60" } });
  driver.ok(MetaMethod.DROP_APP, { appName: "b" });
  driver.ok(MetaMethod.DROP_APP, { appName: "c" });
  driver.ok(MetaMethod.RECALL_APP, { appId: 3, newAppName: "c2" });
  driver.nowMs += 10_001;
  driver.beaconAll([A, B, C]);
  driver.tick();
  driver.beaconAll([A, B, C, D]);
  driver.tick(1);
  const [proposal] = driver.core.learnerProposals();
  assert.ok(proposal !== undefined);
  const config = driver.config(proposal.gpid.appId, proposal.gpid.partitionIndex);
  driver.ok(MetaMethod.UPDATE_CONFIGURATION, {
    gpid: proposal.gpid,
    node: config.primary as string,
    ballot: config.ballot,
    change: { type: "ADD_SECONDARY", node: proposal.learner },
  });
  return driver;
}

describe("meta core: restore", () => {
  it("rebuilds exactly the committed state from the persisted records", () => {
    const driver = busyCluster();
    const restored = MetaCore.restore(driver.store.list());
    assert.deepEqual(restored.restoreReport.problems, []);
    assert.deepEqual(restored.durableState(), driver.core.durableState());
    assert.equal(restored.restoreReport.apps, 3);
    assert.equal(restored.restoreReport.nextAppId, 4);
    // Restored nodes are known, alive, not yet heard from.
    assert.ok(
      restored.listNodes().nodes.every((n) => n.status === "ALIVE" && n.lastBeaconMs === undefined),
    );
    // And it continues where the old core stopped: next id, names, ballots.
    const next = new Driver(restored, driver.nowMs);
    next.beaconAll(nodes(4));
    assert.equal(
      next.ok(MetaMethod.CREATE_APP, { appName: "d", partitionCount: 1, replicaCount: 1 }).app
        .appId,
      4,
    );
    assert.equal(
      next.errorCode(MetaMethod.CREATE_APP, { appName: "b", partitionCount: 1, replicaCount: 1 }),
      "ERR_APP_EXIST",
    );
  });

  it("ignores structural and foreign nodes, and reports corrupt records instead of crashing", () => {
    const driver = busyCluster();
    const records: MetaRecord[] = [
      ...driver.store
        .list()
        .filter((r) => r.path !== "/talaria/apps/1/2" && r.path !== "/talaria/apps/1/3"),
      { path: "/talaria", value: new Uint8Array() },
      { path: "/talaria/apps", value: new Uint8Array() },
      { path: "/talaria/apps/1/duplication", value: new Uint8Array() },
      { path: "/talaria/backup/policy", value: encode("{}") },
      { path: "/talaria/apps/1/3", value: encode("{not json") },
      {
        path: "/talaria/apps/2/9",
        value: driver.store.records.get("/talaria/apps/2/0") as Uint8Array,
      },
      {
        path: "/talaria/apps/7",
        value: encode({
          v: 1,
          appId: 7,
          appName: "a",
          partitionCount: 1,
          replicaCount: 1,
          status: "AVAILABLE",
          envs: {},
          createdAtMs: 1,
        }),
      },
      {
        path: "/talaria/apps/7/0",
        value: driver.store.records.get("/talaria/apps/3/0") as Uint8Array,
      },
      { path: "/talaria/apps/8", value: encode({ v: 2, appId: 8 }) },
      { path: "/talaria/apps/x", value: encode("{}") },
    ];
    const restored = MetaCore.restore(records);
    const problems = restored.restoreReport.problems.map(
      (p) => `${p.path}: ${p.reason.split(/[:(]/)[0]?.trim()}`,
    );
    assert.deepEqual(problems, [
      "/talaria/apps/1/2: missing partition record",
      "/talaria/apps/1/3: not UTF-8 JSON",
      "/talaria/apps/2/9: partition index beyond the table's 2 partitions",
      '/talaria/apps/7: name "a" is already used by app 1',
      "/talaria/apps/7/0: partition of missing or skipped app 7",
      "/talaria/apps/8: format version 2 is not 1",
      "/talaria/apps/x: not a table id under apps/",
      "/talaria/next_app_id: 4 is not above every app id; using 9",
    ]);
    const state = restored.durableState();
    assert.equal(state.nextAppId, 9, "ids of skipped records are never reused");
    assert.deepEqual(
      state.apps.map((a) => a.appId),
      [1, 2, 3],
    );
    const broken = state.partitions.filter((c) => c.gpid.appId === 1 && c.gpid.partitionIndex >= 2);
    assert.deepEqual(
      broken.map((c) => [c.ballot, c.primary, c.secondaries]),
      [
        [0, undefined, []],
        [0, undefined, []],
      ],
    );
    assert.equal(restored.clusterInfo().partitions.unwritable, 2);
  });

  it("restores an empty store as a fresh cluster and recovers a missing next_app_id", () => {
    assert.deepEqual(MetaCore.restore([]).durableState(), {
      nextAppId: 1,
      apps: [],
      partitions: [],
      duplications: [],
      removedApps: [],
      orphanResyncMarks: [],
    });
    const driver = busyCluster();
    const restored = MetaCore.restore(
      driver.store.list().filter((r) => r.path !== "/talaria/next_app_id"),
    );
    assert.equal(restored.durableState().nextAppId, 4);
    assert.match(restored.restoreReport.problems[0]?.reason ?? "", /missing; using 4/);
  });

  it("restores removal records, refusing one for an available table and a corrupt one", () => {
    const driver = Driver.create({ holdSecondsForDroppedApp: 60 });
    driver.beaconAll(nodes(3));
    driver.createApp("a", 1, 3);
    driver.createApp("b", 1, 3);
    driver.ok(MetaMethod.DROP_APP, { appName: "b" });
    driver.beaconAll(nodes(3));
    driver.tick(61_000);
    assert.ok(driver.store.records.has("/talaria/removed_apps/2"));
    const removedB = { v: 1, appId: 2, appName: "b", removedAtMs: 5 };
    const records: MetaRecord[] = [
      ...driver.store.list().filter((r) => r.path !== "/talaria/removed_apps/2"),
      { path: "/talaria/removed_apps/2", value: encode(removedB) },
      // Table 1 is available: a removal record for it is refused, its data never deleted.
      { path: "/talaria/removed_apps/1", value: encode({ ...removedB, appId: 1, appName: "a" }) },
      { path: "/talaria/removed_apps/7", value: encode({ v: 1, appId: 8 }) },
      { path: "/talaria/removed_apps/x", value: encode("{}") },
    ];
    const restored = MetaCore.restore(records);
    assert.deepEqual(
      restored.restoreReport.problems.map((p) => p.path),
      [
        "/talaria/next_app_id",
        "/talaria/removed_apps/1",
        "/talaria/removed_apps/7",
        "/talaria/removed_apps/x",
      ],
    );
    assert.equal(restored.restoreReport.removedApps, 1);
    assert.deepEqual(restored.durableState().removedApps, [
      { appId: 2, appName: "b", removedAtMs: 5 },
    ]);
    assert.equal(restored.durableState().nextAppId, 8, "a removed id is never handed out again");
    const reply = restored.beacon(
      { node: nodes(3)[0] as string, replicas: [], storedAppIds: [1, 2, 7] },
      0,
    );
    assert.deepEqual(reply.removedAppIds, [2]);
  });

  it("restores the re-sync marks removed duplications left, reporting corrupt records", () => {
    const mark = { v: 1, remote: "dc2", remote_app_name: "t", env: "duplication.resync_from.dc1" };
    const root = "/talaria/orphan_resync_marks";
    const restored = MetaCore.restore([
      { path: `${root}/3.1700000000`, value: encode(mark) },
      { path: `${root}/3.x`, value: encode(mark) },
      { path: `${root}/4.9`, value: encode({ ...mark, v: 2 }) },
      { path: `${root}/5.9`, value: encode({ ...mark, env: "" }) },
      { path: `${root}/6.9`, value: encode('"a string"') },
    ]);
    assert.deepEqual(
      restored.restoreReport.problems.map((p) => [p.path, p.reason.split(":")[0]]),
      [
        [`${root}/3.x`, "not <appId>.<dupid> under orphan_resync_marks/"],
        [`${root}/4.9`, "format version 2 is not 1"],
        [`${root}/5.9`, "env missing"],
        [`${root}/6.9`, "not a JSON object"],
      ],
    );
    assert.equal(restored.restoreReport.orphanResyncMarks, 1);
    assert.deepEqual(restored.orphanResyncMarks(), [
      {
        appId: 3,
        dupid: 1700000000,
        remoteClusterName: "dc2",
        remoteAppName: "t",
        envKey: "duplication.resync_from.dc1",
      },
    ]);
  });

  it("reads a custom cluster root", () => {
    const driver = Driver.create({ clusterRoot: "/pegasus/onebox" });
    driver.beaconAll(nodes(1));
    driver.createApp("t", 1, 1);
    assert.ok(driver.store.records.has("/pegasus/onebox/apps/1/0"));
    const restored = MetaCore.restore(driver.store.list(), { clusterRoot: "/pegasus/onebox" });
    assert.deepEqual(restored.durableState(), driver.core.durableState());
  });
});
