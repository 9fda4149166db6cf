/**
 * Crash property: whatever byte the last segment was cut at (the disk kept only that much when the
 * process died), reopening yields exactly a prefix of what was appended: every record whose block
 * was complete before the cut (its append had resolved by the time the disk held it), nothing
 * after, and the log accepts and keeps new appends.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { SEGMENT_HEADER_BYTES } from "../../src/plog/format.ts";
import { type LogRecord, PrivateLog } from "../../src/plog/index.ts";
import {
  blockMap,
  payloadFor,
  seededRandomBytes,
  segmentFiles,
  truncateFile,
  withTempDir,
} from "./plog-helpers.ts";

async function readAll(log: PrivateLog): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const record of log.replay(log.firstDecree, { batchBytes: 700 })) records.push(record);
  return records;
}

const arbRounds = fc.array(
  fc.array(
    fc.record({ gap: fc.integer({ min: 1, max: 3 }), bytes: fc.integer({ min: 0, max: 300 }) }),
    {
      minLength: 1,
      maxLength: 6,
    },
  ),
  { minLength: 1, maxLength: 12 },
);

test("a crash at any byte of the last segment leaves exactly a durable prefix", async () => {
  await fc.assert(
    fc.asyncProperty(
      arbRounds,
      fc.constantFrom(512, 1024, 4096),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (rounds, segmentBytesMax, cutFraction) => {
        await withTempDir(async (dir) => {
          const options = { dir, segmentBytesMax, fsync: false };
          // Seeded nonces: a failing run replays byte for byte.
          const deps = { randomBytes: seededRandomBytes(segmentBytesMax) };
          const log = await PrivateLog.open(options, deps);
          const appended: LogRecord[] = [];
          let decree = 0;
          for (const round of rounds) {
            // Each round's appends are concurrent, so group commit puts several in one block.
            const batch = round.map(({ gap, bytes }) => {
              decree += gap;
              return { decree, payload: payloadFor(decree, bytes) };
            });
            appended.push(...batch);
            await Promise.all(batch.map((r) => log.append(r.decree, r.payload)));
          }
          await log.close();

          const files = await segmentFiles(dir);
          const last = files.at(-1);
          assert.ok(last !== undefined);
          const lastPath = path.join(dir, last);
          const blocks = blockMap(lastPath);
          const end = blocks.at(-1);
          assert.ok(end !== undefined);
          const fileBytes = end.offset + end.bytes;
          const cut = Math.floor(cutFraction * fileBytes);
          truncateFile(lastPath, cut);

          const firstInLast = blocks[0]?.firstDecree ?? 0;
          const keptInLast = blocks.filter((b) => b.offset + b.bytes <= cut).at(-1);
          const survivorMax = keptInLast?.lastDecree ?? firstInLast - 1;
          const expected = appended.filter((r) => r.decree <= survivorMax);

          const reopened = await PrivateLog.open(options, deps);
          const atBoundary =
            cut === SEGMENT_HEADER_BYTES || blocks.some((b) => b.offset + b.bytes === cut);
          assert.equal(reopened.openReport.truncated === undefined, cut === 0 || atBoundary);
          if (reopened.openReport.truncated !== undefined) {
            assert.equal(reopened.openReport.truncated.file, last);
            assert.equal(
              reopened.openReport.truncated.bytesDropped,
              cut - reopened.openReport.truncated.offset,
            );
          }
          assert.deepEqual(await readAll(reopened), expected);
          assert.equal(reopened.lastDecree, expected.at(-1)?.decree ?? 0);

          const next = reopened.lastDecree + 1;
          await reopened.append(next, payloadFor(next, 10));
          await reopened.close();
          const again = await PrivateLog.open(options, deps);
          assert.deepEqual(await readAll(again), [
            ...expected,
            { decree: next, payload: payloadFor(next, 10) },
          ]);
          await again.close();
        });
      },
    ),
    { numRuns: 60 },
  );
});
