import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  nodeFs,
  type PlogFileHandle,
  type PlogFs,
  type PlogOpenFlags,
  PrivateLog,
} from "../../src/plog/index.ts";
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

async function buildLog(dir: string, count: number): Promise<string[]> {
  const log = await PrivateLog.open({ dir, ...OPTIONS });
  for (let d = 1; d <= count; d++) await log.append(d, payloadFor(d, size(d)));
  await log.close();
  return segmentFiles(dir);
}

/** Every entry of `dir` with its size, mode and content hash: any change on disk shows. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of (await fs.readdir(dir)).sort()) {
    const filePath = path.join(dir, name);
    const stat = await fs.stat(filePath);
    const hash = createHash("sha256")
      .update(await fs.readFile(filePath))
      .digest("hex");
    entries[name] = `${stat.size} ${stat.mode.toString(8)} ${hash}`;
  }
  return entries;
}

async function decreesIn(log: PrivateLog): Promise<number[]> {
  const decrees: number[] = [];
  for await (const record of log.replay(log.firstDecree, { batchBytes: 4096 })) {
    assert.deepEqual(record.payload, payloadFor(record.decree, size(record.decree)));
    decrees.push(record.decree);
  }
  return decrees;
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** node:fs that records every call that could change the disk, and every open's flags. */
class RecordingFs implements PlogFs {
  readonly calls: string[] = [];
  async open(filePath: string, flags: PlogOpenFlags): Promise<PlogFileHandle> {
    this.calls.push(`open ${flags} ${path.basename(filePath)}`);
    const handle = await nodeFs.open(filePath, flags);
    const calls = this.calls;
    return {
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      stat: () => handle.stat(),
      close: () => handle.close(),
      write: (buffer, offset, length, position) => {
        calls.push("write");
        return handle.write(buffer, offset, length, position);
      },
      truncate: (length) => {
        calls.push("truncate");
        return handle.truncate(length);
      },
      datasync: () => {
        calls.push("datasync");
        return handle.datasync();
      },
    };
  }
  readdir = (dir: string): Promise<string[]> => nodeFs.readdir(dir);
  unlink = (filePath: string): Promise<void> => {
    this.calls.push("unlink");
    return nodeFs.unlink(filePath);
  };
  mkdir = (dir: string): Promise<string | undefined> => {
    this.calls.push("mkdir");
    return nodeFs.mkdir(dir);
  };
  syncDir = (dir: string): Promise<void> => {
    this.calls.push("syncDir");
    return nodeFs.syncDir(dir);
  };
}

describe("plog read-only open", () => {
  test("a torn tail is reported, not cut: disk unchanged, valid prefix readable", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const tail = blockMap(path.join(dir, last)).at(-1);
      assert.ok(tail !== undefined);
      truncateFile(path.join(dir, last), tail.offset + 20);
      const before = await snapshot(dir);

      const recording = new RecordingFs();
      const log = await PrivateLog.open({ dir, ...OPTIONS, readOnly: true }, { fs: recording });
      assert.deepEqual(log.openReport.truncated, {
        file: last,
        offset: tail.offset,
        bytesDropped: 20,
        reason: "partial block header",
        dryRun: true,
      });
      assert.equal(log.openReport.readOnly, true);
      assert.equal(log.lastDecree, tail.firstDecree - 1);
      assert.deepEqual(await decreesIn(log), range(1, tail.firstDecree - 1));
      const segments = log.segments();
      assert.deepEqual(
        segments.map((s) => s.fileName),
        files,
      );
      assert.equal(segments.at(-1)?.bytes, tail.offset);
      assert.equal(
        segments.reduce((sum, s) => sum + s.recordCount, 0),
        tail.firstDecree - 1,
      );
      await log.close();

      assert.deepEqual(await snapshot(dir), before);
      // Recovery opened every segment "r", the reads did too, and nothing else touched the disk.
      assert.deepEqual(
        recording.calls.slice(0, files.length),
        files.map((file) => `open r ${file}`),
      );
      assert.deepEqual(
        recording.calls.filter((call) => !call.startsWith("open r ")),
        [],
      );

      // A writable open cuts exactly what the read-only one reported.
      const writable = await PrivateLog.open({ dir, ...OPTIONS });
      const { dryRun, ...wouldCut } = log.openReport.truncated ?? {};
      assert.equal(dryRun, true);
      assert.deepEqual(writable.openReport.truncated, wouldCut);
      await writable.close();
      assert.notDeepEqual(await snapshot(dir), before);
    });
  });

  test("a corrupt last block is reported the same way and the file keeps its bytes", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const last = files.at(-1) ?? "";
      const tail = blockMap(path.join(dir, last)).at(-1);
      assert.ok(tail !== undefined);
      flipByte(path.join(dir, last), tail.offset + tail.bytes - 3);
      const before = await snapshot(dir);
      for (let i = 0; i < 2; i++) {
        const log = await PrivateLog.open({ dir, ...OPTIONS, readOnly: true });
        assert.equal(log.openReport.truncated?.offset, tail.offset);
        assert.equal(log.openReport.truncated?.dryRun, true);
        assert.deepEqual(await decreesIn(log), range(1, tail.firstDecree - 1));
        await log.close();
      }
      assert.deepEqual(await snapshot(dir), before);
    });
  });

  test("an empty last segment is reported and left in place", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 30);
      const empty = `plog.${String(files.length + 1).padStart(8, "0")}.31`;
      await fs.writeFile(path.join(dir, empty), Buffer.alloc(0));
      const before = await snapshot(dir);
      const log = await PrivateLog.open({ dir, ...OPTIONS, readOnly: true });
      assert.equal(log.openReport.emptyLastSegment, empty);
      assert.equal(log.openReport.removedEmptySegment, undefined);
      assert.equal(log.openReport.segments, files.length);
      assert.deepEqual(await decreesIn(log), range(1, 30));
      await log.close();
      assert.deepEqual(await snapshot(dir), before);
    });
  });

  test("append and gc are refused with ERR_INVALID_STATE and change nothing", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      assert.ok(files.length >= 3);
      const before = await snapshot(dir);
      const log = await PrivateLog.open({ dir, ...OPTIONS, readOnly: true });
      await assert.rejects(log.append(41, payloadFor(41, 10)), (error: unknown) => {
        assert.ok(isTalariaError(error, "ERR_INVALID_STATE"), String(error));
        assert.match(error.message, /read-only/);
        return true;
      });
      await assert.rejects(log.gc(40), (error: unknown) =>
        isTalariaError(error, "ERR_INVALID_STATE"),
      );
      assert.equal(log.lastDecree, 40);
      assert.equal(log.firstDecree, 1);
      assert.deepEqual(await decreesIn(log), range(1, 40));
      await log.close();
      assert.deepEqual(await snapshot(dir), before);
    });
  });

  test("a missing directory is ERR_OBJECT_NOT_FOUND and is not created", async () => {
    await withTempDir(async (dir) => {
      const missing = path.join(dir, "replica", "plog");
      await assert.rejects(
        PrivateLog.open({ dir: missing, ...OPTIONS, readOnly: true }),
        (error: unknown) => {
          assert.ok(isTalariaError(error, "ERR_OBJECT_NOT_FOUND"), String(error));
          assert.ok(error.message.includes(missing), error.message);
          return true;
        },
      );
      assert.deepEqual(await fs.readdir(dir), []);
    });
  });

  test("mid-log corruption still throws ERR_CORRUPTION", async () => {
    await withTempDir(async (dir) => {
      const files = await buildLog(dir, 40);
      const first = files[0] ?? "";
      const block = blockMap(path.join(dir, first))[0];
      assert.ok(block !== undefined);
      flipByte(path.join(dir, first), block.offset + block.bytes - 3);
      const before = await snapshot(dir);
      await assert.rejects(PrivateLog.open({ dir, ...OPTIONS, readOnly: true }), (error: unknown) =>
        isTalariaError(error, "ERR_CORRUPTION"),
      );
      assert.deepEqual(await snapshot(dir), before);
    });
  });
});
