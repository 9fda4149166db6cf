import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import { initHint } from "../../../src/meta/core/duplication/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
  DuplicationStatus,
  MetaMethod,
} from "../../../src/protocol/index.ts";
import {
  addStarted,
  dupCluster,
  dupidOf,
  okReply,
  primaryOf,
  query,
  replyTo,
  reportFromPrimaries,
  sendAdd,
  syncOk,
} from "./duplication-harness.ts";
import { Driver, nodes } from "./harness.ts";

const ADD = DuplicationMethod.ADD;

describe("add_duplication: validation and error codes (ref §2.3.1)", () => {
  it("refuses self, unknown clusters, bad names and counts and missing tables", () => {
    const { driver } = dupCluster(4, {
      remoteClusters: { dc1: ["10.0.1.1:1"], dc2: ["10.0.2.1:1"], dc9: ["10.0.9.1:1"] },
    });
    const code = (body: Record<string, unknown>) =>
      driver.errorCode(ADD, { appName: "t", remoteClusterName: "dc2", ...body });
    assert.equal(code({ remoteClusterName: "dc1" }), "ERR_INVALID_PARAMETERS", "itself");
    assert.equal(code({ remoteClusterName: "dc9" }), "ERR_INVALID_PARAMETERS", "not in group");
    assert.equal(code({ remoteClusterName: "dc3" }), "ERR_INVALID_PARAMETERS", "no metas");
    assert.equal(code({ remoteClusterName: "" }), "ERR_INVALID_PARAMETERS");
    assert.equal(code({ remoteReplicaCount: -1 }), "ERR_INVALID_PARAMETERS");
    assert.equal(code({ remoteReplicaCount: 6 }), "ERR_INVALID_PARAMETERS", "over replicaCountMax");
    assert.equal(code({ remoteAppName: "bad name" }), "ERR_INVALID_PARAMETERS");
    assert.equal(code({ waitMs: 400_000 }), "ERR_INVALID_PARAMETERS", "over addWaitMsMax");
    assert.equal(code({ appName: "nope" }), "ERR_APP_NOT_EXIST");
    assert.equal(query(driver).duplications.length, 0, "nothing was created");
    assert.equal(driver.persists.filter((p) => p.kind === "ADD_DUPLICATION").length, 0);
  });

  it("accepts a remote outside [duplication-group] with ignoreOtherClusterIds", () => {
    const { driver } = dupCluster(2, { clusterIds: { dc1: 1 }, ignoreOtherClusterIds: true });
    sendAdd(driver, { waitMs: 0 });
    assert.equal(query(driver).duplications.length, 1);
  });

  it("refuses every duplication RPC with ERR_OPERATION_DISABLED when duplication is off", () => {
    const { driver, nodes: all } = dupCluster(2, { enabled: false });
    const disabled = (result: { ok: boolean; error?: TalariaError }) =>
      !result.ok && result.error?.code === "ERR_OPERATION_DISABLED";
    assert.ok(disabled(driver.call(ADD, { appName: "t", remoteClusterName: "dc2" })));
    assert.ok(disabled(driver.call(DuplicationMethod.QUERY, { appName: "t" })));
    assert.ok(disabled(driver.call(DuplicationMethod.LIST, {})));
    assert.ok(disabled(driver.call(DuplicationMethod.MODIFY, { appName: "t", dupid: 1 })));
    assert.ok(
      disabled(driver.call(DuplicationMethod.SYNC, { node: all[0] ?? "", partitions: [] })),
    );
  });

  it("answers ERR_DUP_EXIST naming the existing duplication, and refuses a remote table taken by another table", () => {
    const { driver, appId } = dupCluster(2);
    const first = addStarted(driver, appId, () => 3);
    const again = driver.call(ADD, { appName: "t", remoteClusterName: "dc2" });
    assert.ok(!again.ok);
    assert.equal(again.error.code, "ERR_DUP_EXIST");
    assert.deepEqual(again.error.details, {
      appId,
      dupid: first.dupid,
      status: DuplicationStatus.DS_LOG,
    });
    assert.equal(query(driver).duplications.length, 1, "still one duplication");
    // Table "u" may not feed dc2's table "t", which "t" already feeds; another name is fine.
    assert.equal(
      driver.errorCode(ADD, { appName: "u", remoteClusterName: "dc2", remoteAppName: "t" }),
      "ERR_INVALID_PARAMETERS",
    );
    sendAdd(driver, { appName: "u", remoteAppName: "u2", waitMs: 0 });
    const u = query(driver, "u").duplications[0];
    assert.equal(u?.remoteAppName, "u2");
    assert.equal(u?.remoteReplicaCount, 3, "0 / absent means the source's replica count");
  });

  it("answers ERR_BUSY to a second add of the same pair while the first is being persisted", () => {
    const { driver } = dupCluster(2);
    driver.autoPersist = false;
    const first = sendAdd(driver);
    const second = sendAdd(driver);
    assert.equal(replyTo(driver, second)?.ok, false);
    assert.equal((replyTo(driver, second) as { error: TalariaError }).error.code, "ERR_BUSY");
    assert.equal(replyTo(driver, first), undefined);
  });

  it("gives dupids from unix seconds, strictly increasing even within one second", () => {
    const { driver } = dupCluster(1, {
      remoteClusters: Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [`r${i}`, ["10.0.0.1:1"]]),
      ),
      ignoreOtherClusterIds: true,
    });
    const dupids: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      sendAdd(driver, { remoteClusterName: `r${i}`, waitMs: 0 });
      dupids.push(dupidOf(driver, `r${i}`));
      // Remove every other one at once: a removed dupid is never handed out again.
      if (i % 2 === 0)
        driver.ok(DuplicationMethod.MODIFY, {
          appName: "t",
          dupid: dupids[i] ?? 0,
          status: DuplicationStatus.DS_REMOVED,
        });
    }
    assert.equal(dupids[0], Math.floor(driver.nowMs / 1000));
    for (let i = 1; i < dupids.length; i += 1)
      assert.ok((dupids[i] ?? 0) > (dupids[i - 1] ?? 0), `dupid ${i} increases`);
    driver.tick(5_000);
    sendAdd(driver, { remoteClusterName: "r0", waitMs: 0 });
    assert.ok(dupidOf(driver, "r0") > (dupids[19] ?? 0));
  });
});

describe("add_duplication: two-phase and the start point", () => {
  it("shows nothing until DS_INIT is persisted; a refused write answers the store's error", () => {
    const { driver } = dupCluster(2);
    driver.autoPersist = false;
    const requestId = sendAdd(driver);
    assert.equal(query(driver).duplications.length, 0, "invisible before persisted");
    const [held] = driver.held;
    assert.equal(held?.kind, "ADD_DUPLICATION");
    assert.match(held?.writes[0]?.path ?? "", /^\/talaria\/apps\/1\/duplication\/\d+$/);
    driver.fail(held as NonNullable<typeof held>, new TalariaError("ERR_INVALID_PARAMETERS", "no"));
    assert.equal(replyTo(driver, requestId)?.ok, false);
    assert.equal(query(driver).duplications.length, 0);
    // Retried after a retriable failure, then persisted: DS_INIT, no reply yet.
    const again = sendAdd(driver);
    const [second] = driver.held;
    driver.fail(second as NonNullable<typeof second>, new TalariaError("ERR_TIMEOUT", "slow"));
    driver.tick(1_000);
    driver.release();
    assert.equal(query(driver).duplications[0]?.status, DuplicationStatus.DS_INIT);
    assert.equal(replyTo(driver, again), undefined, "add waits for the start decrees");
  });

  it("replies only once every partition's primary reported; the start decrees become the confirmed decrees", () => {
    const { driver, appId } = dupCluster(4);
    const requestId = sendAdd(driver);
    const dupid = dupidOf(driver);
    // Primaries learn of the DS_INIT duplication (all -1) and are told to sync quickly.
    const reply = syncOk(driver, primaryOf(driver, appId, 0));
    const entry = reply.apps.find((a) => a.appId === appId)?.duplications[0];
    assert.equal(entry?.status, DuplicationStatus.DS_INIT);
    assert.deepEqual(entry?.confirmedDecrees, [-1, -1, -1, -1]);
    assert.deepEqual(entry?.remoteMetas, ["10.0.2.1:34601", "10.0.2.2:34601"]);
    assert.equal(reply.nextSyncDelayMs, 1_000);

    reportFromPrimaries(
      driver,
      appId,
      dupid,
      (p) => 100 + p,
      (p) => p < 3,
    );
    assert.equal(replyTo(driver, requestId), undefined, "partition 3 has not reported");
    assert.equal(query(driver).duplications[0]?.status, DuplicationStatus.DS_INIT);
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      (p) => 100 + p,
      (p) => p === 3,
    );
    const added = okReply<AddDuplicationResponse>(driver, requestId);
    assert.equal(added.status, DuplicationStatus.DS_LOG);
    assert.deepEqual(added.startDecrees, [100, 101, 102, 103]);
    const start = driver.persists.find((p) => p.kind === "START_DUPLICATION");
    assert.deepEqual(
      start?.writes.map((w) => w.path),
      [
        `/talaria/apps/1/duplication/${dupid}/0`,
        `/talaria/apps/1/duplication/${dupid}/1`,
        `/talaria/apps/1/duplication/${dupid}/2`,
        `/talaria/apps/1/duplication/${dupid}/3`,
        `/talaria/apps/1/duplication/${dupid}`,
      ],
      "progress first, the record (status) last",
    );
    const after = syncOk(driver, primaryOf(driver, appId, 0));
    assert.deepEqual(after.apps[0]?.duplications[0]?.confirmedDecrees, [100, 101, 102, 103]);
    assert.equal(after.nextSyncDelayMs, 10_000);
  });

  it("drops a start decree whose reporter lost the primary role; the new primary's counts", () => {
    const {
      driver,
      appId,
      nodes: all,
    } = dupCluster(2, {}, { fdLeaseMs: 9_000, fdGraceMs: 10_000 });
    const requestId = sendAdd(driver);
    const dupid = dupidOf(driver);
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      () => 50,
      (p) => p === 0,
    );
    // Partition 0's primary dies before partition 1 reports: a secondary is promoted.
    const oldPrimary = primaryOf(driver, appId, 0);
    const alive = all.filter((n) => n !== oldPrimary);
    for (let t = 0; t < 12; t += 1) {
      driver.tick(1_000);
      driver.beaconAll(alive, 60);
    }
    const newPrimary = primaryOf(driver, appId, 0);
    assert.notEqual(newPrimary, oldPrimary);
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      () => 70,
      (p) => p === 1,
    );
    assert.equal(replyTo(driver, requestId), undefined, "partition 0's start was dropped");
    // A stale report from the old primary (old ballot) is ignored.
    syncOk(driver, oldPrimary, [
      {
        gpid: { appId, partitionIndex: 0 },
        ballot: 1,
        lastCommittedDecree: 60,
        confirms: [{ dupid, confirmedDecree: 55 }],
      },
    ]);
    assert.equal(replyTo(driver, requestId), undefined);
    reportFromPrimaries(
      driver,
      appId,
      dupid,
      () => 60,
      (p) => p === 0,
    );
    const added = okReply<AddDuplicationResponse>(driver, requestId);
    assert.deepEqual(added.startDecrees, [60, 70]);
  });

  it("answers DS_INIT with a hint when the wait runs out, then completes in the background", () => {
    const { driver, appId } = dupCluster(2);
    const requestId = sendAdd(driver, { waitMs: 5_000 });
    const dupid = dupidOf(driver);
    driver.tick(4_999);
    assert.equal(replyTo(driver, requestId), undefined);
    driver.tick(1);
    const timedOut = okReply<AddDuplicationResponse>(driver, requestId);
    assert.equal(timedOut.status, DuplicationStatus.DS_INIT);
    assert.equal(timedOut.dupid, dupid);
    assert.equal(timedOut.hint, initHint);
    assert.deepEqual(timedOut.startDecrees, [-1, -1]);
    reportFromPrimaries(driver, appId, dupid, () => 9);
    assert.equal(query(driver).duplications[0]?.status, DuplicationStatus.DS_LOG);
  });

  it("with waitMs 0 answers as soon as DS_INIT is persisted", () => {
    const { driver } = dupCluster(2);
    const requestId = sendAdd(driver, { waitMs: 0 });
    assert.equal(okReply<AddDuplicationResponse>(driver, requestId).status, "DS_INIT");
  });

  it("starts a freezed duplication in DS_PAUSE with its start point fixed", () => {
    const { driver, appId } = dupCluster(2);
    const added = addStarted(driver, appId, (p) => 7 + p, { freezed: true });
    assert.equal(added.status, DuplicationStatus.DS_PAUSE);
    assert.deepEqual(added.startDecrees, [7, 8]);
  });

  it("parts a start with more writes than persistWritesPerOpMax; a partial landing stays DS_INIT", () => {
    const { driver, appId } = dupCluster(5, {}, { persistWritesPerOpMax: 4 });
    const requestId = sendAdd(driver);
    const dupid = dupidOf(driver);
    driver.autoPersist = false;
    reportFromPrimaries(driver, appId, dupid, () => 1);
    const [part1] = driver.held;
    assert.equal(part1?.parts, 2);
    driver.release();
    assert.equal(query(driver).duplications[0]?.status, DuplicationStatus.DS_INIT);
    driver.release();
    assert.equal(okReply<AddDuplicationResponse>(driver, requestId).status, "DS_LOG");
  });

  it("answers an add waiting on a dropped table with ERR_APP_NOT_EXIST at the next tick", () => {
    const { driver } = dupCluster(2);
    const requestId = sendAdd(driver);
    driver.ok(MetaMethod.DROP_APP, { appName: "t" });
    driver.tick(1);
    assert.equal(replyTo(driver, requestId)?.ok, false);
  });
});

it("a fresh core with default options refuses adds to unknown clusters (no remote configured)", () => {
  const driver = Driver.create();
  driver.beaconAll(nodes(1));
  driver.createApp("t", 1, 1);
  assert.equal(
    driver.errorCode(ADD, { appName: "t", remoteClusterName: "dc2" }),
    "ERR_INVALID_PARAMETERS",
  );
});
