/**
 * Decoding what full duplication adds to the meta RPCs: the re-sync request, `resyncProgress` in
 * duplication syncs, `followerCopy` in beacons, and a remote meta server's configuration answer.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../../src/common/errors.ts";
import { decodeMetaRequest, decodeRemoteConfiguration } from "../../../src/meta/service/index.ts";
import { DuplicationMethod, MetaMethod } from "../../../src/protocol/index.ts";

const invalid = (e: unknown) => isTalariaError(e, "ERR_INVALID_PARAMETERS");

/** A duplication sync with one partition and one confirm carrying `confirm`'s fields. */
const syncWith = (confirm: Record<string, unknown>) =>
  decodeMetaRequest(DuplicationMethod.SYNC, {
    node: "10.0.0.1:34801",
    partitions: [
      {
        gpid: { appId: 1, partitionIndex: 0 },
        ballot: 3,
        lastCommittedDecree: 9,
        confirms: [{ dupid: 5, confirmedDecree: 7, ...confirm }],
      },
    ],
  });

describe("decoding full-duplication payloads", () => {
  it("meta.resync_duplication: appName and dupid", () => {
    assert.deepEqual(decodeMetaRequest(DuplicationMethod.RESYNC, { appName: "t", dupid: 17 }), {
      method: DuplicationMethod.RESYNC,
      body: { appName: "t", dupid: 17 },
    });
    for (const payload of [
      {},
      { appName: "t" },
      { appName: "t", dupid: 0 },
      { appName: "t", dupid: 2 ** 31 },
      { appName: 3, dupid: 1 },
      { appName: "t", dupid: "1" },
    ])
      assert.throws(() => decodeMetaRequest(DuplicationMethod.RESYNC, payload), invalid);
  });

  it("duplication sync: checkpointPrepared and resyncProgress of a confirm", () => {
    const sync = syncWith;
    const decoded = sync({
      checkpointPrepared: true,
      resyncProgress: { sentBytes: 10, totalBytes: 20, done: false },
    });
    assert.ok(decoded.method === DuplicationMethod.SYNC);
    assert.deepEqual(decoded.body.partitions[0]?.confirms[0], {
      dupid: 5,
      confirmedDecree: 7,
      checkpointPrepared: true,
      resyncProgress: { sentBytes: 10, totalBytes: 20, done: false },
    });
    const none = sync({ resyncProgress: null });
    assert.ok(none.method === DuplicationMethod.SYNC);
    assert.equal(none.body.partitions[0]?.confirms[0]?.resyncProgress, undefined);
    for (const resyncProgress of [
      { sentBytes: -1, totalBytes: 1, done: false },
      { sentBytes: 1, totalBytes: 1 },
      { sentBytes: 1, totalBytes: 1.5, done: true },
      "done",
    ])
      assert.throws(() => sync({ resyncProgress }), invalid);
  });

  it("duplication sync: the remote clock a confirm carries", () => {
    const sync = (remoteClock: unknown) => syncWith({ remoteClock });
    const clock = { offsetMs: -400_000, uncertaintyMs: 5, skewExceeded: true };
    const decoded = sync(clock);
    assert.ok(decoded.method === DuplicationMethod.SYNC);
    assert.deepEqual(decoded.body.partitions[0]?.confirms[0]?.remoteClock, clock);
    const older = sync(undefined);
    assert.ok(older.method === DuplicationMethod.SYNC);
    assert.equal("remoteClock" in (older.body.partitions[0]?.confirms[0] ?? {}), false);
    for (const bad of [
      { offsetMs: 1.5, uncertaintyMs: 5, skewExceeded: false },
      { offsetMs: 1, uncertaintyMs: -1, skewExceeded: false },
      { offsetMs: 1, uncertaintyMs: 1 },
      { offsetMs: "1", uncertaintyMs: 1, skewExceeded: false },
      "ahead",
    ])
      assert.throws(() => sync(bad), invalid);
  });

  it("beacons keep a replica's followerCopy", () => {
    const beacon = (extra: Record<string, unknown>) =>
      decodeMetaRequest(MetaMethod.BEACON, {
        node: "10.0.0.1:34801",
        replicas: [
          {
            gpid: { appId: 1, partitionIndex: 0 },
            ballot: 0,
            status: "INACTIVE",
            lastCommittedDecree: 0,
            lastPreparedDecree: 0,
            ...extra,
          },
        ],
      });
    const decoded = beacon({ followerCopy: { copiedBytes: 5, totalBytes: 0 } });
    assert.ok(decoded.method === MetaMethod.BEACON);
    assert.deepEqual(decoded.body.replicas[0]?.followerCopy, { copiedBytes: 5, totalBytes: 0 });
    const plain = beacon({});
    assert.ok(plain.method === MetaMethod.BEACON);
    assert.equal("followerCopy" in (plain.body.replicas[0] ?? {}), false);
    assert.throws(() => beacon({ followerCopy: { copiedBytes: -5, totalBytes: 0 } }), invalid);
  });

  it("beacons keep the app ids of replica data stored but not hosted, and refuse bad ones", () => {
    const beacon = (storedAppIds: unknown) =>
      decodeMetaRequest(MetaMethod.BEACON, { node: "10.0.0.1:34801", replicas: [], storedAppIds });
    const decoded = beacon([3, 7]);
    assert.ok(decoded.method === MetaMethod.BEACON);
    assert.deepEqual(decoded.body.storedAppIds, [3, 7]);
    const older = beacon(undefined);
    assert.ok(older.method === MetaMethod.BEACON);
    assert.equal("storedAppIds" in older.body, false);
    for (const bad of [[0], [1.5], ["3"], 3]) assert.throws(() => beacon(bad), invalid);
  });

  it("a remote meta server's configuration answer is validated (ERR_INVALID_DATA otherwise)", () => {
    const answer = {
      app: {
        appId: 4,
        appName: "t",
        partitionCount: 1,
        replicaCount: 3,
        status: "AVAILABLE",
        envs: { "duplication.follower_app_status": "creating" },
        createdAtMs: 1,
      },
      partitions: [
        {
          gpid: { appId: 4, partitionIndex: 0 },
          ballot: 2,
          primary: "10.0.2.1:34801",
          secondaries: ["10.0.2.2:34801"],
          maxReplicaCount: 3,
          lastCommittedDecree: 40,
          lastDrops: [],
          followerCopy: { copiedBytes: 1, totalBytes: 2 },
        },
      ],
    };
    const decoded = decodeRemoteConfiguration(answer);
    assert.deepEqual(decoded.partitions[0], {
      gpid: { appId: 4, partitionIndex: 0 },
      ballot: 2,
      primary: "10.0.2.1:34801",
      secondaries: ["10.0.2.2:34801"],
      maxReplicaCount: 3,
      lastCommittedDecree: 40,
      followerCopy: { copiedBytes: 1, totalBytes: 2 },
    });
    assert.equal(decoded.app.envs["duplication.follower_app_status"], "creating");
    for (const bad of [
      undefined,
      "ok",
      { app: answer.app },
      { ...answer, partitions: [{ ...answer.partitions[0], primary: "nowhere" }] },
      { ...answer, partitions: [{ ...answer.partitions[0], lastCommittedDecree: -2 }] },
      { ...answer, app: { ...answer.app, status: "GONE" } },
    ])
      assert.throws(
        () => decodeRemoteConfiguration(bad),
        (e) => isTalariaError(e, "ERR_INVALID_DATA"),
      );
  });
});
