/**
 * Recovery against look-alike blocks and foreign segments: blocks are sealed to their segment's
 * nonce and offset, so payload bytes never pass for a block and a torn tail stays a torn tail;
 * segments of another format version are refused; a new log directory is made durable.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { isTalariaError, type TalariaError } from "../../src/common/errors.ts";
import {
  BLOCK_HEADER_BYTES,
  encodeBlock,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "../../src/plog/format.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import {
  blockMap,
  FaultyFs,
  payloadFor,
  seededRandomBytes,
  segmentFiles,
  segmentNonce,
  truncateFile,
  withTempDir,
} from "./plog-helpers.ts";

const OPTIONS = { segmentBytesMax: 1 << 20, fsync: false } as const;
const FILLER_BYTES = 200;
const FIRST_SEGMENT = "plog.00000001.1";

async function decrees(log: PrivateLog): Promise<number[]> {
  return (await log.read(1, { bytesMax: 1e9 })).map((r) => r.decree);
}

interface TornTail {
  readonly tornOffset: number;
  readonly fileBytes: number;
  /** Where the crafted bytes start in the file. */
  readonly craftedOffset: number;
}

/**
 * Writes decrees 1..5 (one block each), then decree 6 whose payload is `craft(...)` followed by
 * filler, then cuts the file inside the filler: a torn tail whose surviving bytes hold all of the
 * crafted bytes. `craft` gets the segment file as it is before decree 6 and the offset its bytes
 * will sit at.
 */
async function tornTailHolding(
  dir: string,
  craft: (file: Buffer, craftedOffset: number) => Buffer,
): Promise<TornTail> {
  const log = await PrivateLog.open({ dir, ...OPTIONS }, { randomBytes: seededRandomBytes(42) });
  for (let d = 1; d <= 5; d++) await log.append(d, payloadFor(d, 40));
  const filePath = path.join(dir, FIRST_SEGMENT);
  const before = await fs.readFile(filePath);
  const tornOffset = before.length;
  const craftedOffset = tornOffset + BLOCK_HEADER_BYTES + RECORD_HEADER_BYTES;
  const crafted = craft(before, craftedOffset);
  await log.append(6, Buffer.concat([crafted, payloadFor(6, FILLER_BYTES)]));
  await log.close();
  assert.deepEqual(await segmentFiles(dir), [FIRST_SEGMENT]);
  const fileBytes = (await fs.stat(filePath)).size - FILLER_BYTES / 2;
  truncateFile(filePath, fileBytes);
  return { tornOffset, fileBytes, craftedOffset };
}

async function assertTornAt(dir: string, tail: TornTail): Promise<void> {
  const log = await PrivateLog.open({ dir, ...OPTIONS });
  assert.deepEqual(log.openReport.truncated, {
    file: FIRST_SEGMENT,
    offset: tail.tornOffset,
    bytesDropped: tail.fileBytes - tail.tornOffset,
    reason: "partial block body",
  });
  assert.deepEqual(await decrees(log), [1, 2, 3, 4, 5]);
  await log.append(6, payloadFor(6, 10));
  await log.close();
  const again = await PrivateLog.open({ dir, ...OPTIONS });
  assert.equal(again.openReport.truncated, undefined);
  assert.deepEqual(await decrees(again), [1, 2, 3, 4, 5, 6]);
  await again.close();
}

describe("plog recovery: blocks are sealed to their segment and offset", () => {
  test("a payload holding a byte-exact copy of a block of the same segment stays a torn tail", async () => {
    await withTempDir(async (dir) => {
      const tail = await tornTailHolding(dir, (file) => {
        const third = blockMap(path.join(dir, FIRST_SEGMENT))[2];
        assert.ok(third !== undefined && third.firstDecree === 3);
        return Buffer.from(file.subarray(third.offset, third.offset + third.bytes));
      });
      await assertTornAt(dir, tail);
    });
  });

  test("a payload holding a block forged for its exact offset, nonce guessed, stays torn", async () => {
    await withTempDir(async (dir) => {
      const tail = await tornTailHolding(dir, (_file, craftedOffset) => {
        const guess = Buffer.alloc(8, 0xab);
        return encodeBlock([{ decree: 7, payload: payloadFor(7, 30) }], {
          nonce: guess,
          offset: craftedOffset,
        });
      });
      await assertTornAt(dir, tail);
    });
  });

  test("control: the scan does read payload bytes, so only the seal keeps them out", async () => {
    await withTempDir(async (dir) => {
      // Sealed with the real nonce at its real offset, the look-alike is a valid block after the
      // bad one, and the log refuses to open: the two tests above pass because of the seal.
      const tail = await tornTailHolding(dir, (file, craftedOffset) => {
        const nonce = Buffer.from(file.subarray(20, 28));
        return encodeBlock([{ decree: 7, payload: payloadFor(7, 30) }], {
          nonce,
          offset: craftedOffset,
        });
      });
      assert.deepEqual(segmentNonce(path.join(dir, FIRST_SEGMENT)), seededRandomBytes(42)(8));
      await assert.rejects(PrivateLog.open({ dir, ...OPTIONS }), (error) => {
        assert.ok(isTalariaError(error, "ERR_CORRUPTION"), String(error));
        assert.equal(error.details.offset, tail.tornOffset);
        assert.equal(error.details.nextValidOffset, tail.craftedOffset);
        return true;
      });
    });
  });

  test("every segment gets its own nonce from the injected random source", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open(
        { dir, segmentBytesMax: 256, fsync: false },
        { randomBytes: seededRandomBytes(9) },
      );
      for (let d = 1; d <= 12; d++) await log.append(d, payloadFor(d, 100));
      await log.close();
      const files = await segmentFiles(dir);
      assert.ok(files.length >= 3);
      const expected = seededRandomBytes(9);
      for (const file of files) assert.deepEqual(segmentNonce(path.join(dir, file)), expected(8));
    });
  });
});

function isCorruptionOrVersion(code: "ERR_CORRUPTION" | "ERR_INVALID_VERSION") {
  return (error: unknown): boolean => {
    assert.ok(isTalariaError(error, code), String(error));
    assert.equal((error as TalariaError).details.file, FIRST_SEGMENT);
    return true;
  };
}

describe("plog recovery: segment headers", () => {
  test("a version 1 segment is refused with ERR_INVALID_VERSION and left untouched", async () => {
    await withTempDir(async (dir) => {
      // Version 1: magic | version 1 | reserved | sequence 1 | firstDecree 1 | CRC of [0, 20),
      // then one (v1) block's worth of bytes.
      const v1 = Buffer.from(`54504c53010000000100000001000000000000000000000000`, "hex");
      v1.writeUInt32LE(crc32c(v1.subarray(0, 20)), 20);
      const file = Buffer.concat([v1.subarray(0, 24), Buffer.alloc(60, 1)]);
      await fs.writeFile(path.join(dir, FIRST_SEGMENT), file);
      await assert.rejects(
        PrivateLog.open({ dir, ...OPTIONS }),
        isCorruptionOrVersion("ERR_INVALID_VERSION"),
      );
      // Even cut short of a v2 header, it is not taken for a torn one and removed.
      await fs.writeFile(path.join(dir, FIRST_SEGMENT), file.subarray(0, 24));
      await assert.rejects(
        PrivateLog.open({ dir, ...OPTIONS }),
        isCorruptionOrVersion("ERR_INVALID_VERSION"),
      );
      assert.deepEqual(await fs.readFile(path.join(dir, FIRST_SEGMENT)), file.subarray(0, 24));
    });
  });

  test("a damaged complete segment header is corruption: nothing after it can be checked", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      for (let d = 1; d <= 3; d++) await log.append(d, payloadFor(d, 40));
      await log.close();
      const filePath = path.join(dir, FIRST_SEGMENT);
      const good = await fs.readFile(filePath);
      const damaged = Buffer.from(good);
      damaged[22] = (damaged[22] ?? 0) ^ 0x10;
      await fs.writeFile(filePath, damaged);
      await assert.rejects(
        PrivateLog.open({ dir, ...OPTIONS }),
        isCorruptionOrVersion("ERR_CORRUPTION"),
      );
      assert.deepEqual(await fs.readFile(filePath), damaged);
    });
  });

  test("an all-zero segment header (extended, never written) is a torn segment", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...OPTIONS });
      for (let d = 1; d <= 3; d++) await log.append(d, payloadFor(d, 40));
      await log.close();
      const second = "plog.00000002.4";
      await fs.writeFile(path.join(dir, second), Buffer.alloc(SEGMENT_HEADER_BYTES + 50));
      const reopened = await PrivateLog.open({ dir, ...OPTIONS });
      assert.equal(reopened.openReport.removedEmptySegment, second);
      assert.equal(reopened.openReport.truncated?.reason, "bad segment magic");
      assert.deepEqual(await decrees(reopened), [1, 2, 3]);
      await reopened.close();
    });
  });
});

describe("plog open: directory creation", () => {
  test("creating the log directory fsyncs the parents that gained an entry", async () => {
    await withTempDir(async (root) => {
      const faulty = new FaultyFs();
      const dir = path.join(root, "a", "b");
      const log = await PrivateLog.open({ dir, ...OPTIONS }, { fs: faulty });
      assert.deepEqual(faulty.syncedDirs, [path.resolve(root), path.resolve(root, "a")]);
      await log.close();
      faulty.syncedDirs.length = 0;
      const again = await PrivateLog.open({ dir, ...OPTIONS }, { fs: faulty });
      assert.deepEqual(faulty.syncedDirs, [], "an existing directory needs no fsync");
      await again.close();
    });
  });
});
