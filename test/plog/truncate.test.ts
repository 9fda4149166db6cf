import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { type LogRecord, MemoryFs, PrivateLog } from "../../src/plog/index.ts";
import { INTENT_FILE_NAME } from "../../src/plog/intent-file.ts";
import {
  blockMap,
  FaultyFs,
  payloadFor,
  seededRandomBytes,
  segmentFiles,
  withTempDir,
} from "./plog-helpers.ts";

const OPTIONS = { segmentBytesMax: 1024, fsync: false } as const;
const size = (d: number) => 30 + ((d * 11) % 60);
const fresh = (d: number) => Buffer.from(`new record ${d}`);

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

async function open(dir: string): Promise<PrivateLog> {
  return PrivateLog.open({ dir, ...OPTIONS }, { randomBytes: seededRandomBytes(7) });
}

/** Appends `decrees` `perBlock` at a time, concurrently, so each group becomes one block. */
async function appendGroups(log: PrivateLog, decrees: number[], perBlock: number): Promise<void> {
  for (let i = 0; i < decrees.length; i += perBlock) {
    const group = decrees.slice(i, i + perBlock);
    await Promise.all(group.map((d) => log.append(d, payloadFor(d, size(d)))));
  }
}

async function readAll(log: PrivateLog): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const record of log.replay(log.firstDecree, { batchBytes: 500 })) records.push(record);
  return records;
}

/** Checks the log holds exactly `old` decrees with their original payloads, then `added` new ones. */
async function assertHolds(log: PrivateLog, old: number[], added: number[] = []): Promise<void> {
  const expected = [
    ...old.map((decree) => ({ decree, payload: payloadFor(decree, size(decree)) })),
    ...added.map((decree) => ({ decree, payload: fresh(decree) })),
  ];
  assert.deepEqual(await readAll(log), expected);
  assert.equal(log.lastDecree, expected.at(-1)?.decree ?? log.firstDecree - 1);
  const indexed = log.segments().reduce((sum, segment) => sum + segment.recordCount, 0);
  assert.equal(indexed, expected.length, "the index counts every record held");
  assert.equal(log.durableDecree, log.lastDecree);
}

/** Appends `added` (new payloads), closes, reopens and checks everything is still there. */
async function appendReopenCheck(dir: string, log: PrivateLog, old: number[], added: number[]) {
  for (const d of added) await log.append(d, fresh(d));
  await assertHolds(log, old, added);
  await log.close();
  const reopened = await open(dir);
  assert.equal(reopened.openReport.truncated, undefined);
  await assertHolds(reopened, old, added);
  await reopened.close();
}

describe("plog truncateAfter", () => {
  test("inside a block: the block's records up to the decree stay, the rest go", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 40), 4);
      const files = await segmentFiles(dir);
      const last = files.at(-1) ?? "";
      const block = blockMap(path.join(dir, last)).find((b) => b.lastDecree - b.firstDecree >= 2);
      assert.ok(block !== undefined, "a block of several records");
      const at = block.firstDecree + 1;
      await log.truncateAfter(at);
      assert.equal(log.lastDecree, at);
      await assertHolds(log, range(1, at));
      const rewritten = blockMap(path.join(dir, last)).at(-1);
      assert.deepEqual(
        [rewritten?.offset, rewritten?.firstDecree, rewritten?.lastDecree],
        [block.offset, block.firstDecree, at],
      );
      await appendReopenCheck(dir, log, range(1, at), range(at + 1, at + 6));
    });
  });

  test("at a block boundary: the file is cut there, nothing is rewritten", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 40), 2);
      const last = (await segmentFiles(dir)).at(-2) ?? "";
      const boundary = blockMap(path.join(dir, last))[1];
      assert.ok(boundary !== undefined);
      const bytesWritten = log.stats.bytesWritten;
      await log.truncateAfter(boundary.lastDecree);
      assert.equal(log.stats.bytesWritten, bytesWritten);
      assert.equal((await fs.stat(path.join(dir, last))).size, boundary.offset + boundary.bytes);
      await assertHolds(log, range(1, boundary.lastDecree));
      await appendReopenCheck(dir, log, range(1, boundary.lastDecree), [boundary.lastDecree + 1]);
    });
  });

  test("across segments: later segments are deleted, and rollovers reuse their sequences", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 120), 3);
      const before = log.segments();
      assert.ok(before.length >= 5);
      const keep = before[1];
      assert.ok(keep !== undefined);
      const at = keep.lastDecree - 1;
      await log.truncateAfter(at);
      assert.deepEqual(await segmentFiles(dir), [before[0]?.fileName, keep.fileName]);
      assert.deepEqual(
        log.segments().map((s) => [s.fileName, s.lastDecree]),
        [
          [before[0]?.fileName, before[0]?.lastDecree],
          [keep.fileName, at],
        ],
      );
      const added = range(at + 1, at + 60);
      for (const d of added) await log.append(d, fresh(d));
      assert.equal(log.segments()[2]?.sequence, keep.sequence + 1);
      await log.close();
      const reopened = await open(dir);
      await assertHolds(reopened, range(1, at), added);
      await reopened.close();
    });
  });

  test("to 0 removes everything; the empty log starts at 1 and takes decree 1 again", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 50), 5);
      await log.truncateAfter(0);
      assert.deepEqual([log.firstDecree, log.lastDecree, log.durableDecree], [1, 0, 0]);
      assert.deepEqual(await log.read(1, { bytesMax: 100 }), []);
      await log.close();
      const reopened = await open(dir);
      assert.deepEqual([reopened.firstDecree, reopened.lastDecree], [1, 0]);
      await appendReopenCheck(dir, reopened, [], [1, 2, 3]);
    });
  });

  test("removing every record of a log that starts later keeps where it starts", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await log.resetTo(99);
      await appendGroups(log, range(100, 130), 4);
      await log.truncateAfter(99);
      assert.deepEqual([log.firstDecree, log.lastDecree], [100, 99]);
      await log.close();
      const reopened = await open(dir);
      assert.deepEqual([reopened.firstDecree, reopened.lastDecree], [100, 99]);
      await assert.rejects(reopened.append(99, fresh(99)), (e) =>
        isTalariaError(e, "ERR_INVALID_STATE"),
      );
      await appendReopenCheck(dir, reopened, [], [100]);
    });
  });

  test("with gaps: lastDecree is the largest decree left, and the gap can be filled", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await Promise.all([10, 12, 15, 16, 20].map((d) => log.append(d, payloadFor(d, size(d)))));
      await log.truncateAfter(18);
      assert.equal(log.lastDecree, 16);
      await log.truncateAfter(14);
      assert.equal(log.lastDecree, 12);
      await log.append(13, fresh(13));
      await assertHolds(log, [10, 12], [13]);
      await log.close();
      const reopened = await open(dir);
      await assertHolds(reopened, [10, 12], [13]);
      await reopened.close();
    });
  });

  test("nothing above the decree: nothing changes on disk, but it still waits its turn", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 10), 2);
      const settled: string[] = [];
      const append = log.append(11, fresh(11)).then(() => settled.push("append 11"));
      const truncate = log.truncateAfter(11).then(() => settled.push("truncate 11"));
      await Promise.all([append, truncate]);
      assert.deepEqual(settled, ["append 11", "truncate 11"]);
      assert.equal(log.stats.truncations, 1);
      await assertHolds(log, range(1, 10), [11]);
      await log.close();
    });
  });

  test("ordered with appends: earlier ones are written then cut, later ones land after", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 20), 4);
      const settled: string[] = [];
      const track = (name: string, p: Promise<void>) => p.then(() => settled.push(name));
      // All issued in one tick: nothing below waits for the disk before the next call.
      const ops = [
        ...range(21, 30).map((d) => track(`a${d}`, log.append(d, payloadFor(d, size(d))))),
        track("t15", log.truncateAfter(15)),
      ];
      assert.equal(log.lastDecree, 15);
      assert.ok(log.durableDecree <= 15, "a doomed record is never reported durable");
      ops.push(...range(16, 17).map((d) => track(`b${d}`, log.append(d, fresh(d)))));
      ops.push(track("doomed18", log.append(18, Buffer.from("doomed"))));
      ops.push(track("t17", log.truncateAfter(17)));
      assert.equal(log.lastDecree, 17);
      ops.push(track("b18", log.append(18, fresh(18))));
      const during = await log.read(1, { bytesMax: 1e6 });
      assert.ok(during.every((r) => r.decree <= 15 || r.payload.equals(fresh(r.decree))));
      await Promise.all(ops);
      assert.deepEqual(settled, [
        ...range(21, 30).map((d) => `a${d}`),
        "t15",
        "b16",
        "b17",
        "doomed18",
        "t17",
        "b18",
      ]);
      await assertHolds(log, range(1, 15), [16, 17, 18]);
      await log.close();
      const reopened = await open(dir);
      await assertHolds(reopened, range(1, 15), [16, 17, 18]);
      await reopened.close();
    });
  });

  test("reads running during a truncation see the log before or after it, never a mix", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 200), 7);
      const reads = range(1, 30).map((i) => log.read(1 + i * 3, { bytesMax: 1e6 }));
      const truncation = log.truncateAfter(101);
      const afterCall = range(1, 10).map(() => log.read(1, { bytesMax: 1e6 }));
      await truncation;
      for (const [i, read] of reads.entries()) {
        const decrees = (await read).map((r) => r.decree);
        assert.equal(decrees[0], 1 + (i + 1) * 3);
        assert.ok(decrees.at(-1) === 200 || decrees.at(-1) === 101, String(decrees.at(-1)));
      }
      for (const read of afterCall)
        assert.deepEqual(
          (await read).map((r) => r.decree),
          range(1, 101),
        );
      await log.close();
    });
  });

  test("GC deletes nothing while a truncation is pending, and catches up after", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 100), 3);
      const truncation = log.truncateAfter(90);
      assert.deepEqual(await log.gc(50), { segmentsDeleted: 0, bytesDeleted: 0 });
      await truncation;
      const result = await log.gc(50);
      assert.ok(result.segmentsDeleted > 0);
      assert.ok(log.firstDecree > 1 && log.firstDecree <= 50);
      await assertHolds(log, range(log.firstDecree, 90));
      await log.close();
    });
  });

  test("waits behind blocked appends; refused ERR_BUSY, changing nothing, when too many wait", async () => {
    await withTempDir(async (dir) => {
      const faulty = new FaultyFs();
      let openGate = (): void => {};
      faulty.datasyncGate = new Promise((resolve) => {
        openGate = resolve;
      });
      // Each record is 12 + 88 = 100 bytes: one in flight, the next two wait for room.
      const log = await PrivateLog.open(
        { dir, pendingBytesMax: 100, blockedAppendsMax: 3 },
        { fs: faulty, randomBytes: seededRandomBytes(3) },
      );
      const appends = [1, 2, 3].map((d) => log.append(d, payloadFor(d, 88)));
      const truncation = log.truncateAfter(2);
      assert.equal(log.lastDecree, 2);
      await assert.rejects(
        log.truncateAfter(1),
        (e) => isTalariaError(e, "ERR_BUSY") && e.retriable,
      );
      await assert.rejects(log.resetTo(9), (e) => isTalariaError(e, "ERR_BUSY"));
      assert.deepEqual([log.firstDecree, log.lastDecree, log.stats.resets], [1, 2, 0]);
      faulty.datasyncGate = null;
      openGate();
      await Promise.all([...appends, truncation]);
      assert.deepEqual(
        (await log.read(1, { bytesMax: 1e6 })).map((r) => r.decree),
        [1, 2],
      );
      await log.close();
    });
  });

  test("a failed truncation fails the log; reopening gives the log before or after it", async () => {
    const memory = new MemoryFs();
    const options = { dir: "/plog", segmentBytesMax: 600 };
    const log = await PrivateLog.open(options, { fs: memory });
    await appendGroups(log, range(1, 20), 3);
    memory.stopAfter(2);
    await assert.rejects(log.truncateAfter(10), (e) =>
      isTalariaError(e, "ERR_FILE_OPERATION_FAILED"),
    );
    await assert.rejects(log.append(11, fresh(11)), (e) =>
      isTalariaError(e, "ERR_FILE_OPERATION_FAILED"),
    );
    assert.equal(log.lastDecree, 10);
    await log.close();
    const reopened = await PrivateLog.open(options, { fs: memory.crash() });
    await assertHolds(reopened, range(1, 20));
    await reopened.close();
  });

  test("refusals: below the log's start, bad decrees, read-only and closed logs", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await log.resetTo(50);
      await log.append(60, fresh(60));
      await assert.rejects(log.truncateAfter(49), (e) => {
        assert.ok(isTalariaError(e, "ERR_INVALID_STATE"));
        return e.details.firstDecree === 51;
      });
      for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
        await assert.rejects(log.truncateAfter(bad), (e) =>
          isTalariaError(e, "ERR_INVALID_PARAMETERS"),
        );
        await assert.rejects(log.resetTo(bad), (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"));
      }
      assert.equal(log.lastDecree, 60);
      await log.close();
      await assert.rejects(log.truncateAfter(55), (e) => isTalariaError(e, "ERR_INVALID_STATE"));
      await assert.rejects(log.resetTo(55), (e) => isTalariaError(e, "ERR_INVALID_STATE"));
      const readOnly = await PrivateLog.open({ dir, readOnly: true });
      await assert.rejects(readOnly.truncateAfter(55), (e) =>
        isTalariaError(e, "ERR_INVALID_STATE"),
      );
      await assert.rejects(readOnly.resetTo(55), (e) => isTalariaError(e, "ERR_INVALID_STATE"));
      await readOnly.close();
    });
  });
});

describe("plog resetTo", () => {
  test("empties the log, which starts after the decree, also after reopen", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 80), 4);
      await log.resetTo(1000);
      assert.deepEqual([log.firstDecree, log.lastDecree, log.durableDecree], [1001, 1000, 1000]);
      assert.equal((await segmentFiles(dir)).length, 1);
      await assert.rejects(log.read(1000, { bytesMax: 10 }), (e) =>
        isTalariaError(e, "ERR_OBJECT_NOT_FOUND"),
      );
      assert.deepEqual(await log.read(1001, { bytesMax: 10 }), []);
      await log.close();
      const reopened = await open(dir);
      assert.deepEqual([reopened.firstDecree, reopened.lastDecree], [1001, 1000]);
      assert.equal(reopened.openReport.removedEmptySegment, undefined);
      // Any decree above it, not only 1001.
      await appendReopenCheck(dir, reopened, [], [1005, 1006]);
      const again = await open(dir);
      assert.equal(again.firstDecree, 1001);
      await again.close();
    });
  });

  test("can move the start backwards, and works on a log never written", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await log.resetTo(10);
      await log.append(11, fresh(11));
      await log.resetTo(3);
      assert.deepEqual([log.firstDecree, log.lastDecree], [4, 3]);
      await appendReopenCheck(dir, log, [], [4]);
    });
  });

  test("the floor segment is GC'd like any other once the log moves past it", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await log.resetTo(500);
      const added = range(501, 620);
      for (const d of added) await log.append(d, fresh(d));
      const segments = log.segments();
      assert.ok(segments.length >= 3);
      const second = segments[1];
      assert.ok(second !== undefined);
      await log.gc(second.firstDecree);
      assert.equal(log.firstDecree, second.firstDecree);
      await log.close();
      const reopened = await open(dir);
      assert.equal(reopened.firstDecree, second.firstDecree);
      await assertHolds(reopened, [], range(second.firstDecree, 620));
      await reopened.close();
    });
  });

  test("a read-only open sees an empty reset log as such", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 10), 2);
      await log.resetTo(40);
      await log.close();
      const readOnly = await PrivateLog.open({ dir, readOnly: true });
      assert.deepEqual([readOnly.firstDecree, readOnly.lastDecree], [41, 40]);
      assert.equal(readOnly.openReport.emptyLastSegment, undefined);
      await readOnly.close();
    });
  });

  test("a read-only open refuses an unfinished operation and leaves a torn intent alone", async () => {
    await withTempDir(async (dir) => {
      const log = await open(dir);
      await appendGroups(log, range(1, 10), 2);
      await log.close();
      const intentPath = path.join(dir, INTENT_FILE_NAME);
      await fs.writeFile(intentPath, Buffer.from("TPLI"));
      const readOnly = await PrivateLog.open({ dir, readOnly: true });
      assert.equal(readOnly.openReport.discardedIntent?.dryRun, true);
      assert.deepEqual(readOnly.openReport.ignoredFiles, []);
      await readOnly.close();
      const writable = await open(dir);
      assert.equal(writable.openReport.discardedIntent?.dryRun, undefined);
      await assertHolds(writable, range(1, 10));
      await writable.close();
      await assert.rejects(fs.stat(intentPath), { code: "ENOENT" });
    });
  });
});
