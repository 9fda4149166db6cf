import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { isTalariaError, type TalariaError } from "../../src/common/errors.ts";
import {
  encodeSegmentHeader,
  FORMAT_VERSION,
  SEGMENT_HEADER_BYTES,
} from "../../src/plog/format.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import {
  blockMap,
  flipByte,
  payloadFor,
  segmentFiles,
  truncateFile,
  withTempDir,
} from "./plog-helpers.ts";

const OPTIONS = { segmentBytesMax: 1024, fsync: false } as const;
const size = (d: number) => 30 + ((d * 11) % 60);

/** Writes decrees 1..count one block each; returns the segment files. */
async function buildLog(dir: string, count: number): Promise<string[]> {
  const log = await PrivateLog.open({ dir, ...OPTIONS });
  for (let d = 1; d <= count; d++) await log.append(d, payloadFor(d, size(d)));
  await log.close();
  return segmentFiles(dir);
}

async function decreesIn(log: PrivateLog): Promise<number[]> {
  const decrees: number[] = [];
  for await (const record of log.replay(log.firstDecree, { batchBytes: 4096 })) {
    assert.deepEqual(record.payload, payloadFor(record.decree, size(record.decree)));
    decrees.push(record.decree);
  }
  return decrees;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Opens, checks the surviving prefix, appends more, reopens and checks again. */
async function assertRepairedTail(dir: string, survivors: number, file: string, offset: number) {
  const log = await PrivateLog.open({ dir, ...OPTIONS });
  assert.equal(log.openReport.truncated?.file, file);
  assert.equal(log.openReport.truncated?.offset, offset);
  assert.ok((log.openReport.truncated?.bytesDropped ?? 0) > 0);
  assert.deepEqual(await decreesIn(log), range(1, survivors));
  assert.equal(log.lastDecree, survivors);
  for (let d = survivors + 1; d <= survivors + 5; d++) await log.append(d, payloadFor(d, size(d)));
  await log.close();
  const again = await PrivateLog.open({ dir, ...OPTIONS });
  assert.equal(again.openReport.truncated, undefined);
  assert.deepEqual(await decreesIn(again), range(1, survivors + 5));
  await again.close();
}

function isCorruptionAt(file: string, offset: number) {
  return (error: unknown): boolean => {
    assert.ok(isTalariaError(error, "ERR_CORRUPTION"), String(error));
    const { details, message } = error as TalariaError;
    assert.equal(details.file, file);
    assert.equal(details.offset, offset);
    assert.ok(message.includes(file) && message.includes(String(offset)), message);
    return true;
  };
}

describe("plog recovery", () => {
  test("torn tail: last block cut mid-way is truncated, reported, and appends continue", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const blocks = blockMap(path.join(dir, last));
      const tail = blocks.at(-1);
      assert.ok(tail !== undefined);
      truncateFile(path.join(dir, last), tail.offset + 20);
      await assertRepairedTail(dir, tail.firstDecree - 1, last, tail.offset);
    });
  });

  test("torn tail: a flipped byte in the last block is truncated and reported", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const tail = blockMap(path.join(dir, last)).at(-1);
      assert.ok(tail !== undefined);
      flipByte(path.join(dir, last), tail.offset + tail.bytes - 3);
      await assertRepairedTail(dir, tail.firstDecree - 1, last, tail.offset);
    });
  });

  test("torn tail: a corrupted length in the last block header is caught by its checksum", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const tail = blockMap(path.join(dir, last)).at(-1);
      assert.ok(tail !== undefined);
      flipByte(path.join(dir, last), tail.offset + 4);
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      assert.equal(log.openReport.truncated?.reason, "block header checksum mismatch");
      await log.close();
    });
  });

  test("torn tail: a partial segment header removes the last segment", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const survivors = Number(last.split(".")[2]) - 1;
      truncateFile(path.join(dir, last), SEGMENT_HEADER_BYTES - 5);
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      assert.deepEqual(log.openReport.truncated, {
        file: last,
        offset: 0,
        bytesDropped: SEGMENT_HEADER_BYTES - 5,
        reason: "partial segment header",
      });
      assert.equal(log.openReport.removedEmptySegment, last);
      assert.deepEqual(await decreesIn(log), range(1, survivors));
      await log.close();
      await assertRepairedTailAfterAppend(dir, survivors);
    });
  });

  test("zero-length and header-only last segments open fine", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 30);
      const sequence = files.length + 1;
      const lastDecree = 30;
      const empty = `plog.${String(sequence).padStart(8, "0")}.${lastDecree + 1}`;
      await fs.writeFile(path.join(dir, empty), Buffer.alloc(0));
      let log = await PrivateLog.open({ dir, ...OPTIONS });
      assert.equal(log.openReport.truncated, undefined);
      assert.equal(log.openReport.removedEmptySegment, empty);
      assert.deepEqual(await decreesIn(log), range(1, 30));
      await log.close();
      const header = encodeSegmentHeader({
        formatVersion: FORMAT_VERSION,
        sequence,
        firstDecree: 31,
        nonce: Buffer.alloc(8, 7),
      });
      await fs.writeFile(path.join(dir, empty), header);
      log = await PrivateLog.open({ dir, ...OPTIONS });
      assert.equal(log.openReport.removedEmptySegment, empty);
      await log.append(31, payloadFor(31, size(31)));
      await log.close();
      await assertRepairedTailAfterAppend(dir, 31);
    });
  });

  test("an empty directory, or one missing, opens as an empty log", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir: path.join(dir, "a", "b"), ...OPTIONS });
      assert.deepEqual(log.openReport, { segments: 0, ignoredFiles: [] });
      assert.deepEqual(await log.read(1, { bytesMax: 10 }), []);
      await log.close();
    });
  });

  test("mid-log corruption in the last segment, valid blocks after it: ERR_CORRUPTION", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const blocks = blockMap(path.join(dir, last));
      assert.ok(blocks.length >= 3);
      const bad = blocks[blocks.length - 3];
      assert.ok(bad !== undefined);
      flipByte(path.join(dir, last), bad.offset + 40);
      const before = await fs.readFile(path.join(dir, last));
      await assert.rejects(PrivateLog.open({ dir, ...OPTIONS }), isCorruptionAt(last, bad.offset));
      // Nothing was "repaired": a corrupt log is left exactly as found.
      assert.deepEqual(await fs.readFile(path.join(dir, last)), before);
    });
  });

  test("mid-log: a block cut short by a corrupted length with blocks after it is corruption", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const first = blockMap(path.join(dir, last))[0];
      assert.ok(first !== undefined);
      flipByte(path.join(dir, last), first.offset + 4);
      await assert.rejects(
        PrivateLog.open({ dir, ...OPTIONS }),
        isCorruptionAt(last, first.offset),
      );
    });
  });

  test("corruption in a segment that is not the last: ERR_CORRUPTION, even at its end", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      assert.ok(files.length >= 3);
      const second = files[1] ?? "";
      const tail = blockMap(path.join(dir, second)).at(-1);
      assert.ok(tail !== undefined);
      flipByte(path.join(dir, second), tail.offset + tail.bytes - 1);
      await assert.rejects(
        PrivateLog.open({ dir, ...OPTIONS }),
        isCorruptionAt(second, tail.offset),
      );
      flipByte(path.join(dir, second), tail.offset + tail.bytes - 1);
      truncateFile(path.join(dir, second), tail.offset + 10);
      await assert.rejects(
        PrivateLog.open({ dir, ...OPTIONS }),
        isCorruptionAt(second, tail.offset),
      );
    });
  });

  test("a missing segment in the middle is corruption", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      assert.ok(files.length >= 3);
      await fs.rm(path.join(dir, files[1] ?? ""));
      await assert.rejects(PrivateLog.open({ dir, ...OPTIONS }), (error) =>
        isTalariaError(error, "ERR_CORRUPTION"),
      );
    });
  });

  test("a segment header that disagrees with its file name is corruption", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const first = files[0] ?? "";
      await fs.rename(path.join(dir, first), path.join(dir, first.replace(/\.1$/, ".2")));
      await assert.rejects(PrivateLog.open({ dir, ...OPTIONS }), (error) =>
        isTalariaError(error, "ERR_CORRUPTION"),
      );
    });
  });
});

async function assertRepairedTailAfterAppend(dir: string, lastDecree: number): Promise<void> {
  const log = await PrivateLog.open({ dir, ...OPTIONS });
  assert.equal(log.openReport.truncated, undefined);
  assert.deepEqual(await decreesIn(log), range(1, lastDecree));
  await log.append(lastDecree + 1, payloadFor(lastDecree + 1, size(lastDecree + 1)));
  await log.close();
  const again = await PrivateLog.open({ dir, ...OPTIONS });
  assert.deepEqual(await decreesIn(again), range(1, lastDecree + 1));
  await again.close();
}
