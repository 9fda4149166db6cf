import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TalariaError } from "../../../src/common/errors.ts";
import { DuplicationMethod, DuplicationStatus } from "../../../src/protocol/index.ts";
import {
  addStarted,
  dupCluster,
  primaryOf,
  query,
  reportFromPrimaries,
  sync,
  syncOk,
} from "./duplication-harness.ts";

function storedDecree(
  store: Map<string, Uint8Array>,
  dupid: number,
  pidx: number,
): string | undefined {
  const value = store.get(`/talaria/apps/1/duplication/${dupid}/${pidx}`);
  return value === undefined ? undefined : Buffer.from(value).toString("utf8");
}

describe("duplication sync (ref §2.7)", () => {
  it("persists reported progress monotonically, at most every progressMinUpdatePeriodMs per partition", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addStarted(driver, appId, () => 10);
    const progressWrites = () => driver.persists.filter((p) => p.kind === "DUPLICATION_PROGRESS");
    driver.tick(5_000);
    reportFromPrimaries(driver, appId, dupid, () => 20);
    assert.equal(storedDecree(driver.store.records, dupid, 0), "20");
    assert.equal(progressWrites().length, 2);
    // Within the period: kept in memory only.
    driver.tick(1_000);
    reportFromPrimaries(driver, appId, dupid, () => 30);
    assert.equal(storedDecree(driver.store.records, dupid, 0), "20");
    assert.equal(progressWrites().length, 2);
    // Lower and equal reports are ignored; the decree never goes down.
    reportFromPrimaries(driver, appId, dupid, () => 15);
    driver.tick(4_000); // the period is over: the tick persists 30 without a new report
    assert.equal(storedDecree(driver.store.records, dupid, 0), "30");
    assert.equal(progressWrites().length, 4);
    driver.tick(10_000);
    reportFromPrimaries(driver, appId, dupid, () => 25);
    assert.equal(storedDecree(driver.store.records, dupid, 0), "30");
    assert.deepEqual(query(driver).duplications[0]?.partitionStates, [
      { confirmedDecree: 30, lastCommittedDecree: 35 },
      { confirmedDecree: 30, lastCommittedDecree: 35 },
    ]);
    const reply = syncOk(driver, primaryOf(driver, appId, 0));
    assert.deepEqual(reply.apps[0]?.duplications[0]?.confirmedDecrees, [30, 30]);
  });

  it("ignores reports from a node that is not the primary at the current ballot, and impossible decrees", () => {
    const { driver, appId, nodes } = dupCluster(1);
    const { dupid } = addStarted(driver, appId, () => 5);
    driver.tick(10_000);
    const config = driver.config(appId, 0);
    const secondary = nodes.find((n) => n !== config.primary) ?? "";
    const report = (node: string, ballot: number, decree: number, committed = 100) =>
      syncOk(driver, node, [
        {
          gpid: { appId, partitionIndex: 0 },
          ballot,
          lastCommittedDecree: committed,
          confirms: [{ dupid, confirmedDecree: decree }],
        },
      ]);
    report(secondary, config.ballot, 50);
    report(config.primary ?? "", config.ballot + 1, 50);
    report(config.primary ?? "", config.ballot, 150, 100);
    report(config.primary ?? "", config.ballot, 5);
    // Unknown dupids and tables are ignored too.
    syncOk(driver, config.primary ?? "", [
      {
        gpid: { appId: 99, partitionIndex: 0 },
        ballot: 1,
        lastCommittedDecree: 1,
        confirms: [{ dupid, confirmedDecree: 1 }],
      },
      {
        gpid: { appId, partitionIndex: 0 },
        ballot: config.ballot,
        lastCommittedDecree: 100,
        confirms: [{ dupid: dupid + 1, confirmedDecree: 90 }],
      },
    ]);
    assert.equal(driver.persists.filter((p) => p.kind === "DUPLICATION_PROGRESS").length, 0);
    assert.equal(query(driver).duplications[0]?.partitionStates[0]?.confirmedDecree, 5);
    report(config.primary ?? "", config.ballot, 60);
    assert.equal(query(driver).duplications[0]?.partitionStates[0]?.confirmedDecree, 60);
  });

  it("answers every duplication of the tables a node hosts, secondaries included; unknown nodes get ERR_OBJECT_NOT_FOUND", () => {
    const { driver, appId, nodes } = dupCluster(2);
    addStarted(driver, appId, () => 1);
    addStarted(driver, appId, () => 2, { remoteClusterName: "dc3" });
    const primaries = [0, 1].map((p) => primaryOf(driver, appId, p));
    assert.ok(
      nodes.some((n) => !primaries.includes(n)),
      "one node holds only secondaries of t",
    );
    for (const node of nodes) {
      const reply = syncOk(driver, node);
      assert.deepEqual(
        reply.apps.map((a) => [a.appId, a.partitionCount, a.duplications.length]),
        [[appId, 2, 2]],
        "table u has no duplication, so it is not listed",
      );
      assert.deepEqual(
        reply.apps[0]?.duplications.map((d) => d.remoteClusterName),
        ["dc2", "dc3"],
      );
    }
    const unknown = sync(driver, "stranger:1");
    assert.ok(!unknown.ok);
    assert.equal(unknown.error.code, "ERR_OBJECT_NOT_FOUND");
  });

  it("drops a removed duplication from sync replies (releasing the log hold) once the removal is persisted", () => {
    const { driver, appId } = dupCluster(2);
    const a = addStarted(driver, appId, () => 1);
    addStarted(driver, appId, () => 2, { remoteClusterName: "dc3" });
    const primary = primaryOf(driver, appId, 0);
    driver.autoPersist = false;
    const requestId = driver.send({
      method: DuplicationMethod.MODIFY,
      body: { appName: "t", dupid: a.dupid, status: DuplicationStatus.DS_REMOVED },
    });
    assert.equal(syncOk(driver, primary).apps[0]?.duplications.length, 2, "not yet persisted");
    assert.equal(driver.held[0]?.writes[0]?.op, "deleteTree");
    driver.release();
    assert.equal(driver.replies.get(requestId)?.ok, true);
    const left = syncOk(driver, primary).apps[0]?.duplications ?? [];
    assert.deepEqual(
      left.map((d) => d.remoteClusterName),
      ["dc3"],
    );
    assert.ok(
      ![...driver.store.records.keys()].some((p) => p.includes(`/duplication/${a.dupid}`)),
      "the record and its progress are deleted",
    );
    // Reports for the removed duplication are ignored.
    reportFromPrimaries(driver, appId, a.dupid, () => 500);
    assert.equal(driver.held.length, 0);
  });

  it("waits for in-flight progress writes before deleting, and starts none after", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addStarted(driver, appId, () => 1);
    driver.tick(10_000);
    driver.autoPersist = false;
    reportFromPrimaries(driver, appId, dupid, () => 40);
    assert.equal(driver.held.length, 2);
    const requestId = driver.send({
      method: DuplicationMethod.MODIFY,
      body: { appName: "t", dupid, status: DuplicationStatus.DS_REMOVED },
    });
    assert.equal(driver.held.length, 2, "the deletion waits");
    const busy = driver.call(DuplicationMethod.MODIFY, {
      appName: "t",
      dupid,
      status: DuplicationStatus.DS_PAUSE,
    });
    assert.ok(!busy.ok && busy.error.code === "ERR_BUSY");
    driver.tick(10_000);
    reportFromPrimaries(driver, appId, dupid, () => 50);
    assert.equal(driver.held.length, 2, "no new progress write while removing");
    const [first, second] = driver.held;
    driver.release((p) => p === first);
    driver.fail(
      second as NonNullable<typeof second>,
      new TalariaError("ERR_INVALID_PARAMETERS", "x"),
    );
    assert.equal(driver.held.length, 1);
    assert.equal(driver.held[0]?.kind, "REMOVE_DUPLICATION");
    driver.release();
    assert.equal(driver.replies.get(requestId)?.ok, true);
    assert.equal(query(driver).duplications.length, 0);
    assert.ok(
      ![...driver.store.records.keys()].some((p) => p.includes("/duplication/")),
      "no progress node outlives its duplication",
    );
  });
});
