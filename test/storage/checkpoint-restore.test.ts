import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  CHECKPOINT_COMPACT_FREE_BYTES_MIN,
  CHECKPOINT_COMPACT_FREE_SHARE_MIN,
  CHECKPOINT_MANIFEST_FILE,
  checkpointCompacts,
  environmentPages,
} from "../../src/storage/checkpoint.ts";
import { StorageEngine } from "../../src/storage/engine.ts";
import { openLmdbEnv } from "../../src/storage/lmdb-env.ts";
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

  it("restores by move: the checkpoint's data.mdb is renamed, not copied, and the checkpoint consumed", async () => {
    await withEngine(async (engine, clock, dir) => {
      for (let decree = 1; decree <= 3; decree++) await engine.apply(step(decree), LOCAL);
      const atCheckpoint = dumpData(engine);
      const cpDir = join(dir, "cp");
      await engine.checkpoint(cpDir);
      const fetched = await stat(join(cpDir, "data.mdb"));

      // A checkpoint that fails its checks is refused before anything moves.
      const manifestPath = join(cpDir, CHECKPOINT_MANIFEST_FILE);
      const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
      await writeFile(manifestPath, JSON.stringify({ ...manifest, bytes: manifest.bytes + 1 }));
      await assert.rejects(
        StorageEngine.openFromCheckpoint(cpDir, join(dir, "r"), { clock }, "move"),
        hasCode("ERR_INVALID_DATA"),
      );
      assert.ok(existsSync(join(cpDir, "data.mdb")), "a refused checkpoint keeps its file");
      await writeFile(manifestPath, JSON.stringify(manifest));

      const restored = await StorageEngine.openFromCheckpoint(
        cpDir,
        join(dir, "r"),
        { clock },
        "move",
      );
      try {
        const installed = await stat(join(dir, "r", "data.mdb"));
        assert.equal(installed.ino, fetched.ino, "the same file, renamed");
        assert.equal(installed.dev, fetched.dev);
        assert.equal(existsSync(join(cpDir, "data.mdb")), false, "no second copy is left");
        assert.equal(restored.lastAppliedDecree, 3);
        assert.deepEqual(dumpData(restored), atCheckpoint);
        await restored.apply(step(4), LOCAL);
      } finally {
        await restored.close();
      }
    });
  });

  it("copies an environment with few free pages as it is and compacts a mostly free one", async () => {
    await withEngine(async (engine, _clock, dir) => {
      // 200 decrees of 64 KiB values: 12.5 MiB, lmdb's free list holds only a few pages.
      const big = Buffer.alloc(64 * 1024, 7).toString("latin1");
      for (let decree = 1; decree <= 200; decree++) {
        await engine.apply(mutation(decree, [put("h", `k${decree}`, big)]), LOCAL);
      }
      await engine.flush();
      const live = (await stat(join(dir, "env", "data.mdb"))).size;
      const plain = await engine.checkpoint(join(dir, "plain"));
      // The plain copy is the file's pages up to the last in use: exactly the live file here. The
      // compacting copy would have left out the free pages and the free list's own.
      assert.equal(plain.bytes, live);

      for (let decree = 201; decree <= 390; decree++) {
        await engine.apply(mutation(decree, [remove("h", `k${decree - 200}`)]), LOCAL);
      }
      await engine.flush();
      const compacted = await engine.checkpoint(join(dir, "compacted"));
      assert.equal(compacted.decree, 390);
      assert.ok(compacted.bytes * 4 < live, `${compacted.bytes} B of ${live}`);
      const restored = await StorageEngine.openFromCheckpoint(compacted.path, join(dir, "r"), {
        clock: _clock,
      });
      try {
        assert.equal(readRecord(restored, "h", "k190")?.value.length, 0, "a tombstone");
        assert.equal(readRecord(restored, "h", "k191")?.value.toString("latin1"), big);
      } finally {
        await restored.close();
      }
    });
  });

  it("counts an environment's free pages, and compacts from a share and a size of them", async () => {
    await withEngine(async (engine, _clock, dir) => {
      const big = Buffer.alloc(64 * 1024, 1).toString("latin1");
      for (let decree = 1; decree <= 50; decree++) {
        await engine.apply(mutation(decree, [put("h", `k${decree}`, big)]), LOCAL);
      }
      await engine.close();
      const env = openLmdbEnv(join(dir, "env"), { readOnly: true });
      try {
        const pages = environmentPages(env);
        assert.ok(pages !== undefined);
        assert.equal(
          pages.total * pages.pageBytes,
          (await stat(join(dir, "env", "data.mdb"))).size,
        );
        // 50 values of 16 overflow pages each are in use; the free pages are a handful.
        assert.ok(pages.total - pages.free >= 50 * 16);
        assert.ok(pages.free < 0.05 * pages.total, `${pages.free} of ${pages.total}`);
      } finally {
        await env.root.close();
      }
    });
    const MiB = 1024 * 1024;
    const pages = (totalBytes: number, freeBytes: number) => ({
      pageBytes: 4096,
      total: totalBytes / 4096,
      free: freeBytes / 4096,
    });
    const share = CHECKPOINT_COMPACT_FREE_SHARE_MIN;
    const bytesMin = CHECKPOINT_COMPACT_FREE_BYTES_MIN;
    assert.equal(checkpointCompacts(pages(1024 * MiB, 1024 * MiB * share)), true);
    assert.equal(checkpointCompacts(pages(1024 * MiB, 1024 * MiB * share - 4096)), false);
    assert.equal(checkpointCompacts(pages(bytesMin, bytesMin)), true);
    assert.equal(checkpointCompacts(pages(bytesMin, bytesMin - 4096)), false);
    // Without page counts (lmdb did not report them) the copy is compacted, as it always was.
    assert.equal(checkpointCompacts(undefined), true);
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
