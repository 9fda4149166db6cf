import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import { blockMap, payloadFor, segmentFiles, withTempDir } from "./plog-helpers.ts";

const OPTIONS = { segmentBytesMax: 1024, fsync: false } as const;
const SIZE = 100;

interface Layout {
  readonly file: string;
  readonly firstDecree: number;
  readonly lastDecree: number;
}

async function layout(dir: string): Promise<Layout[]> {
  return (await segmentFiles(dir)).map((file) => {
    const blocks = blockMap(path.join(dir, file));
    return {
      file,
      firstDecree: blocks[0]?.firstDecree ?? 0,
      lastDecree: blocks.at(-1)?.lastDecree ?? 0,
    };
  });
}

describe("plog gc", () => {
  test("deletes only segments entirely below the decree, never the one holding it", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      for (let d = 1; d <= 60; d++) await log.append(d, payloadFor(d, SIZE));
      const before = await layout(dir);
      assert.ok(before.length >= 5);
      const third = before[2];
      assert.ok(third !== undefined);
      // A decree inside the third segment: the first two go, the third stays.
      const below = third.firstDecree + 1;
      const result = await log.gc(below);
      assert.equal(result.segmentsDeleted, 2);
      assert.ok(result.bytesDeleted > 0);
      assert.deepEqual(await layout(dir), before.slice(2));
      assert.equal(log.firstDecree, third.firstDecree);
      // Exactly at a segment's first decree: that segment holds it and stays.
      assert.deepEqual(await log.gc(third.firstDecree), { segmentsDeleted: 0, bytesDeleted: 0 });
      // One past a segment's last decree: that segment goes.
      assert.equal((await log.gc(third.lastDecree + 1)).segmentsDeleted, 1);
      assert.deepEqual(await layout(dir), before.slice(3));

      await assert.rejects(log.read(third.firstDecree, { bytesMax: 1000 }), (error) => {
        assert.ok(isTalariaError(error, "ERR_OBJECT_NOT_FOUND"));
        assert.match(error.message, /garbage-collected; the log starts at/);
        assert.equal(error.details.firstDecree, log.firstDecree);
        return true;
      });
      const fromFirst = await log.read(log.firstDecree, { bytesMax: 1e6 });
      assert.equal(fromFirst[0]?.decree, third.lastDecree + 1);
      assert.equal(fromFirst.at(-1)?.decree, 60);
      await log.close();

      const reopened = await PrivateLog.open({ dir, ...OPTIONS });
      assert.equal(reopened.firstDecree, third.lastDecree + 1);
      await reopened.close();
    });
  });

  test("never deletes the active segment, even when everything is below", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      for (let d = 1; d <= 40; d++) await log.append(d, payloadFor(d, SIZE));
      const before = await layout(dir);
      const result = await log.gc(1_000_000);
      assert.equal(result.segmentsDeleted, before.length - 1);
      assert.deepEqual(await layout(dir), before.slice(-1));
      await log.append(41, payloadFor(41, SIZE));
      const records = await log.read(log.firstDecree, { bytesMax: 1e6 });
      assert.equal(records.at(-1)?.decree, 41);
      await log.close();
    });
  });

  test("gc on a log with one segment deletes nothing", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      await log.append(1, payloadFor(1, SIZE));
      assert.deepEqual(await log.gc(100), { segmentsDeleted: 0, bytesDeleted: 0 });
      assert.equal(log.firstDecree, 1);
      await log.close();
    });
  });
});
