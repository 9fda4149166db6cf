import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetaCore, type MetaRecord } from "../../../src/meta/core/index.ts";
import {
  DuplicationFailMode,
  DuplicationMethod,
  DuplicationStatus,
} from "../../../src/protocol/index.ts";
import {
  addStarted,
  Driver,
  dupCluster,
  dupidOf,
  dupOptions,
  query,
  reportFromPrimaries,
  sendAdd,
  syncOk,
} from "./duplication-harness.ts";

const encode = (value: unknown): Uint8Array =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value));

function restored(records: readonly MetaRecord[], options = dupOptions): MetaCore {
  return MetaCore.restore(records, { duplication: options });
}

describe("duplication persistence and restore (ref §2.6)", () => {
  it("stores Pegasus's layout and restores every duplication and confirmed decree exactly", () => {
    const { driver, appId } = dupCluster(3);
    const a = addStarted(driver, appId, (p) => 10 * p);
    addStarted(driver, appId, () => 1, { remoteClusterName: "dc3", freezed: true });
    driver.ok(DuplicationMethod.MODIFY, {
      appName: "t",
      dupid: a.dupid,
      failMode: DuplicationFailMode.FAIL_SKIP,
    });
    driver.tick(10_000);
    reportFromPrimaries(driver, appId, a.dupid, (p) => 10 * p + 7);
    sendAdd(driver, { appName: "u", remoteAppName: "u2", waitMs: 0 }); // stays DS_INIT

    const record = JSON.parse(
      Buffer.from(
        driver.store.records.get(`/talaria/apps/1/duplication/${a.dupid}`) as Uint8Array,
      ).toString(),
    );
    assert.deepEqual(record, {
      v: 1,
      remote: "dc2",
      status: "DS_LOG",
      create_timestamp_ms: driver.nowMs - 10_000,
      fail_mode: "FAIL_SKIP",
      remote_app_name: "t",
      remote_replica_count: 3,
      freezed: false,
    });
    assert.equal(
      Buffer.from(
        driver.store.records.get(`/talaria/apps/1/duplication/${a.dupid}/2`) as Uint8Array,
      ).toString(),
      "27",
    );

    const before = driver.core.durableState();
    assert.equal(before.duplications.length, 3);
    const after = restored(driver.store.list());
    assert.deepEqual(after.restoreReport.problems, []);
    assert.equal(after.restoreReport.duplications, 3);
    assert.deepEqual(after.durableState(), before);
    assert.deepEqual(
      after.durableState().duplications.map((d) => [d.appId, d.status, d.confirmedDecrees]),
      [
        [1, DuplicationStatus.DS_LOG, [7, 17, 27]],
        [1, DuplicationStatus.DS_PAUSE, [1, 1, 1]],
        [2, DuplicationStatus.DS_INIT, [-1, -1]],
      ],
    );
  });

  it("finishes a DS_INIT duplication after a meta restart, and never hands out a restored dupid again", () => {
    const { driver, appId } = dupCluster(2);
    sendAdd(driver, { waitMs: 0 });
    const dupid = dupidOf(driver);
    const next = new Driver(restored(driver.store.list()), driver.nowMs - 5_000);
    for (const [path, value] of driver.store.records) next.store.records.set(path, value);
    reportFromPrimaries(next, appId, dupid, () => 42);
    assert.equal(query(next).duplications[0]?.status, DuplicationStatus.DS_LOG);
    sendAdd(next, { remoteClusterName: "dc3", waitMs: 0 });
    assert.ok(dupidOf(next, "dc3") > dupid, "even with a clock behind the old leader's");
  });

  it("keeps a removal removed after restart", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addStarted(driver, appId);
    driver.ok(DuplicationMethod.MODIFY, {
      appName: "t",
      dupid,
      status: DuplicationStatus.DS_REMOVED,
    });
    const after = restored(driver.store.list());
    assert.deepEqual(after.durableState().duplications, []);
  });

  it("never issues a removed dupid again, even after a restart with the clock behind", () => {
    const { driver, appId } = dupCluster(2);
    const { dupid } = addStarted(driver, appId);
    driver.ok(DuplicationMethod.MODIFY, {
      appName: "t",
      dupid,
      status: DuplicationStatus.DS_REMOVED,
    });
    const next = new Driver(restored(driver.store.list()), driver.nowMs - 5_000);
    for (const [path, value] of driver.store.records) next.store.records.set(path, value);
    sendAdd(next, { waitMs: 0 });
    assert.ok(dupidOf(next) > dupid, "the table's duplication node keeps the largest dupid issued");
  });

  it("tolerates corrupt records: skips and reports them, keeps what is sound", () => {
    const { driver, appId } = dupCluster(3);
    const good = addStarted(driver, appId, () => 5);
    const root = "/talaria/apps/1/duplication";
    const dupRecord = (fields: Record<string, unknown>) =>
      encode({
        v: 1,
        remote: "dc2",
        status: "DS_LOG",
        create_timestamp_ms: 1,
        fail_mode: "FAIL_SLOW",
        ...fields,
      });
    const records: MetaRecord[] = [
      ...driver.store.list().filter((r) => r.path !== `${root}/${good.dupid}/1`),
      { path: root, value: new Uint8Array() },
      { path: `${root}/${good.dupid}/2`, value: encode("12x") },
      { path: `${root}/${good.dupid}/7`, value: encode("3") },
      { path: `${root}/dup`, value: dupRecord({}) },
      { path: `${root}/11`, value: encode("") },
      { path: `${root}/12`, value: encode("{") },
      { path: `${root}/13`, value: dupRecord({ status: "DS_START" }) },
      { path: `${root}/14`, value: dupRecord({ status: "DS_REMOVED" }) },
      { path: `${root}/15`, value: dupRecord({ v: 2 }) },
      { path: `${root}/15/0`, value: encode("4") },
      // An old Pegasus-style record without remote_app_name / remote_replica_count.
      { path: `${root}/16`, value: dupRecord({ remote: "dc3", status: "DS_PAUSE" }) },
      { path: `${root}/16/0`, value: encode("") },
      { path: `${root}/16/1`, value: encode("9") },
      { path: `${root}/16/2`, value: encode("9") },
      { path: `${root}/16/x`, value: encode("9") },
      { path: `${root}/17`, value: dupRecord({ remote: "gone" }) },
      { path: `${root}/17/0/deeper`, value: encode("1") },
      { path: "/talaria/apps/9/duplication/18", value: dupRecord({}) },
    ];
    const core = restored(records);
    const problems = core.restoreReport.problems.map(
      (p) => `${p.path.replace(root, "D")}: ${p.reason.split(/[:(]/)[0]?.trim()}`,
    );
    assert.deepEqual(problems, [
      `D/${good.dupid}/1: missing confirmed decree`,
      `D/${good.dupid}/2: "12x" is not a decree`,
      `D/${good.dupid}/7: partition index beyond the table's 3`,
      "D/11: not UTF-8 JSON",
      "D/12: not UTF-8 JSON",
      "D/13: unknown status DS_START",
      "D/14: status DS_REMOVED",
      "D/15: format version 2 is not 1",
      "D/15/0: confirmed decree of a missing or skipped duplication",
      "D/16/x: not a partition index under a duplication",
      "D/17: remote cluster gone is not in [pegasus.clusters]",
      "D/17/0: missing confirmed decree",
      "D/17/0/deeper: not a partition index under a duplication",
      "D/17/1: missing confirmed decree",
      "D/17/2: missing confirmed decree",
      "D/dup: not a duplication id under duplication/",
      "/talaria/apps/9/duplication/18: duplication of missing or skipped app 9",
      "/talaria/next_app_id: 3 is not above every app id; using 10",
    ]);
    const dups = core.durableState().duplications;
    assert.deepEqual(
      dups.map((d) => [
        d.dupid,
        d.status,
        d.remoteAppName,
        d.remoteReplicaCount,
        d.confirmedDecrees,
      ]),
      [
        [16, "DS_PAUSE", "t", 3, [-1, 9, 9]],
        [17, "DS_LOG", "t", 3, [-1, -1, -1]],
        [good.dupid, "DS_LOG", "t", 3, [5, -1, -1]],
      ],
    );
    // A partition whose confirmed decree was lost takes its primary's next report.
    const next = new Driver(core, driver.nowMs + 60_000);
    reportFromPrimaries(next, appId, good.dupid, () => 8);
    assert.deepEqual(
      query(next)
        .duplications.at(-1)
        ?.partitionStates.map((s) => s.confirmedDecree),
      [8, 8, 8],
    );
    // The duplication to a cluster no longer configured is still served (its log stays held).
    const primary = next.config(appId, 0).primary ?? "";
    const entry = syncOk(next, primary).apps[0]?.duplications.find((d) => d.dupid === 17);
    assert.deepEqual(entry?.remoteMetas, []);
  });
});
