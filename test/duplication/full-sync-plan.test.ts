/** Full duplication's decisions on a source primary (full-sync-plan.ts): pure functions. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  chooseFullSyncStart,
  fullSyncConfirm,
  fullSyncDecree,
  fullSyncHoldFrom,
  isFullSyncStatus,
  keepsDupCheckpoints,
  type ListedDuplication,
  newestCovering,
  openFloor,
} from "../../src/duplication/index.ts";

function dup(
  dupid: number,
  status: ListedDuplication["status"],
  confirmedDecrees: number[],
  fullSync?: "create" | "resync",
): ListedDuplication {
  return { dupid, status, confirmedDecrees, ...(fullSync === undefined ? {} : { fullSync }) };
}

describe("start decree", () => {
  it("is the last applied decree, and waits while the primary has applied nothing", () => {
    assert.equal(chooseFullSyncStart(0), undefined, "an activating primary has no decree yet");
    assert.equal(chooseFullSyncStart(1), 1, "the activation's EMPTY write is decree 1 (#2069)");
    assert.equal(chooseFullSyncStart(42), 42);
  });

  it("meta's listed decree wins over this term's pick; unknown holds the whole log", () => {
    assert.equal(fullSyncDecree(-1, undefined), undefined);
    assert.equal(fullSyncDecree(-1, 17), 17);
    assert.equal(fullSyncDecree(12, 17), 12, "a decree meta persisted is the one to cover");
    assert.equal(fullSyncHoldFrom(-1, undefined), 1);
    assert.equal(fullSyncHoldFrom(-1, 17), 18);
    assert.equal(fullSyncHoldFrom(12, 17), 13);
  });

  it("only DS_PREPARE and DS_APP copy data", () => {
    assert.deepEqual(
      (["DS_INIT", "DS_PREPARE", "DS_APP", "DS_LOG", "DS_PAUSE"] as const).map(isFullSyncStatus),
      [false, true, true, false, false],
    );
    assert.equal(keepsDupCheckpoints([dup(1, "DS_LOG", [3]), dup(2, "DS_PAUSE", [3])]), false);
    assert.equal(
      keepsDupCheckpoints([dup(1, "DS_LOG", [3]), dup(2, "DS_APP", [3], "resync")]),
      true,
    );
    assert.equal(keepsDupCheckpoints([]), false);
  });
});

describe("OPEN's floor", () => {
  const none = () => undefined;

  it("is the largest start decree over the create duplications copying data", () => {
    const dups = [
      dup(1, "DS_APP", [10, 20], "create"),
      dup(2, "DS_PREPARE", [15, 25], "create"),
      dup(3, "DS_APP", [99, 99], "resync"), // a re-sync sends its own checkpoint
      dup(4, "DS_LOG", [99, 99]), // shipping: no follower copies
    ];
    assert.deepEqual(openFloor(dups, 0, none), { kind: "floor", decree: 15 });
    assert.deepEqual(openFloor(dups, 1, none), { kind: "floor", decree: 25 });
  });

  it("uses this term's pick while meta lists -1, and is pending without one", () => {
    const dups = [dup(1, "DS_PREPARE", [-1], "create")];
    assert.deepEqual(openFloor(dups, 0, none), { kind: "pending" });
    assert.deepEqual(
      openFloor(dups, 0, (id) => (id === 1 ? 33 : undefined)),
      {
        kind: "floor",
        decree: 33,
      },
    );
  });

  it("is none when no create duplication copies data", () => {
    assert.deepEqual(openFloor([], 0, none), { kind: "none" });
    assert.deepEqual(openFloor([dup(1, "DS_APP", [5], "resync")], 0, none), { kind: "none" });
    assert.deepEqual(openFloor([dup(1, "DS_LOG", [5])], 0, none), { kind: "none" });
  });

  it("picks the newest checkpoint at or above the floor", () => {
    const kept = [{ decree: 5 }, { decree: 30 }, { decree: 12 }];
    assert.equal(newestCovering(kept, 13)?.decree, 30);
    assert.equal(newestCovering(kept, 3)?.decree, 30);
    assert.equal(newestCovering(kept, 31), undefined);
  });
});

describe("what a primary reports", () => {
  it("nothing before it has a start decree", () => {
    assert.equal(fullSyncConfirm(7, undefined, 100, undefined), undefined);
  });

  it("the start decree, prepared only once a durable checkpoint covers it", () => {
    assert.deepEqual(fullSyncConfirm(7, 20, undefined, undefined), {
      dupid: 7,
      confirmedDecree: 20,
      checkpointPrepared: false,
    });
    assert.equal(fullSyncConfirm(7, 20, 19, undefined)?.checkpointPrepared, false);
    assert.equal(fullSyncConfirm(7, 20, 20, undefined)?.checkpointPrepared, true);
    assert.equal(fullSyncConfirm(7, 20, 25, undefined)?.checkpointPrepared, true);
  });

  it("a re-sync's progress and failure", () => {
    const failure = {
      kind: "paused_with_error" as const,
      code: "ERR_TIMEOUT",
      message: "m",
      atDecree: 3,
    };
    assert.deepEqual(
      fullSyncConfirm(7, 20, 20, {
        progress: { sentBytes: 10, totalBytes: 30, done: false },
        failure,
      }),
      {
        dupid: 7,
        confirmedDecree: 20,
        checkpointPrepared: true,
        resyncProgress: { sentBytes: 10, totalBytes: 30, done: false },
        failure,
      },
    );
  });
});
