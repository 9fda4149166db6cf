import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  BLOCK_HEADER_BYTES,
  type LogRecord,
  PrivateLog,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from "../../src/plog/index.ts";
import { blockMap, FaultyFs, payloadFor, segmentFiles, withTempDir } from "./plog-helpers.ts";

const SMALL = { segmentBytesMax: 1024, fsync: false } as const;

/** Appends decrees one flush at a time so each lands in its own block. */
async function appendEach(log: PrivateLog, decrees: number[], bytes: (d: number) => number) {
  for (const decree of decrees) await log.append(decree, payloadFor(decree, bytes(decree)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function assertRecords(records: LogRecord[], decrees: number[], bytes: (d: number) => number) {
  assert.deepEqual(
    records.map((r) => r.decree),
    decrees,
  );
  for (const record of records) {
    assert.deepEqual(record.payload, payloadFor(record.decree, bytes(record.decree)));
  }
}

async function readAll(log: PrivateLog, from: number, batchBytes = 1 << 20): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const record of log.replay(from, { batchBytes })) records.push(record);
  return records;
}

const size = (d: number) => 20 + ((d * 13) % 90);

/** A FaultyFs whose next file read first runs `hook` (an append landing mid-read). */
class HookedReadFs extends FaultyFs {
  hook: (() => Promise<void>) | undefined;

  override async open(filePath: string, flags: "r" | "r+" | "wx") {
    const handle = await super.open(filePath, flags);
    return {
      ...handle,
      read: async (buffer: Buffer, offset: number, length: number, position: number) => {
        const hook = this.hook;
        this.hook = undefined;
        if (hook !== undefined) await hook();
        return handle.read(buffer, offset, length, position);
      },
    };
  }
}

describe("plog append and read", () => {
  test("a read to the durable tail is not disturbed by appends that become durable during it", async () => {
    await withTempDir(async (dir) => {
      const fs = new HookedReadFs();
      // No tail cache: the reads must go to the file, where the hook is.
      const log = await PrivateLog.open({ dir, fsync: false, tailCacheBytes: 0 }, { fs });
      await appendEach(log, range(1, 5), size);
      // The read starts with decree 5 durable; decrees 6 and 7 become durable before its first
      // file read returns. It must return 1..5, not report the new tail as a damaged block.
      fs.hook = () => appendEach(log, [6, 7], size);
      assertRecords(await log.read(1, { bytesMax: 1 << 20 }), range(1, 5), size);
      assertRecords(await log.read(6, { bytesMax: 1 << 20 }), [6, 7], size);
      await log.close();
    });
  });

  test("round trip across several segment rollovers, and after reopen", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      assert.equal(log.firstDecree, 1);
      assert.equal(log.lastDecree, 0);
      await appendEach(log, range(1, 120), size);
      assert.equal(log.lastDecree, 120);
      assert.equal(log.durableDecree, 120);
      const files = await segmentFiles(dir);
      assert.ok(files.length >= 5, `expected several segments, got ${files.length}`);
      for (const file of files.slice(0, -1)) {
        const blocks = blockMap(path.join(dir, file));
        const end = blocks.at(-1);
        assert.ok(end !== undefined && end.offset + end.bytes <= 1024, `${file} within the max`);
      }
      assertRecords(await readAll(log, 1), range(1, 120), size);
      await log.close();
      await log.close();

      const reopened = await PrivateLog.open({ dir, ...SMALL });
      assert.deepEqual(reopened.openReport, { segments: files.length, ignoredFiles: [] });
      assert.equal(reopened.firstDecree, 1);
      assert.equal(reopened.lastDecree, 120);
      assertRecords(await readAll(reopened, 1), range(1, 120), size);
      await appendEach(reopened, [121, 500], size);
      assertRecords(await readAll(reopened, 100), [...range(100, 121), 500], size);
      await reopened.close();
    });
  });

  test("segment file names sort in log order and carry the first decree", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      await appendEach(log, range(7, 60), size);
      await log.close();
      const files = await segmentFiles(dir);
      assert.match(files[0] ?? "", /^plog\.00000001\.7$/);
      for (const [i, file] of files.entries()) {
        const firstDecree = Number(file.split(".")[2]);
        assert.equal(blockMap(path.join(dir, file))[0]?.firstDecree, firstDecree);
        assert.equal(file.split(".")[1], String(i + 1).padStart(8, "0"));
      }
    });
  });

  test("a record bigger than segmentBytesMax gets its own segment", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      const bytes = (d: number) => (d === 3 ? 3000 : 50);
      await appendEach(log, [1, 2, 3, 4], bytes);
      const files = await segmentFiles(dir);
      assert.equal(files.length, 3);
      assert.deepEqual(
        blockMap(path.join(dir, files[1] ?? "")).map((b) => [b.firstDecree, b.lastDecree]),
        [[3, 3]],
      );
      assertRecords(await log.read(3, { bytesMax: 1 }), [3], bytes);
      await log.close();
    });
  });

  test("decrees must strictly increase; gaps are allowed", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      await log.append(5, payloadFor(5, 10));
      await log.append(9, payloadFor(9, 10));
      for (const decree of [9, 8, 1]) {
        await assert.rejects(log.append(decree, Buffer.alloc(1)), (error) =>
          isTalariaError(error, "ERR_INVALID_STATE"),
        );
      }
      await assert.rejects(log.append(0, Buffer.alloc(1)), (error) =>
        isTalariaError(error, "ERR_INVALID_PARAMETERS"),
      );
      await assert.rejects(log.append(1.5, Buffer.alloc(1)), (error) =>
        isTalariaError(error, "ERR_INVALID_PARAMETERS"),
      );
      assert.equal(log.lastDecree, 9);
      assertRecords(await log.read(1 + 4, { bytesMax: 1000 }), [5, 9], () => 10);
      await log.close();
      await assert.rejects(log.append(10, Buffer.alloc(1)), (error) =>
        isTalariaError(error, "ERR_INVALID_STATE"),
      );
      await assert.rejects(log.read(5, { bytesMax: 10 }), (error) =>
        isTalariaError(error, "ERR_INVALID_STATE"),
      );
    });
  });

  test("a payload over payloadBytesMax is refused with ERR_LIMIT_EXCEEDED", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL, payloadBytesMax: 100 });
      await assert.rejects(log.append(1, Buffer.alloc(101)), (error) =>
        isTalariaError(error, "ERR_LIMIT_EXCEEDED"),
      );
      await log.append(1, Buffer.alloc(100));
      await log.close();
    });
  });

  test("read batches stay within bytesMax, in order, and together cover everything", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      const bytes = (d: number) => (d % 17 === 0 ? 400 : size(d));
      // Mix single-record blocks with grouped ones.
      await appendEach(log, range(1, 40), bytes);
      await Promise.all(range(41, 90).map((d) => log.append(d, payloadFor(d, bytes(d)))));
      const bytesMax = 250;
      const seen: LogRecord[] = [];
      let next = 1;
      for (let batches = 0; batches < 1000; batches++) {
        const batch = await log.read(next, { bytesMax });
        if (batch.length === 0) break;
        const total = batch.reduce((sum, r) => sum + r.payload.length, 0);
        assert.ok(total <= bytesMax || batch.length === 1, `batch of ${total} bytes`);
        assert.equal(batch[0]?.decree, next, "starts exactly at fromDecree");
        seen.push(...batch);
        next = (batch.at(-1)?.decree ?? 0) + 1;
      }
      assertRecords(seen, range(1, 90), bytes);
      assertRecords(await readAll(log, 1, 333), range(1, 90), bytes);
      await log.close();
    });
  });

  test("read from a decree in the middle of a segment and of a block, with toDecree", async () => {
    await withTempDir(async (dir) => {
      // A small index interval exercises the seek points.
      const log = await PrivateLog.open({
        dir,
        segmentBytesMax: 4096,
        fsync: false,
        indexIntervalBytes: 100,
      });
      await Promise.all(range(1, 30).map((d) => log.append(d * 2, payloadFor(d * 2, size(d * 2)))));
      await appendEach(
        log,
        range(31, 80).map((d) => d * 2),
        size,
      );
      const files = await segmentFiles(dir);
      assert.ok(files.length >= 2);
      const second = blockMap(path.join(dir, files[1] ?? ""));
      const middle = second[Math.floor(second.length / 2)]?.firstDecree ?? 0;
      assertRecords(
        await log.read(middle + 2, { bytesMax: 1e6 }),
        range((middle + 2) / 2, 80).map((d) => d * 2),
        size,
      );
      // An odd decree is a gap: reading starts at the next record.
      assertRecords(
        await log.read(21, { bytesMax: 1e6, toDecree: 31 }),
        [22, 24, 26, 28, 30],
        size,
      );
      assertRecords(
        await log.read(21, { bytesMax: 1e6, toDecree: 30 }),
        [22, 24, 26, 28, 30],
        size,
      );
      assert.deepEqual(await log.read(161, { bytesMax: 10 }), []);
      assert.deepEqual(await log.read(50, { bytesMax: 10, toDecree: 49 }), []);
      await log.close();
    });
  });

  test("reads run alongside appends and return only durable records", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      await appendEach(log, range(1, 10), size);
      const pending = range(11, 60).map((d) => log.append(d, payloadFor(d, size(d))));
      const during = await log.read(1, { bytesMax: 1e6 });
      assert.ok(during.length >= 10);
      assert.ok((during.at(-1)?.decree ?? 0) <= log.durableDecree);
      assertRecords(during, range(1, during.length), size);
      await Promise.all(pending);
      assertRecords(await log.read(1, { bytesMax: 1e6 }), range(1, 60), size);
      await log.close();
    });
  });

  test("close flushes pending appends", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir, ...SMALL });
      const appends = range(1, 30).map((d) => log.append(d, payloadFor(d, size(d))));
      await log.close();
      await Promise.all(appends);
      const reopened = await PrivateLog.open({ dir, ...SMALL });
      assertRecords(await readAll(reopened, 1), range(1, 30), size);
      await reopened.close();
    });
  });

  test("bytesFrom counts the bytes held from a decree on, within a segment to one seek interval", async () => {
    await withTempDir(async (dir) => {
      const options = { segmentBytesMax: 4096, indexIntervalBytes: 256, fsync: false } as const;
      const payloadBytes = 100;
      const blockBytes = BLOCK_HEADER_BYTES + RECORD_HEADER_BYTES + payloadBytes;
      const check = (log: PrivateLog, label: string) => {
        const segments = log.segments();
        const total = segments.reduce((sum, segment) => sum + segment.bytes, 0);
        assert.equal(log.bytesFrom(log.firstDecree), total, `${label}: from the first decree`);
        assert.equal(log.bytesFrom(0), total, `${label}: from below the log`);
        assert.equal(log.bytesFrom(log.lastDecree + 1), 0, `${label}: nothing past the end`);
        for (let decree = log.firstDecree; decree <= log.lastDecree; decree++) {
          const held = segments.filter((segment) => segment.lastDecree >= decree);
          const records = (log.lastDecree - decree + 1) * blockBytes;
          const bytes = log.bytesFrom(decree);
          assert.ok(bytes >= records, `${label}: ${bytes} bytes from ${decree} < ${records}`);
          const slack =
            held.length * SEGMENT_HEADER_BYTES + options.indexIntervalBytes + blockBytes;
          assert.ok(bytes <= records + slack, `${label}: ${bytes} bytes from ${decree}`);
          // The segment holding `decree` counts only its part from `decree` on.
          const whole = held.reduce((sum, segment) => sum + segment.bytes, 0);
          if ((held[0]?.recordCount ?? 0) > 10 && decree > (held[0]?.firstDecree ?? 0) + 5) {
            assert.ok(bytes < whole, `${label}: from ${decree} is less than whole segments`);
          }
        }
      };
      const log = await PrivateLog.open({ dir, ...options });
      await appendEach(log, range(1, 200), () => payloadBytes);
      assert.ok(log.segments().length >= 5, "several segments");
      check(log, "appended");
      await log.close();
      const reopened = await PrivateLog.open({ dir, ...options });
      check(reopened, "reopened");
      await reopened.gc(100);
      check(reopened, "after gc");
      await reopened.truncateAfter(150);
      check(reopened, "after truncation");
      await reopened.close();
    });
  });
});
