import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { CHECKPOINT_MANIFEST_FILE } from "../../src/storage/checkpoint.ts";
import { StorageEngine } from "../../src/storage/engine.ts";
import { FORMAT_VERSION } from "../../src/storage/meta-store.ts";
import {
  b,
  dumpData,
  LOCAL,
  mutation,
  put,
  readRecord,
  remove,
  START_US,
  withEngine,
} from "./engine-fixture.ts";

const hasCode = (code: string) => (error: unknown) => isTalariaError(error) && error.code === code;

/** Decree d writes "h"/"last" = d and "h"/"k<d>". */
const step = (decree: number) =>
  mutation(
    decree,
    [put("h", "last", String(decree)), put("h", `k${decree}`, "v")],
    START_US + decree * 1000,
  );

describe("StorageEngine.checkpoint / openFromCheckpoint", () => {
  it("restores exactly the checkpoint's decree and contents while the source moves on", async () => {
    await withEngine(async (engine, clock, dir) => {
      for (let decree = 1; decree <= 3; decree++) await engine.apply(step(decree), LOCAL);
      const atCheckpoint = dumpData(engine);
      const cpDir = join(dir, "cp");
      const info = await engine.checkpoint(cpDir);
      assert.equal(info.decree, 3);
      assert.equal(info.path, cpDir);
      assert.ok(info.bytes > 0);
      const manifest = JSON.parse(await readFile(join(cpDir, CHECKPOINT_MANIFEST_FILE), "utf8"));
      assert.deepEqual(manifest, {
        decree: 3,
        bytes: info.bytes,
        formatVersion: FORMAT_VERSION,
        createdAtMs: clock.nowMs(),
      });
      assert.deepEqual((await readdir(cpDir)).sort(), [CHECKPOINT_MANIFEST_FILE, "data.mdb"]);

      await engine.apply(step(4), LOCAL);
      await engine.apply(mutation(5, [remove("h", "k1")]), LOCAL);

      const restored = await StorageEngine.openFromCheckpoint(cpDir, join(dir, "restored"), {
        clock,
      });
      try {
        assert.equal(restored.lastAppliedDecree, 3);
        assert.equal(restored.maxTimestampUs, START_US + 3000);
        assert.deepEqual(dumpData(restored), atCheckpoint);
        await assert.rejects(restored.apply(step(5), LOCAL), hasCode("ERR_INVALID_STATE"));
        await restored.apply(step(4), LOCAL);
        assert.deepEqual(readRecord(restored, "h", "last")?.value, b("4"));
      } finally {
        await restored.close();
      }
      assert.equal(engine.lastAppliedDecree, 5);
    });
  });

  it("reports the decree the copy contains while applies are in flight", async () => {
    await withEngine(async (engine, clock, dir) => {
      await engine.apply(step(1), LOCAL);
      const pending = [];
      for (let decree = 2; decree <= 30; decree++) pending.push(engine.apply(step(decree), LOCAL));
      const info = await engine.checkpoint(join(dir, "cp"));
      await Promise.all(pending);
      const restored = await StorageEngine.openFromCheckpoint(join(dir, "cp"), join(dir, "r"), {
        clock,
      });
      try {
        const d = info.decree;
        assert.ok(d >= 1 && d <= 30);
        assert.equal(restored.lastAppliedDecree, d);
        assert.deepEqual(readRecord(restored, "h", "last")?.value, b(String(d)));
        assert.ok(readRecord(restored, "h", `k${d}`));
        assert.equal(readRecord(restored, "h", `k${d + 1}`), undefined);
      } finally {
        await restored.close();
      }
    });
  });

  it("refuses missing, malformed and mismatched checkpoints and non-empty targets", async () => {
    await withEngine(async (engine, clock, dir) => {
      await engine.apply(step(1), LOCAL);
      await assert.rejects(
        StorageEngine.openFromCheckpoint(join(dir, "nope"), join(dir, "t1"), { clock }),
        hasCode("ERR_OBJECT_NOT_FOUND"),
      );

      const cpDir = join(dir, "cp");
      await engine.checkpoint(cpDir);
      await assert.rejects(engine.checkpoint(cpDir), hasCode("ERR_INVALID_STATE"));

      const busy = join(dir, "busy");
      await mkdir(busy);
      await writeFile(join(busy, "x"), "x");
      await assert.rejects(
        StorageEngine.openFromCheckpoint(cpDir, busy, { clock }),
        hasCode("ERR_INVALID_STATE"),
      );

      const manifestPath = join(cpDir, CHECKPOINT_MANIFEST_FILE);
      const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
      await writeFile(manifestPath, JSON.stringify({ ...manifest, decree: 7 }));
      await assert.rejects(
        StorageEngine.openFromCheckpoint(cpDir, join(dir, "t2"), { clock }),
        hasCode("ERR_INVALID_DATA"),
      );
      // A failed restore leaves the target empty, so the same target can be retried.
      assert.deepEqual(await readdir(join(dir, "t2")), []);
      await writeFile(manifestPath, JSON.stringify(manifest));
      const retried = await StorageEngine.openFromCheckpoint(cpDir, join(dir, "t2"), { clock });
      assert.equal(retried.lastAppliedDecree, 1);
      await retried.close();
      await writeFile(manifestPath, JSON.stringify({ ...manifest, formatVersion: 9 }));
      await assert.rejects(
        StorageEngine.openFromCheckpoint(cpDir, join(dir, "t3"), { clock }),
        hasCode("ERR_INVALID_VERSION"),
      );
      await writeFile(manifestPath, "{not json");
      await assert.rejects(
        StorageEngine.openFromCheckpoint(cpDir, join(dir, "t4"), { clock }),
        hasCode("ERR_INVALID_DATA"),
      );
    });
  });

  it("fails after close", async () => {
    await withEngine(async (engine, _clock, dir) => {
      await engine.close();
      await assert.rejects(engine.checkpoint(join(dir, "cp")), hasCode("ERR_INVALID_STATE"));
      await assert.rejects(engine.sweep({ budget: 1 }), hasCode("ERR_INVALID_STATE"));
      await assert.rejects(engine.flush(), hasCode("ERR_INVALID_STATE"));
      assert.throws(
        () => engine.startSweeper({ intervalMs: 10, budget: 1 }),
        hasCode("ERR_INVALID_STATE"),
      );
    });
  });
});
