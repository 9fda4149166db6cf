import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DuplicationStatus,
  type DuplicationSyncApp,
  type DuplicationSyncEntry,
} from "../../src/protocol/duplication-messages.ts";
import {
  TOMBSTONE_HOLD_RELEASE_MS,
  TombstoneHolds,
} from "../../src/replica-server/tombstone-holds.ts";
import { syncEntry } from "../support/sync-entry.ts";

function dup(dupid: number, extra: Partial<DuplicationSyncEntry> = {}): DuplicationSyncEntry {
  return syncEntry(dupid, { remoteReplicaCount: 3, confirmedDecrees: [5, 5], ...extra });
}

const app = (appId: number, ...duplications: DuplicationSyncEntry[]): DuplicationSyncApp => ({
  appId,
  partitionCount: 2,
  duplications,
});

describe("TombstoneHolds", () => {
  it("holds every table until the first sync reply", () => {
    const holds = new TombstoneHolds();
    assert.equal(holds.held(1), true);
    assert.deepEqual(holds.update([app(1, dup(7))], 0), []);
    assert.equal(holds.held(1), false);
    assert.equal(holds.held(2), false);
  });

  it("a partition fallen out of its log holds its table until no reply said so for the release time", () => {
    const holds = new TombstoneHolds();
    holds.update([app(1, dup(7)), app(2, dup(8))], 0);
    assert.deepEqual(holds.update([app(1, dup(7, { logTruncated: [1] })), app(2, dup(8))], 1_000), [
      { appId: 1, dupid: 7, held: true, cause: "log_truncated" },
    ]);
    assert.equal(holds.held(1), true);
    assert.equal(holds.held(2), false, "another table is not held");
    assert.deepEqual(holds.heldApps(), [1]);
    // A meta leader change: the new leader does not list the truncation until the primary reports.
    assert.deepEqual(holds.update([app(1, dup(7)), app(2, dup(8))], 2_000), []);
    assert.equal(holds.held(1), true, "a gap does not release it");
    holds.update([app(1, dup(7, { logTruncated: [1] }))], 5_000);
    assert.deepEqual(holds.update([app(1, dup(7))], 5_000 + TOMBSTONE_HOLD_RELEASE_MS - 1), []);
    assert.equal(holds.held(1), true);
    assert.deepEqual(holds.update([app(1, dup(7))], 5_000 + TOMBSTONE_HOLD_RELEASE_MS), [
      { appId: 1, dupid: 7, held: false },
    ]);
    assert.equal(holds.held(1), false);
    assert.deepEqual(holds.heldApps(), []);
  });

  it("a re-sync holds until its checkpoints reached the remote; a create does not", () => {
    const holds = new TombstoneHolds();
    const { DS_PREPARE, DS_APP, DS_LOG } = DuplicationStatus;
    const changes = holds.update(
      [
        app(1, dup(7, { status: DS_PREPARE, fullSync: "resync" })),
        app(2, dup(8, { status: DS_PREPARE, fullSync: "create" })),
      ],
      0,
    );
    assert.deepEqual(changes, [{ appId: 1, dupid: 7, held: true, cause: "resync" }]);
    assert.equal(holds.held(1), true);
    assert.equal(holds.held(2), false);
    // DS_APP: the checkpoints' records are on their way; the remote may still lack our deletes.
    holds.update([app(1, dup(7, { status: DS_APP, fullSync: "resync" }))], 100_000);
    holds.update([app(1, dup(7, { status: DS_LOG }))], 100_000 + TOMBSTONE_HOLD_RELEASE_MS - 1);
    assert.equal(holds.held(1), true, "held until the release time after DS_APP");
    holds.update([app(1, dup(7, { status: DS_LOG }))], 100_000 + TOMBSTONE_HOLD_RELEASE_MS);
    assert.equal(holds.held(1), false);
  });

  it("a table receiving a re-sync holds: the remote's checkpoint may predate our deletes", () => {
    const holds = new TombstoneHolds();
    holds.update([app(1, dup(7)), app(2, dup(8))], 0);
    assert.deepEqual(holds.update([app(1, dup(7, { receivingResync: [0] })), app(2, dup(8))], 10), [
      { appId: 1, dupid: 7, held: true, cause: "receiving_resync" },
    ]);
    assert.equal(holds.held(1), true);
    assert.equal(holds.held(2), false);
    holds.update([app(1, dup(7, { receivingResync: [1] }))], 20_000);
    assert.deepEqual(holds.update([app(1, dup(7))], 20_000 + TOMBSTONE_HOLD_RELEASE_MS), [
      { appId: 1, dupid: 7, held: false },
    ]);
    assert.equal(holds.held(1), false);
  });

  it("a removed duplication releases at once; one of two holds keeps the table held", () => {
    const holds = new TombstoneHolds();
    const truncated = { logTruncated: [0] };
    holds.update([app(1, dup(7, truncated), dup(9, truncated))], 0);
    assert.deepEqual(holds.update([app(1, dup(9, truncated))], 10), [
      { appId: 1, dupid: 7, held: false },
    ]);
    assert.equal(holds.held(1), true, "dup 9 still holds");
    assert.deepEqual(holds.update([], 20), [{ appId: 1, dupid: 9, held: false }]);
    assert.equal(holds.held(1), false);
  });

  it("ignores a logTruncated or receivingResync that is not a list", () => {
    const holds = new TombstoneHolds();
    const bad = {
      ...dup(7),
      logTruncated: "0",
      receivingResync: 1,
    } as unknown as DuplicationSyncEntry;
    holds.update([app(1, bad)], 0);
    assert.equal(holds.held(1), false);
  });
});
