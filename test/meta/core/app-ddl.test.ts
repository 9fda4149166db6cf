import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import { MetaCore } from "../../../src/meta/core/index.ts";
import { AppStatus, MetaMethod } from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

function cluster(nodeCount = 3, options = {}, deps = {}): Driver {
  const driver = Driver.create(options, deps);
  driver.beaconAll(nodes(nodeCount));
  return driver;
}

describe("meta core: create table", () => {
  it("creates a table with ballot-1 configurations and persists app, partitions and next_app_id", () => {
    const driver = cluster(3);
    const created = driver.ok(MetaMethod.CREATE_APP, {
      appName: "users",
      partitionCount: 4,
      replicaCount: 3,
      envs: { default_ttl: "86400" },
    });
    assert.equal(created.app.appId, 1);
    assert.equal(created.app.status, AppStatus.AVAILABLE);
    assert.deepEqual(created.app.envs, { default_ttl: "86400" });
    assert.equal(created.partitions.length, 4);
    for (const config of created.partitions) {
      assert.equal(config.ballot, 1);
      assert.ok(config.primary !== undefined);
      assert.equal(new Set([config.primary, ...config.secondaries]).size, 3);
    }
    assert.deepEqual([...driver.store.records.keys()].sort(), [
      "/talaria/apps/1",
      "/talaria/apps/1/0",
      "/talaria/apps/1/1",
      "/talaria/apps/1/2",
      "/talaria/apps/1/3",
      "/talaria/next_app_id",
    ]);
    assert.equal(new TextDecoder().decode(driver.store.records.get("/talaria/next_app_id")), "2");
    assert.equal(
      driver.ok(MetaMethod.CREATE_APP, { appName: "b", partitionCount: 1, replicaCount: 1 }).app
        .appId,
      2,
    );
  });

  it("refuses bad parameters with stable codes", () => {
    const driver = cluster(3);
    driver.createApp("t", 2, 3);
    const code = (body: Parameters<typeof driver.errorCode<"meta.create_app">>[1]) =>
      driver.errorCode(MetaMethod.CREATE_APP, body);
    assert.equal(code({ appName: "t", partitionCount: 2, replicaCount: 3 }), "ERR_APP_EXIST");
    assert.equal(
      code({ appName: "u", partitionCount: 0, replicaCount: 3 }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      code({ appName: "u", partitionCount: 1025, replicaCount: 3 }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      code({ appName: "u", partitionCount: 1.5, replicaCount: 3 }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      code({ appName: "u", partitionCount: 1, replicaCount: 6 }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      code({ appName: "u", partitionCount: 1, replicaCount: 0 }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      code({ appName: "bad name", partitionCount: 1, replicaCount: 1 }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      code({ appName: "", partitionCount: 1, replicaCount: 1 }),
      "ERR_INVALID_PARAMETERS",
    );
    // Refusals write nothing.
    assert.equal(driver.persists.length, 1);
  });

  it("needs as many live nodes as replicas, and says so", () => {
    const driver = cluster(2);
    const result = driver.call(MetaMethod.CREATE_APP, {
      appName: "t",
      partitionCount: 1,
      replicaCount: 3,
    });
    assert.ok(!result.ok);
    assert.equal(result.error.code, "ERR_INVALID_PARAMETERS");
    assert.match(result.error.message, /needs 3 live replica servers.*only 2/);
  });

  it("validates envs with the injected validator and the named bounds", () => {
    const validateAppEnv = (key: string, value: string): void => {
      if (key === "default_ttl" && !/^\d+$/.test(value))
        throw new TalariaError("ERR_INVALID_PARAMETERS", `default_ttl must be seconds`);
      if (key === "boom") throw new Error("not a TalariaError");
    };
    const driver = cluster(3, { appEnvCountMax: 2 }, { validateAppEnv });
    const code = (envs: Record<string, string>) =>
      driver.errorCode(MetaMethod.CREATE_APP, {
        appName: "t",
        partitionCount: 1,
        replicaCount: 1,
        envs,
      });
    assert.equal(code({ default_ttl: "soon" }), "ERR_INVALID_PARAMETERS");
    assert.equal(code({ boom: "1" }), "ERR_INVALID_PARAMETERS");
    assert.equal(code({ a: "1", b: "2", c: "3" }), "ERR_INVALID_PARAMETERS");
    driver.ok(MetaMethod.CREATE_APP, {
      appName: "t",
      partitionCount: 1,
      replicaCount: 1,
      envs: { default_ttl: "60" },
    });
  });
});

describe("meta core: placement", () => {
  it("spreads primaries and replicas evenly over live nodes, deterministically", () => {
    const driver = cluster(4);
    const configs = driver.createApp("t", 8, 3);
    const primaries = new Map<string, number>();
    const replicas = new Map<string, number>();
    for (const c of configs) {
      primaries.set(c.primary ?? "", (primaries.get(c.primary ?? "") ?? 0) + 1);
      for (const n of [c.primary ?? "", ...c.secondaries])
        replicas.set(n, (replicas.get(n) ?? 0) + 1);
    }
    assert.deepEqual([...primaries.values()], [2, 2, 2, 2]);
    assert.deepEqual([...replicas.values()], [6, 6, 6, 6]);
    const again = cluster(4).createApp("t", 8, 3);
    assert.deepEqual(again, configs);
  });

  it("takes existing load into account for the next table", () => {
    const driver = cluster(3);
    driver.createApp("a", 1, 1);
    const second = driver.createApp("b", 2, 1);
    const used = [...driver.core.durableState().partitions].map((c) => c.primary);
    assert.equal(new Set(used).size, 3, "three single-replica partitions on three nodes");
    assert.equal(second.length, 2);
  });
});

describe("meta core: drop, recall, list", () => {
  it("drops, lists flagged, hides from beacons, and recalls with the same id and configurations", () => {
    const driver = cluster(3);
    const configs = driver.createApp("t", 2, 3);
    const node = nodes(3)[0] as string;
    assert.equal(driver.beacon(node).configs.length, 2);

    const dropped = driver.ok(MetaMethod.DROP_APP, { appName: "t" }).app;
    assert.equal(dropped.status, AppStatus.DROPPED);
    assert.equal(dropped.droppedAtMs, driver.nowMs);
    assert.equal(dropped.dropExpireAtMs, driver.nowMs + 604_800_000);
    const reply = driver.beacon(node, [
      {
        gpid: { appId: 1, partitionIndex: 0 },
        ballot: 1,
        status: "PRIMARY",
        lastCommittedDecree: 0,
        lastPreparedDecree: 0,
      },
    ]);
    assert.deepEqual(reply.configs, []);
    assert.deepEqual(reply.apps, []);
    assert.deepEqual(
      reply.droppedApps?.map((a) => a.appId),
      [1],
    );
    assert.equal(
      driver.errorCode(MetaMethod.QUERY_CONFIGURATION, { appName: "t" }),
      "ERR_APP_NOT_EXIST",
    );
    assert.deepEqual(
      driver.ok(MetaMethod.LIST_APPS, {}).apps.map((a) => [a.appName, a.status]),
      [["t", "DROPPED"]],
    );
    assert.equal(driver.ok(MetaMethod.LIST_APPS, { status: "AVAILABLE" }).apps.length, 0);
    // The name stays taken while the table can be recalled.
    assert.equal(
      driver.errorCode(MetaMethod.CREATE_APP, { appName: "t", partitionCount: 1, replicaCount: 1 }),
      "ERR_APP_EXIST",
    );
    assert.equal(driver.errorCode(MetaMethod.DROP_APP, { appName: "t" }), "ERR_APP_NOT_EXIST");

    const recalled = driver.ok(MetaMethod.RECALL_APP, { appId: 1 }).app;
    assert.equal(recalled.status, AppStatus.AVAILABLE);
    assert.equal(recalled.droppedAtMs, undefined);
    assert.deepEqual(
      driver.ok(MetaMethod.QUERY_CONFIGURATION, { appName: "t" }).partitions,
      configs,
    );
    assert.equal(driver.errorCode(MetaMethod.RECALL_APP, { appId: 1 }), "ERR_APP_EXIST");
    assert.equal(driver.errorCode(MetaMethod.RECALL_APP, { appId: 9 }), "ERR_APP_NOT_EXIST");
  });

  it("recalls under a new name when the old one was reused, and refuses after the hold period", () => {
    const driver = cluster(3, { holdSecondsForDroppedApp: 60 });
    driver.createApp("t", 1, 1);
    driver.ok(MetaMethod.DROP_APP, { appName: "t", reserveSeconds: 10 });
    driver.nowMs += 5_000;
    assert.equal(
      driver.errorCode(MetaMethod.RECALL_APP, { appId: 1, newAppName: "x y" }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      driver.ok(MetaMethod.RECALL_APP, { appId: 1, newAppName: "t2" }).app.appName,
      "t2",
    );
    driver.ok(MetaMethod.DROP_APP, { appName: "t2" });
    driver.nowMs += 60_000;
    assert.equal(driver.errorCode(MetaMethod.RECALL_APP, { appId: 1 }), "ERR_APP_NOT_EXIST");
    // Expired but not yet removed: the name is free again.
    driver.createApp("t2", 1, 1);
  });

  it("removes an expired dropped table in two steps and names it as removed to the servers", () => {
    const driver = cluster(3, { holdSecondsForDroppedApp: 60 });
    driver.createApp("gone", 2, 3);
    driver.createApp("kept", 1, 3);
    driver.ok(MetaMethod.DROP_APP, { appName: "gone" });
    driver.tick(59_000);
    assert.ok(driver.store.records.has("/talaria/apps/1"));
    assert.ok(!driver.store.records.has("/talaria/removed_apps/1"));
    driver.beaconAll(nodes(3));
    driver.tick(2_000);
    assert.deepEqual(
      driver.persists.slice(-2).map((p) => p.kind),
      ["RECORD_REMOVED_APP", "REMOVE_EXPIRED_APP"],
    );
    assert.ok(driver.store.records.has("/talaria/removed_apps/1"));
    assert.ok(!driver.store.records.has("/talaria/apps/1"));
    assert.ok(!driver.store.records.has("/talaria/apps/1/0"));
    assert.deepEqual(
      driver.core.listApps().apps.map((a) => a.appName),
      ["kept"],
    );
    assert.deepEqual(
      driver.core.durableState().removedApps.map((r) => [r.appId, r.appName]),
      [[1, "gone"]],
    );
    // A server still holding its replicas is told they are garbage; a live table is never named.
    const node = nodes(3)[0] as string;
    const report = (appId: number) => ({
      gpid: { appId, partitionIndex: 0 },
      ballot: 1,
      status: "PRIMARY" as const,
      lastCommittedDecree: 0,
      lastPreparedDecree: 0,
    });
    const reply = driver.beacon(node, [report(1), report(2)]);
    assert.deepEqual(reply.droppedApps, []);
    assert.deepEqual(reply.removedAppIds, [1]);
    assert.ok(reply.apps.every((a) => a.appId !== 1));
    // Replica data kept on disk without being hosted counts too; unknown ids are not garbage.
    const stored = driver.core.beacon({ node, replicas: [], storedAppIds: [99, 2, 1] }, 0);
    assert.deepEqual(stored.removedAppIds, [1]);
    assert.throws(
      () => driver.core.beacon({ node, replicas: [], storedAppIds: ["1"] as never }, 0),
      (error: unknown) => error instanceof TalariaError && error.code === "ERR_INVALID_PARAMETERS",
    );
    // The record survives a restart of the meta server, and the id is never handed out again.
    const restored = new Driver(MetaCore.restore(driver.store.list()), driver.nowMs);
    assert.deepEqual(restored.beacon(node, [report(1)]).removedAppIds, [1]);
    assert.equal(
      restored.ok(MetaMethod.CREATE_APP, { appName: "gone", partitionCount: 1, replicaCount: 1 })
        .app.appId,
      3,
    );
  });

  it("finishes a recorded removal after a restart, even with a clock behind the one that recorded it", () => {
    const driver = cluster(3, { holdSecondsForDroppedApp: 60 });
    driver.createApp("t", 1, 3);
    driver.ok(MetaMethod.DROP_APP, { appName: "t" });
    const droppedAt = driver.nowMs;
    driver.autoPersist = false;
    driver.tick(61_000);
    assert.deepEqual(
      driver.held.map((p) => p.kind),
      ["RECORD_REMOVED_APP"],
    );
    driver.release();
    // The meta server dies before deleting the app record.
    assert.deepEqual(
      driver.held.map((p) => p.kind),
      ["REMOVE_EXPIRED_APP"],
    );
    assert.ok(driver.store.records.has("/talaria/apps/1"));
    const records = driver.store.list();
    const restored = new Driver(MetaCore.restore(records), droppedAt + 10_000);
    for (const [path, value] of driver.store.records) restored.store.records.set(path, value);
    restored.beaconAll(nodes(3));
    assert.equal(restored.errorCode(MetaMethod.RECALL_APP, { appId: 1 }), "ERR_APP_NOT_EXIST");
    const node = nodes(3)[0] as string;
    const reply = restored.core.beacon({ node, replicas: [], storedAppIds: [1] }, restored.nowMs);
    assert.deepEqual(reply.removedAppIds, [1]);
    restored.tick(1_000);
    assert.equal(restored.persists.at(-1)?.kind, "REMOVE_EXPIRED_APP");
    assert.ok(!restored.store.records.has("/talaria/apps/1"));
    assert.ok(restored.store.records.has("/talaria/removed_apps/1"));
    assert.deepEqual(restored.core.listApps().apps, []);
  });
});

describe("meta core: app envs", () => {
  it("sets, merges and deletes envs; beacons carry them", () => {
    const driver = cluster(3);
    driver.createApp("t", 1, 3);
    const set = driver.ok(MetaMethod.SET_APP_ENVS, {
      appName: "t",
      envs: { "replica.write_throttling": "100*delay*10", "manual_compact.once.trigger_time": "1" },
    });
    assert.deepEqual(set.keys, ["manual_compact.once.trigger_time", "replica.write_throttling"]);
    const node = nodes(3)[0] as string;
    assert.equal(driver.beacon(node).apps[0]?.envs["replica.write_throttling"], "100*delay*10");
    const del = driver.ok(MetaMethod.DEL_APP_ENVS, { appName: "t", prefix: "manual_compact." });
    assert.deepEqual(del.keys, ["manual_compact.once.trigger_time"]);
    assert.deepEqual(del.app.envs, { "replica.write_throttling": "100*delay*10" });
    const persistsBefore = driver.persists.length;
    assert.deepEqual(
      driver.ok(MetaMethod.DEL_APP_ENVS, { appName: "t", keys: ["absent"] }).keys,
      [],
    );
    assert.equal(driver.persists.length, persistsBefore, "deleting nothing writes nothing");
    assert.equal(
      driver.errorCode(MetaMethod.SET_APP_ENVS, { appName: "nope", envs: { a: "1" } }),
      "ERR_APP_NOT_EXIST",
    );
    assert.equal(
      driver.errorCode(MetaMethod.SET_APP_ENVS, { appName: "t", envs: {} }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      driver.errorCode(MetaMethod.DEL_APP_ENVS, { appName: "t" }),
      "ERR_INVALID_PARAMETERS",
    );
  });
});

describe("meta core: two-phase persistence", () => {
  it("shows nothing and replies nothing before Persisted", () => {
    const driver = cluster(3);
    driver.autoPersist = false;
    const requestId = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "t", partitionCount: 2, replicaCount: 3 },
    });
    assert.equal(driver.held.length, 1);
    assert.equal(driver.replies.has(requestId), false);
    assert.deepEqual(driver.core.listApps().apps, []);
    assert.deepEqual(driver.beacon(nodes(3)[0] as string).configs, []);
    assert.equal(driver.core.clusterInfo().persistsInFlight, 1);
    driver.release();
    assert.equal(driver.replies.get(requestId)?.ok, true);
    assert.equal(driver.core.listApps().apps.length, 1);
  });

  it("serializes DDL: the second change is planned only after the first commits", () => {
    const driver = cluster(3);
    driver.autoPersist = false;
    const first = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "t", partitionCount: 1, replicaCount: 1 },
    });
    const second = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "t", partitionCount: 1, replicaCount: 1 },
    });
    assert.equal(driver.held.length, 1, "one DDL persist at a time");
    assert.equal(driver.core.clusterInfo().ddlQueued, 1);
    driver.release();
    assert.equal(driver.replies.get(first)?.ok, true);
    const result = driver.replies.get(second);
    assert.ok(result !== undefined && !result.ok);
    assert.equal(result.error.code, "ERR_APP_EXIST");
  });

  it("refuses DDL beyond ddlQueueMax with ERR_BUSY", () => {
    const driver = cluster(3, { ddlQueueMax: 1 });
    driver.autoPersist = false;
    driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "a", partitionCount: 1, replicaCount: 1 },
    });
    driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "b", partitionCount: 1, replicaCount: 1 },
    });
    const third = driver.call(MetaMethod.CREATE_APP, {
      appName: "c",
      partitionCount: 1,
      replicaCount: 1,
    });
    assert.ok(!third.ok);
    assert.equal(third.error.code, "ERR_BUSY");
    assert.equal(third.error.retriable, true);
  });

  it("retries a retriable failure with backoff and answers once it succeeds", () => {
    const driver = cluster(3, { persistRetryDelayMs: 1_000, persistRetryDelayMaxMs: 3_000 });
    driver.autoPersist = false;
    const requestId = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "t", partitionCount: 1, replicaCount: 1 },
    });
    const first = driver.held[0];
    assert.ok(first !== undefined);
    driver.fail(first, new TalariaError("ERR_TIMEOUT", "zk timeout"));
    driver.tick(999);
    assert.equal(driver.held.length, 0, "not before the delay");
    driver.tick(1);
    assert.equal(driver.held.length, 1);
    const retry = driver.held[0];
    assert.ok(retry !== undefined);
    assert.equal(retry.opId, first.opId);
    assert.equal(retry.attempt, 2);
    assert.deepEqual(retry.writes, first.writes);
    driver.fail(retry, new Error("connection reset"));
    driver.tick(1_999);
    assert.equal(driver.held.length, 0, "delay doubled");
    driver.tick(1);
    assert.equal(driver.replies.has(requestId), false);
    driver.release();
    assert.equal(driver.replies.get(requestId)?.ok, true);
  });

  it("abandons a change on a definite (non-retriable) failure and replies the error", () => {
    const driver = cluster(3);
    driver.autoPersist = false;
    const requestId = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "t", partitionCount: 1, replicaCount: 1 },
    });
    const held = driver.held[0];
    assert.ok(held !== undefined);
    driver.fail(held, new TalariaError("ERR_OBJECT_EXIST", "node exists"));
    const result = driver.replies.get(requestId);
    assert.ok(result !== undefined && !result.ok);
    assert.equal(result.error.code, "ERR_OBJECT_EXIST");
    assert.deepEqual(driver.core.listApps().apps, []);
    driver.autoPersist = true;
    assert.equal(driver.createApp("t", 1, 1).length, 1, "the DDL queue moves on");
    assert.equal(
      driver.core.durableState().apps[0]?.appId,
      1,
      "the abandoned id is reused only because nothing was written",
    );
  });

  it("persists a large table in parts of at most persistWritesPerOpMax writes, app record last", () => {
    const driver = cluster(3);
    driver.autoPersist = false;
    const requestId = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "big", partitionCount: 1024, replicaCount: 3 },
    });
    const parts: number[] = [];
    while (driver.held.length > 0) {
      const part = driver.held[0];
      assert.ok(part !== undefined);
      assert.equal(part.part, parts.length + 1);
      assert.equal(part.parts, 9, "1024 partitions + app + next_app_id in parts of 128");
      assert.ok(part.writes.length <= 128);
      assert.equal(driver.replies.has(requestId), false);
      assert.deepEqual(driver.core.listApps().apps, [], "not visible before the last part");
      parts.push(part.writes.length);
      driver.release();
    }
    assert.deepEqual(parts, [128, 128, 128, 128, 128, 128, 128, 128, 2]);
    assert.deepEqual(
      driver.persists.at(-1)?.writes.map((w) => w.path),
      ["/talaria/apps/1", "/talaria/next_app_id"],
    );
    assert.equal(driver.replies.get(requestId)?.ok, true);
    assert.equal(driver.core.durableState().partitions.length, 1024);
  });

  it("never reuses the id of a table whose creation was abandoned after some parts landed", () => {
    const driver = cluster(3, { persistWritesPerOpMax: 4 });
    driver.autoPersist = false;
    const requestId = driver.send({
      method: MetaMethod.CREATE_APP,
      body: { appName: "t", partitionCount: 6, replicaCount: 1 },
    });
    driver.release();
    const second = driver.held[0];
    assert.ok(second !== undefined && second.part === 2);
    driver.fail(second, new TalariaError("ERR_LIMIT_EXCEEDED", "too big"));
    assert.equal(driver.replies.get(requestId)?.ok, false);
    assert.deepEqual(driver.core.listApps().apps, []);
    assert.equal(driver.core.durableState().nextAppId, 2, "id 1 is burned");
    const restored = MetaCore.restore(driver.store.list());
    assert.deepEqual(restored.durableState(), driver.core.durableState());
    assert.deepEqual(
      restored.restoreReport.problems.map((p) => p.path),
      [0, 1, 2, 3].map((i) => `/talaria/apps/1/${i}`).concat("/talaria/next_app_id"),
      "the leftover records are reported",
    );
    driver.autoPersist = true;
    assert.equal(driver.createApp("t", 1, 1)[0]?.gpid.appId, 2);
  });

  it("bounds the app record size (ERR_LIMIT_EXCEEDED naming appRecordBytesMax)", () => {
    const driver = cluster(1, { appRecordBytesMax: 1_000 });
    driver.createApp("t", 1, 1);
    const result = driver.call(MetaMethod.SET_APP_ENVS, {
      appName: "t",
      envs: { note: "x".repeat(1_000) },
    });
    assert.ok(!result.ok);
    assert.equal(result.error.code, "ERR_LIMIT_EXCEEDED");
    assert.equal(result.error.details.limit, "appRecordBytesMax");
  });

  it("rejects persist outcomes for unknown ops as programmer errors", () => {
    const core = MetaCore.create();
    assert.throws(() => core.step({ type: "persisted", nowMs: 0, opId: 42 }), {
      name: "AssertionError",
    });
  });
});
