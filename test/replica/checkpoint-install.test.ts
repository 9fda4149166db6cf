import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { CheckpointRef } from "../../src/protocol/replica-messages.ts";
import { prepareCheckpoint } from "../../src/replica/checkpoint-install.ts";
import { Replica } from "../../src/replica/replica.ts";
import { writeLayoutState } from "../../src/replica/replica-layout.ts";
import { ACTIVATION_DECREES as A, b, openTestReplica, set, tempDir } from "./replica-fixture.ts";

/** A primary's checkpoint holding "h"/0..4 = "new"; a learner replica (closed) holding "old". */
async function setup() {
  const source = await openTestReplica();
  for (let i = 0; i < 5; i++) await source.replica.write(set("h", `${i}`, "new"));
  const checkpoint = await source.replica.checkpoint(join(tempDir(), "cp"));
  await source.replica.close();
  const learner = await openTestReplica();
  for (let i = 0; i < 3; i++) await learner.replica.write(set("h", `${i}`, "old"));
  const oldDecree = learner.replica.lastDecree;
  await learner.replica.close();
  const ref: CheckpointRef = {
    node: "127.0.0.1:1",
    id: "1",
    decree: checkpoint.decree,
    ballot: checkpoint.ballot,
  };
  /** What the replica server's fetch does: the checkpoint's files, fsynced, in the scratch dir. */
  const fetched: { ino?: number } = {};
  const fetch = async (_ref: CheckpointRef, scratchDir: string): Promise<string> => {
    for (const name of await readdir(checkpoint.path)) {
      await copyFile(join(checkpoint.path, name), join(scratchDir, name));
    }
    fetched.ino = (await stat(join(scratchDir, "data.mdb"))).ino;
    return scratchDir;
  };
  const prepare = () =>
    prepareCheckpoint(learner.options.dir, "data", ref, fetch, { clock: learner.clock });
  return { checkpoint, learner, oldDecree, fetched, prepare };
}

const value = (replica: Replica, sortKey: string) =>
  replica.reads.get(b("h"), b(sortKey))?.value.toString();

describe("installing a learned checkpoint", () => {
  it("renames the fetched environment into place: no second copy, the fetch directory gone", async () => {
    const { learner, fetched, prepare } = await setup();
    const prepared = await prepare();
    try {
      const dir = learner.options.dir;
      assert.equal(prepared.dataDir, "data-1");
      const installed = await stat(join(dir, "data-1", "data.mdb"));
      assert.equal(installed.ino, fetched.ino, "the fetched file itself, renamed");
      assert.equal(existsSync(join(dir, "fetch")), false);
      assert.deepEqual((await readdir(join(dir, "data-1"))).sort(), ["data.mdb", "lock.mdb"]);
    } finally {
      await prepared.engine.close();
    }
  });

  it("a crash before CURRENT names the new storage leaves the old storage and log", async () => {
    const { learner, oldDecree, prepare } = await setup();
    // The process dies after prepare: its environment is closed, CURRENT still names "data".
    await (await prepare()).engine.close();
    const reopened = await Replica.open(learner.options);
    try {
      assert.equal(value(reopened, "0"), "old");
      assert.equal(value(reopened, "4"), undefined);
      assert.equal(reopened.lastDecree, oldDecree + A);
      assert.equal(existsSync(join(learner.options.dir, "data-1")), false, "the leftover removed");
      await reopened.write(set("h", "after", "v"));
    } finally {
      await reopened.close();
    }
  });

  it("a crash once CURRENT names the new storage rolls forward to it", async () => {
    const { checkpoint, learner, prepare } = await setup();
    const prepared = await prepare();
    // What the commit does first, then the process dies before it resets the log.
    await writeLayoutState(learner.options.dir, {
      dataDir: prepared.dataDir,
      logResetDecree: checkpoint.decree,
    });
    await prepared.engine.close();
    const reopened = await Replica.open(learner.options);
    try {
      for (let i = 0; i < 5; i++) assert.equal(value(reopened, `${i}`), "new");
      assert.equal(reopened.lastDecree, checkpoint.decree + A);
      const dir = learner.options.dir;
      assert.equal(existsSync(join(dir, "data")), false, "the old storage removed");
      assert.deepEqual(JSON.parse(await readFile(join(dir, "CURRENT"), "utf8")), {
        version: 1,
        dataDir: "data-1",
      });
      await reopened.write(set("h", "after", "v"));
    } finally {
      await reopened.close();
    }
  });
});
