import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/common/clock.ts";
import { StorageEngine } from "../../src/storage/engine.ts";
import {
  EMPTY,
  editStoredMeta,
  LOCAL,
  mutation,
  openEngine,
  put,
  START_US,
  withEngine,
  withTempDir,
} from "./engine-fixture.ts";

const atBallot = (decree: number, ballot: number) => ({
  ...mutation(decree, [put("h", `k${decree}`, "v")]),
  ballot,
});

describe("StorageEngine last applied ballot", () => {
  it("records the ballot of the last applied mutation with its decree, across reopen", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      const path = join(dir, "env");
      const engine = await openEngine(path, clock);
      assert.equal(engine.lastAppliedBallot, 0, "a new store has applied nothing");
      await engine.apply(atBallot(1, 1), LOCAL);
      await engine.apply({ ...mutation(2, [EMPTY]), ballot: 3 }, LOCAL);
      assert.equal(engine.lastAppliedBallot, 3);
      // A failed apply changes neither the decree nor the ballot.
      await assert.rejects(engine.apply(atBallot(4, 5), LOCAL));
      assert.equal(engine.lastAppliedDecree, 2);
      assert.equal(engine.lastAppliedBallot, 3);
      await engine.close();
      const reopened = await openEngine(path, clock);
      assert.equal(reopened.lastAppliedDecree, 2);
      assert.equal(reopened.lastAppliedBallot, 3);
      await reopened.close();
    });
  });

  it("reads an environment written without the key as ballot 0, then keeps it", async () => {
    await withTempDir(async (dir) => {
      const clock = new ManualClock(START_US);
      const path = join(dir, "env");
      await (await openEngine(path, clock)).close();
      await editStoredMeta(path, "last_applied_ballot");
      const engine = await openEngine(path, clock);
      assert.equal(engine.lastAppliedBallot, 0);
      await engine.apply(atBallot(1, 2), LOCAL);
      assert.equal(engine.lastAppliedBallot, 2);
      await engine.close();
    });
  });

  it("checkpoints carry the ballot, read back from the copy", async () => {
    await withEngine(async (engine, clock, dir) => {
      await engine.apply(atBallot(1, 4), LOCAL);
      await engine.apply(atBallot(2, 7), LOCAL);
      const info = await engine.checkpoint(join(dir, "cp"));
      assert.deepEqual([info.decree, info.ballot], [2, 7]);
      const restored = await StorageEngine.openFromCheckpoint(info.path, join(dir, "r"), { clock });
      assert.deepEqual([restored.lastAppliedDecree, restored.lastAppliedBallot], [2, 7]);
      await restored.close();
    });
  });
});
