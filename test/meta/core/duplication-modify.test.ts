import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import { formatCreateTs, pegasusQueryJson } from "../../../src/meta/core/duplication/index.ts";
import {
  DuplicationFailMode,
  DuplicationMethod,
  DuplicationStatus,
  MetaMethod,
  PatternMatchType,
} from "../../../src/protocol/index.ts";
import {
  addStarted,
  dupCluster,
  dupidOf,
  query,
  reportFromPrimaries,
  sendAdd,
  syncOk,
} from "./duplication-harness.ts";

const MODIFY = DuplicationMethod.MODIFY;
const { DS_INIT, DS_PREPARE, DS_APP, DS_LOG, DS_PAUSE, DS_REMOVED } = DuplicationStatus;

describe("modify_duplication (ref §2.3.2)", () => {
  it("pauses, starts and sets fail modes; same-to-same is a no-op; refusals leave the status", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addStarted(driver, appId);
    const modify = (body: Record<string, unknown>) =>
      driver.call(MODIFY, { appName: "t", dupid, ...body });
    const status = () => query(driver).duplications[0]?.status;
    const writes = () => driver.persists.filter((p) => p.kind === "ALTER_DUPLICATION").length;

    assert.equal(modify({ status: DS_LOG }).ok, true);
    assert.equal(writes(), 0, "LOG → LOG writes nothing");
    assert.equal(modify({ status: DS_PAUSE }).ok, true);
    assert.equal(status(), DS_PAUSE);
    assert.equal(modify({ status: DS_PAUSE }).ok, true);
    assert.equal(writes(), 1);
    assert.equal(modify({ failMode: DuplicationFailMode.FAIL_SKIP }).ok, true);
    assert.equal(status(), DS_PAUSE, "a fail-mode change keeps the status");
    assert.equal(modify({ status: DS_LOG }).ok, true);
    const dup = query(driver).duplications[0];
    assert.equal(dup?.status, DS_LOG);
    assert.equal(dup?.failMode, DuplicationFailMode.FAIL_SKIP, "the fail mode survives");
    assert.equal(
      syncOk(driver, driver.config(appId, 0).primary ?? "").apps[0]?.duplications[0]?.failMode,
      DuplicationFailMode.FAIL_SKIP,
      "sync replies carry the fail mode",
    );

    for (const to of [DS_PREPARE, DS_APP, DS_INIT]) {
      const refused = modify({ status: to });
      assert.ok(!refused.ok && refused.error.code === "ERR_INVALID_PARAMETERS", to);
    }
    assert.equal(status(), DS_LOG);
    assert.equal(
      driver.errorCode(MODIFY, { appName: "t", dupid: dupid + 1, status: DS_PAUSE }),
      "ERR_OBJECT_NOT_FOUND",
    );
    assert.equal(
      driver.errorCode(MODIFY, { appName: "nope", dupid, status: DS_PAUSE }),
      "ERR_APP_NOT_EXIST",
    );
  });

  it("keeps a change invisible until persisted, answers ERR_BUSY meanwhile, and rolls back a refused write", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addStarted(driver, appId);
    driver.autoPersist = false;
    const pause = driver.send({ method: MODIFY, body: { appName: "t", dupid, status: DS_PAUSE } });
    assert.equal(query(driver).duplications[0]?.status, DS_LOG, "not visible before persisted");
    assert.equal(driver.errorCode(MODIFY, { appName: "t", dupid, status: DS_REMOVED }), "ERR_BUSY");
    const [held] = driver.held;
    driver.fail(held as NonNullable<typeof held>, new TalariaError("ERR_INVALID_PARAMETERS", "x"));
    assert.equal(driver.replies.get(pause)?.ok, false);
    assert.equal(query(driver).duplications[0]?.status, DS_LOG);
    driver.send({ method: MODIFY, body: { appName: "t", dupid, status: DS_PAUSE } });
    driver.release();
    assert.equal(query(driver).duplications[0]?.status, DS_PAUSE);
  });

  it("in DS_INIT: start is ERR_BUSY (it starts by itself), pause is invalid, remove answers the waiting add", () => {
    const { driver } = dupCluster(2);
    const add = sendAdd(driver);
    const dupid = dupidOf(driver);
    assert.equal(driver.errorCode(MODIFY, { appName: "t", dupid, status: DS_LOG }), "ERR_BUSY");
    assert.equal(
      driver.errorCode(MODIFY, { appName: "t", dupid, status: DS_PAUSE }),
      "ERR_INVALID_PARAMETERS",
    );
    assert.equal(
      driver.ok(MODIFY, { appName: "t", dupid, failMode: DuplicationFailMode.FAIL_FAST }).failMode,
      DuplicationFailMode.FAIL_FAST,
    );
    assert.equal(query(driver).duplications[0]?.status, DS_INIT);
    driver.ok(MODIFY, { appName: "t", dupid, status: DS_REMOVED });
    const answer = driver.replies.get(add);
    assert.ok(answer !== undefined && !answer.ok);
    assert.equal(answer.error.code, "ERR_OBJECT_NOT_FOUND");
    assert.equal(
      driver.errorCode(MODIFY, { appName: "t", dupid, status: DS_REMOVED }),
      "ERR_OBJECT_NOT_FOUND",
      "a removed duplication is gone",
    );
    // The pair is free again, under a new dupid.
    sendAdd(driver, { waitMs: 0 });
    assert.ok(dupidOf(driver) > dupid);
  });
});

describe("query and list", () => {
  it("lists tables by name pattern, including those without duplications", () => {
    const { driver, appId } = dupCluster(2);
    driver.createApp("tx", 1, 3);
    addStarted(driver, appId, () => 4);
    const list = (appNamePattern: string | undefined, matchType?: PatternMatchType) =>
      driver
        .ok(DuplicationMethod.LIST, {
          ...(appNamePattern === undefined ? {} : { appNamePattern }),
          ...(matchType === undefined ? {} : { matchType }),
        })
        .apps.map((a) => `${a.appName}:${a.duplications.length}:${a.partitionCount}`);
    assert.deepEqual(list(undefined), ["t:1:2", "u:0:2", "tx:0:1"]);
    assert.deepEqual(list("t", PatternMatchType.MATCH_EXACT), ["t:1:2"]);
    assert.deepEqual(list("t", PatternMatchType.MATCH_PREFIX), ["t:1:2", "tx:0:1"]);
    assert.deepEqual(list("x", PatternMatchType.MATCH_POSTFIX), ["tx:0:1"]);
    assert.deepEqual(list("x", PatternMatchType.MATCH_ANYWHERE), ["tx:0:1"]);
    assert.deepEqual(list("zzz", PatternMatchType.MATCH_ALL), ["t:1:2", "u:0:2", "tx:0:1"]);
    assert.equal(
      driver.errorCode(DuplicationMethod.LIST, { matchType: PatternMatchType.MATCH_PREFIX }),
      "ERR_INVALID_PARAMETERS",
    );
    driver.ok(MetaMethod.DROP_APP, { appName: "tx" });
    assert.deepEqual(
      list("t", PatternMatchType.MATCH_PREFIX),
      ["t:1:2"],
      "dropped tables left out",
    );
  });

  it("renders Pegasus's HTTP JSON (ref §6.3)", () => {
    const { driver, appId } = dupCluster(2);
    assert.equal(pegasusQueryJson(query(driver)), null, "no duplication: null");
    const { dupid } = addStarted(driver, appId, (p) => 3 + p, { remoteAppName: "remote_t" });
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      (p) => 3 + p,
      undefined,
      (p) => 20 + p,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(pegasusQueryJson(query(driver)))), {
      "1": {
        create_ts: formatCreateTs(driver.nowMs),
        dupid,
        fail_mode: "FAIL_SLOW",
        partition_states: {
          "0": { confirmed_decree: 3, last_committed_decree: 20 },
          "1": { confirmed_decree: 4, last_committed_decree: 21 },
        },
        remote: "dc2",
        remote_app_name: "remote_t",
        remote_replica_count: 3,
        status: "DS_LOG",
      },
      appid: appId,
    });
    assert.equal(formatCreateTs(1_717_138_357_000), "2024-05-31 06:52:37");
  });
});
