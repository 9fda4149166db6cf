import assert from "node:assert/strict";
import { it } from "node:test";
import { pegasusQueryJson } from "../../../src/meta/core/duplication/index.ts";
import { DuplicationMethod, DuplicationStatus } from "../../../src/protocol/index.ts";
import { addStarted, dupCluster, primaryOf, query, sync, syncOk } from "./duplication-harness.ts";

it("a shipper's failure shows per partition; under FAIL_FAST the whole duplication pauses", () => {
  const { driver, appId } = dupCluster(2);
  const { dupid } = addStarted(driver, appId, () => 5);
  const modified = driver.call(DuplicationMethod.MODIFY, {
    appName: "t",
    dupid,
    failMode: "FAIL_FAST",
  });
  assert.ok(modified.ok);
  const config = driver.config(appId, 1);
  const failure = {
    kind: "paused_with_error",
    code: "ERR_TIMEOUT",
    message: "remote did not answer",
    atDecree: 6,
  } as const;
  const result = sync(driver, primaryOf(driver, appId, 1), [
    {
      gpid: { appId, partitionIndex: 1 },
      ballot: config.ballot,
      lastCommittedDecree: 9,
      confirms: [{ dupid, confirmedDecree: 5, failure }],
    },
  ]);
  assert.ok(result.ok);
  const detail = query(driver).duplications[0];
  assert.equal(detail?.status, DuplicationStatus.DS_PAUSE, "FAIL_FAST paused the duplication");
  assert.deepEqual(detail?.partitionStates[1]?.failure, failure);
  assert.equal(detail?.partitionStates[0]?.failure, undefined);
});

it("the remote clock a primary's shipper read shows per partition, in query and Pegasus's JSON", () => {
  const { driver, appId } = dupCluster(2);
  const { dupid } = addStarted(driver, appId, () => 5);
  const report = (remoteClock?: {
    offsetMs: number;
    uncertaintyMs: number;
    skewExceeded: boolean;
  }) =>
    syncOk(driver, primaryOf(driver, appId, 1), [
      {
        gpid: { appId, partitionIndex: 1 },
        ballot: driver.config(appId, 1).ballot,
        lastCommittedDecree: 9,
        confirms: [
          { dupid, confirmedDecree: 5, ...(remoteClock === undefined ? {} : { remoteClock }) },
        ],
      },
    ]);
  const clock = { offsetMs: 400_000, uncertaintyMs: 5, skewExceeded: true };
  report(clock);
  const detail = query(driver).duplications[0];
  assert.deepEqual(detail?.partitionStates[1]?.remoteClock, clock);
  assert.equal(detail?.partitionStates[0]?.remoteClock, undefined);
  const json = pegasusQueryJson(query(driver)) as Record<
    string,
    { partition_states: Record<string, { remote_clock?: unknown }> }
  >;
  assert.deepEqual(json["1"]?.partition_states["1"]?.remote_clock, {
    offset_ms: 400_000,
    uncertainty_ms: 5,
    skew_exceeded: true,
  });
  // A sync without a reading (a new primary's shipper has none yet) clears it.
  report();
  assert.equal(query(driver).duplications[0]?.partitionStates[1]?.remoteClock, undefined);
});

it("under FAIL_SLOW a reported log truncation is shown but does not pause", () => {
  const { driver, appId } = dupCluster(1);
  const { dupid } = addStarted(driver, appId, () => 5);
  const config = driver.config(appId, 0);
  const failure = {
    kind: "log_truncated",
    code: "retained_bytes",
    message: "over dup_max_retained_log_bytes",
    atDecree: 6,
  } as const;
  assert.ok(
    sync(driver, primaryOf(driver, appId, 0), [
      {
        gpid: { appId, partitionIndex: 0 },
        ballot: config.ballot,
        lastCommittedDecree: 9,
        confirms: [{ dupid, confirmedDecree: 5, failure }],
      },
    ]).ok,
  );
  const detail = query(driver).duplications[0];
  assert.equal(detail?.status, DuplicationStatus.DS_LOG);
  assert.deepEqual(detail?.partitionStates[0]?.failure, failure);
});

it("the sync reply names the partitions that fell out of their log, so no replica holds it", () => {
  const { driver, appId } = dupCluster(2);
  const { dupid } = addStarted(driver, appId, () => 5);
  const report = (partitionIndex: number, withFailure: boolean) => {
    const config = driver.config(appId, partitionIndex);
    return syncOk(driver, primaryOf(driver, appId, partitionIndex), [
      {
        gpid: { appId, partitionIndex },
        ballot: config.ballot,
        lastCommittedDecree: 9,
        confirms: [
          {
            dupid,
            confirmedDecree: 5,
            ...(withFailure
              ? {
                  failure: {
                    kind: "log_truncated",
                    code: "retained_bytes",
                    message: "over dup_max_retained_log_bytes",
                    atDecree: 6,
                  },
                }
              : {}),
          },
        ],
      },
    ]);
  };
  const entryOf = (reply: ReturnType<typeof report>) =>
    reply.apps.find((app) => app.appId === appId)?.duplications.find((d) => d.dupid === dupid);
  assert.equal(entryOf(report(0, false))?.logTruncated, undefined, "nothing fell out yet");
  assert.deepEqual(entryOf(report(1, true))?.logTruncated, [1]);
  assert.deepEqual(entryOf(report(0, false))?.logTruncated, [1], "kept while partition 1 says so");
  assert.equal(entryOf(report(1, false))?.logTruncated, undefined, "gone once it does not");
});

it("the sync reply names the partitions receiving a re-sync, for every duplication of the table", () => {
  const { driver, appId } = dupCluster(2);
  const first = addStarted(driver, appId, () => 5);
  const second = addStarted(driver, appId, () => 5, { remoteClusterName: "dc3" });
  const report = (partitionIndex: number, receiving: boolean, node?: string) => {
    const config = driver.config(appId, partitionIndex);
    return syncOk(driver, node ?? primaryOf(driver, appId, partitionIndex), [
      {
        gpid: { appId, partitionIndex },
        ballot: config.ballot,
        lastCommittedDecree: 9,
        // Only the first duplication confirmed: the flag is the table's, not a duplication's.
        confirms: [{ dupid: first.dupid, confirmedDecree: 5 }],
        ...(receiving ? { receivingResync: true } : {}),
      },
    ]);
  };
  const listed = (reply: ReturnType<typeof report>) =>
    reply.apps
      .find((app) => app.appId === appId)
      ?.duplications.map((d) => [d.dupid, d.receivingResync]);
  assert.deepEqual(listed(report(0, false)), [
    [first.dupid, undefined],
    [second.dupid, undefined],
  ]);
  assert.deepEqual(listed(report(1, true)), [
    [first.dupid, [1]],
    [second.dupid, [1]],
  ]);
  assert.deepEqual(listed(report(0, true)), [
    [first.dupid, [0, 1]],
    [second.dupid, [0, 1]],
  ]);
  // A server that is not the primary is not believed.
  const config = driver.config(appId, 1);
  const notPrimary = config.secondaries[0];
  assert.ok(notPrimary !== undefined);
  assert.deepEqual(listed(report(1, false, notPrimary))?.[0], [first.dupid, [0, 1]]);
  assert.deepEqual(listed(report(1, false))?.[0], [first.dupid, [0]], "gone once it says so");
});
