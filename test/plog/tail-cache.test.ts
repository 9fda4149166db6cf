/** TailCache: the newest records in memory, answering only ranges it holds whole. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { recordBytes } from "../../src/plog/format.ts";
import { MemoryFs, PrivateLog } from "../../src/plog/index.ts";
import { TailCache } from "../../src/plog/tail-cache.ts";

const record = (decree: number, bytes = 10) => ({ decree, payload: Buffer.alloc(bytes, decree) });
const decrees = (records: readonly { decree: number }[] | undefined) =>
  records?.map((r) => r.decree);

describe("TailCache", () => {
  it("answers ranges inside what it holds, like a disk read: bytes bound, at least one record", () => {
    const cache = new TailCache(10 * recordBytes(10));
    for (const d of [3, 4, 6, 7, 8]) cache.append(record(d));
    assert.deepEqual(decrees(cache.read(3, 8, 1000)), [3, 4, 6, 7, 8]);
    assert.deepEqual(decrees(cache.read(5, 7, 1000)), [6, 7], "from inside a gap");
    assert.deepEqual(decrees(cache.read(4, 8, 20)), [4, 6], "up to 20 payload bytes");
    assert.deepEqual(decrees(cache.read(4, 8, 15)), [4], "never past the bound after the first");
    assert.deepEqual(decrees(cache.read(4, 8, 1)), [4], "at least one");
    assert.deepEqual(decrees(cache.read(9, 20, 1000)), [], "nothing newer");
    assert.equal(cache.read(2, 8, 1000), undefined, "2 may be on disk only");
  });

  it("evicts the oldest past its bound, and keeps nothing older than a record over it", () => {
    const cache = new TailCache(3 * recordBytes(10));
    for (let d = 1; d <= 5; d++) cache.append(record(d));
    assert.equal(cache.heldBytes, 3 * recordBytes(10));
    assert.deepEqual(decrees(cache.read(3, 5, 1000)), [3, 4, 5]);
    assert.equal(cache.read(2, 5, 1000), undefined);
    cache.append(record(6, 1000));
    assert.equal(cache.heldBytes, 0);
    assert.equal(cache.read(6, 6, 1000), undefined);
    cache.append(record(7));
    assert.equal(cache.read(6, 7, 1000), undefined, "6 was never kept");
    assert.deepEqual(decrees(cache.read(7, 7, 1000)), [7]);
  });

  it("drops at once what a truncation or reset discards", () => {
    const cache = new TailCache(1 << 20);
    for (let d = 1; d <= 6; d++) cache.append(record(d));
    cache.truncateAfter(4);
    assert.deepEqual(decrees(cache.read(1, 10, 1000)), [1, 2, 3, 4]);
    cache.append({ decree: 5, payload: Buffer.from("new") });
    assert.equal(cache.read(5, 5, 1000)?.[0]?.payload.toString(), "new");
    cache.truncateAfter(0);
    assert.equal(cache.read(1, 10, 1000), undefined);
    cache.append(record(9));
    cache.reset();
    assert.equal(cache.read(9, 9, 1000), undefined);
    assert.equal(cache.heldBytes, 0);
  });

  it("holds nothing with a bound of 0", () => {
    const cache = new TailCache(0);
    cache.append(record(1, 0));
    assert.equal(cache.read(1, 1, 1000), undefined);
  });

  it("answers a private log's reads of its tail, and leaves older ones to the files", async () => {
    const fs = new MemoryFs();
    const log = await PrivateLog.open(
      { dir: "/plog", tailCacheBytes: 5 * recordBytes(10) },
      { fs },
    );
    for (let d = 1; d <= 10; d++) await log.append(d, Buffer.alloc(10, d));
    const tail = await log.read(7, { bytesMax: 1000 });
    assert.deepEqual(decrees(tail), [7, 8, 9, 10]);
    assert.deepEqual(log.stats.reads, 1);
    assert.deepEqual(log.stats.tailCacheReads, 1);
    const old = await log.read(2, { bytesMax: 1000 });
    assert.deepEqual(decrees(old), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(old[0]?.payload, Buffer.alloc(10, 2));
    assert.deepEqual([log.stats.reads, log.stats.tailCacheReads], [2, 1], "from the files");
    await log.close();
  });
});

it("a replica's plog takes the tail cache size it is given (config: log_private_tail_cache_kb)", async () => {
  const { plogOptions } = await import("../../src/replica/replica-files.ts");
  const { silentLogger } = await import("../../src/common/logger.ts");
  const { systemClock } = await import("../../src/common/clock.ts");
  const { defaultReadLimits } = await import("../../src/common/limits.ts");
  const base = {
    dir: "/r",
    clock: systemClock,
    logger: silentLogger,
    readLimits: defaultReadLimits,
    replayBatchBytes: 1024,
  };
  assert.equal(plogOptions({ ...base, plogTailCacheBytes: 0 }).tailCacheBytes, 0);
  assert.equal(plogOptions(base).tailCacheBytes, undefined, "the plog's default");
});
