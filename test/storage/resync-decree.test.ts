import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Update, UpdateKind } from "../../src/codec/mutation.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { StorageEngine } from "../../src/storage/engine.ts";
import { adoptCopiedCheckpoint } from "../../src/storage/index.ts";
import {
  editStoredMeta,
  entry,
  LOCAL,
  mutation,
  openEngine,
  put,
  START_US,
  withEngine,
  withTempDir,
} from "./engine-fixture.ts";

/** A DUPLICATE update from cluster 2; `resync`: a re-sync's. */
function fromRemote(key: string, resync: boolean): Update {
  const entries = [entry(START_US, 2, put("h", key, "remote"))];
  return resync
    ? { kind: UpdateKind.DUPLICATE, entries, resync: true }
    : { kind: UpdateKind.DUPLICATE, entries };
}

describe("StorageEngine last re-sync decree", () => {
  it("is the decree of the last applied mutation holding a re-sync's DUPLICATE, across reopen", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      const path = join(dir, "env");
      const engine = await openEngine(path, clock);
      assert.equal(engine.lastResyncDecree, 0, "a new store has received none");
      await engine.apply(mutation(1, [fromRemote("a", false)]), LOCAL);
      assert.equal(engine.lastResyncDecree, 0, "a plain DUPLICATE is not a re-sync");
      await engine.apply(mutation(2, [put("h", "b", "local"), fromRemote("b", true)]), LOCAL);
      await engine.apply(mutation(3, [fromRemote("c", true)]), LOCAL);
      await engine.apply(mutation(4, [put("h", "d", "local")]), LOCAL);
      await engine.apply(mutation(5, [fromRemote("e", false)]), LOCAL);
      assert.equal(engine.lastResyncDecree, 3, "later writes, local or duplicated, leave it");
      await engine.close();
      const reopened = await openEngine(path, clock);
      assert.equal(reopened.lastResyncDecree, 3, "read back after a restart");
      await reopened.close();
    });
  });

  it("reads an environment written without the key as 0, then keeps it", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      const path = join(dir, "env");
      await (await openEngine(path, clock)).close();
      await editStoredMeta(path, "last_resync_decree");
      const engine = await openEngine(path, clock);
      assert.equal(engine.lastResyncDecree, 0);
      await engine.apply(mutation(1, [fromRemote("a", true)]), LOCAL);
      await engine.close();
      const reopened = await openEngine(path, clock);
      assert.equal(reopened.lastResyncDecree, 1);
      await reopened.close();
    });
  });

  it("a learner's checkpoint carries it; one adopted from another cluster's replica resets it", async () => {
    await withEngine(async (engine, clock, dir) => {
      await engine.apply(mutation(1, [fromRemote("a", true)]), LOCAL);
      await engine.apply(mutation(2, [put("h", "b", "local")]), LOCAL);
      const info = await engine.checkpoint(join(dir, "cp"));
      const learned = await StorageEngine.openFromCheckpoint(info.path, join(dir, "learned"), {
        clock,
      });
      assert.equal(learned.lastResyncDecree, 1, "same partition: same log, same decree");
      await learned.close();
      // A follower copies the files, adopts them in place, then opens them as its storage.
      const copied = join(dir, "follower");
      await cp(info.path, copied, { recursive: true });
      const adopted = await adoptCopiedCheckpoint(copied);
      assert.equal(adopted.decree, 2);
      const follower = await openEngine(copied, clock);
      assert.equal(follower.lastResyncDecree, 0, "the master's log is not the follower's");
      assert.equal(follower.lastAppliedBallot, 0);
      await follower.close();
    });
  });
});
