import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { Replica } from "../../src/replica/replica.ts";
import { StorageEngine } from "../../src/storage/index.ts";
import { ACTIVATION_DECREES as A, b, openTestReplica, set, tempDir } from "./replica-fixture.ts";

describe("Replica directory layout (CURRENT)", () => {
  it("finishes a checkpoint install interrupted after CURRENT named the new storage", async () => {
    const { replica, options, clock } = await openTestReplica();
    for (let i = 0; i < 5; i++) await replica.write(set("h", `${i}`, "before"));
    const checkpoint = await replica.checkpoint(join(tempDir(), "cp"));
    for (let i = 0; i < 5; i++) await replica.write(set("h", `${i}`, "after"));
    await replica.close();
    // What an install does up to its crash point: the checkpoint copied into a fresh
    // environment and CURRENT pointing at it with the log reset still to do.
    const installed = await StorageEngine.openFromCheckpoint(
      checkpoint.path,
      join(options.dir, "data-1"),
      { clock },
    );
    await installed.close();
    await writeFile(
      join(options.dir, "CURRENT"),
      JSON.stringify({ version: 1, dataDir: "data-1", logResetDecree: checkpoint.decree }),
    );

    const reopened = await Replica.open(options);
    // The log after the checkpoint is gone with the old storage: only the activation follows.
    assert.equal(reopened.lastDecree, checkpoint.decree + A);
    assert.equal(reopened.reads.get(b("h"), b("3"))?.value.toString(), "before");
    assert.equal(existsSync(join(options.dir, "data")), false, "the old storage was removed");
    const current = JSON.parse(await readFile(join(options.dir, "CURRENT"), "utf8"));
    assert.deepEqual(current, { version: 1, dataDir: "data-1" });
    await reopened.write(set("h", "new", "v"));
    await reopened.close();
  });

  it("refuses a CURRENT it cannot read", async () => {
    const { replica, options } = await openTestReplica();
    await replica.close();
    await writeFile(join(options.dir, "CURRENT"), "{not json");
    await assert.rejects(Replica.open(options), (error) =>
      isTalariaError(error, "ERR_INVALID_DATA"),
    );
    await writeFile(join(options.dir, "CURRENT"), JSON.stringify({ version: 7, dataDir: "data" }));
    await assert.rejects(Replica.open(options), (error) =>
      isTalariaError(error, "ERR_INVALID_VERSION"),
    );
  });
});
