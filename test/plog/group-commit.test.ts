import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isTalariaError, TalariaError } from "../../src/common/errors.ts";
import type { LogRecord } from "../../src/plog/format.ts";
import { GroupCommit } from "../../src/plog/group-commit.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import { FaultyFs, payloadFor, seededRandomBytes, withTempDir } from "./plog-helpers.ts";

/** A flush whose completion the test controls: each call waits until released. */
class ControlledFlush {
  groups: number[][] = [];
  private releases: ((error?: unknown) => void)[] = [];

  readonly flush = (records: readonly LogRecord[]): Promise<void> => {
    this.groups.push(records.map((r) => r.decree));
    return new Promise((resolve, reject) => {
      this.releases.push((error) => (error === undefined ? resolve() : reject(error)));
    });
  };

  /** Lets the oldest flush finish, then yields until the committer has reacted. */
  async release(error?: unknown): Promise<void> {
    const release = this.releases.shift();
    assert.ok(release !== undefined, "a flush is in progress");
    release(error);
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}

function record(decree: number): LogRecord {
  return { decree, payload: Buffer.alloc(0) };
}

describe("plog group commit", () => {
  test("appends arriving during a flush share the next write", async () => {
    const control = new ControlledFlush();
    const committer = new GroupCommit(
      { groupCommitBytesMax: 1000, pendingBytesMax: 10_000, blockedAppendsMax: 100 },
      control.flush,
    );
    const first = committer.submit(record(1), 10);
    await control.settle();
    const later = [2, 3, 4, 5, 6].map((d) => committer.submit(record(d), 10));
    await control.settle();
    assert.deepEqual(control.groups, [[1]]);
    await control.release();
    await first;
    assert.deepEqual(control.groups, [[1], [2, 3, 4, 5, 6]]);
    await control.release();
    await Promise.all(later);
    await committer.drain();
  });

  test("a group takes at most groupCommitBytesMax, but always one record", async () => {
    const control = new ControlledFlush();
    const committer = new GroupCommit(
      { groupCommitBytesMax: 25, pendingBytesMax: 1000, blockedAppendsMax: 100 },
      control.flush,
    );
    const all = [
      committer.submit(record(1), 100),
      committer.submit(record(2), 10),
      committer.submit(record(3), 10),
      committer.submit(record(4), 10),
    ];
    await control.settle();
    await control.release();
    await control.release();
    await control.release();
    await Promise.all(all);
    assert.deepEqual(control.groups, [[1], [2, 3], [4]]);
  });

  test("pendingBytesMax applies backpressure: appends past it wait, in order", async () => {
    const control = new ControlledFlush();
    const committer = new GroupCommit(
      { groupCommitBytesMax: 1000, pendingBytesMax: 30, blockedAppendsMax: 100 },
      control.flush,
    );
    const resolved: number[] = [];
    const appends = [1, 2, 3, 4, 5, 6].map((d) =>
      committer.submit(record(d), 10).then(() => resolved.push(d)),
    );
    await control.settle();
    // Only 3 x 10 bytes fit: the first flush took them; 4..6 wait outside the queue.
    assert.deepEqual(control.groups, [[1, 2, 3]]);
    await control.release();
    assert.deepEqual(resolved, [1, 2, 3]);
    assert.deepEqual(control.groups, [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    await control.release();
    await Promise.all(appends);
    assert.deepEqual(resolved, [1, 2, 3, 4, 5, 6]);
  });

  test("past blockedAppendsMax waiting appends, one more is refused ERR_BUSY and changes nothing", async () => {
    const control = new ControlledFlush();
    const committer = new GroupCommit(
      { groupCommitBytesMax: 1000, pendingBytesMax: 20, blockedAppendsMax: 2 },
      control.flush,
    );
    const resolved: number[] = [];
    const appends = [1, 2, 3, 4].map((d) =>
      committer.submit(record(d), 10).then(() => resolved.push(d)),
    );
    await control.settle();
    // 1 and 2 fill pendingBytesMax, 3 and 4 fill the blocked list.
    assert.deepEqual(control.groups, [[1, 2]]);
    assert.throws(
      () => committer.checkAdmission(10),
      (error) => isTalariaError(error, "ERR_BUSY") && error.retriable,
    );
    await assert.rejects(committer.submit(record(5), 10), (error) =>
      isTalariaError(error, "ERR_BUSY"),
    );
    await control.release();
    assert.deepEqual(resolved, [1, 2]);
    assert.deepEqual(control.groups, [
      [1, 2],
      [3, 4],
    ]);
    // Room again: the refused record goes through on retry, after the ones that waited.
    const retried = committer.submit(record(5), 10).then(() => resolved.push(5));
    await control.release();
    await control.release();
    await Promise.all([...appends, retried]);
    assert.deepEqual(resolved, [1, 2, 3, 4, 5]);
    assert.deepEqual(control.groups, [[1, 2], [3, 4], [5]]);
    assert.equal(committer.failedWith, null);
  });

  test("an oversized record is admitted into an empty pipeline rather than deadlock", async () => {
    const control = new ControlledFlush();
    const committer = new GroupCommit(
      { groupCommitBytesMax: 10, pendingBytesMax: 10, blockedAppendsMax: 100 },
      control.flush,
    );
    const big = committer.submit(record(1), 500);
    await control.settle();
    await control.release();
    await big;
    assert.deepEqual(control.groups, [[1]]);
  });

  test("a failed flush rejects every waiting append and every later one", async () => {
    const control = new ControlledFlush();
    const committer = new GroupCommit(
      { groupCommitBytesMax: 15, pendingBytesMax: 30, blockedAppendsMax: 100 },
      control.flush,
    );
    const outcomes = [1, 2, 3, 4, 5].map((d) =>
      committer.submit(record(d), 10).then(
        () => "ok",
        (error: unknown) => (error instanceof TalariaError ? error.code : "other"),
      ),
    );
    await control.settle();
    const failure = new TalariaError("ERR_FILE_OPERATION_FAILED", "disk on fire");
    await control.release(failure);
    assert.deepEqual(await Promise.all(outcomes), Array(5).fill("ERR_FILE_OPERATION_FAILED"));
    await assert.rejects(committer.submit(record(6), 10), (error) =>
      isTalariaError(error, "ERR_FILE_OPERATION_FAILED"),
    );
    assert.equal(committer.failedWith, failure);
    await committer.drain();
  });

  test("100 concurrent appends to a real log need far fewer fdatasyncs than 100", async () => {
    await withTempDir(async (dir) => {
      const log = await PrivateLog.open({ dir });
      const first = log.append(1, payloadFor(1, 100));
      const rest = Array.from({ length: 99 }, (_, i) => log.append(i + 2, payloadFor(i + 2, 100)));
      await Promise.all([first, ...rest]);
      const { appends, flushes, bytesWritten } = log.stats;
      assert.equal(appends, 100);
      assert.ok(flushes < appends / 10, `${flushes} fdatasyncs for ${appends} appends`);
      assert.ok(bytesWritten >= 100 * 112);
      assert.equal(log.durableDecree, 100);
      await log.close();
    });
  });

  test("an append refused ERR_BUSY leaves the log unchanged and can be retried", async () => {
    await withTempDir(async (dir) => {
      const fs = new FaultyFs();
      let openGate = (): void => {};
      fs.datasyncGate = new Promise((resolve) => {
        openGate = resolve;
      });
      // Each record is 12 + 88 = 100 bytes: one in flight, two waiting, the fourth refused.
      const log = await PrivateLog.open(
        { dir, pendingBytesMax: 100, blockedAppendsMax: 2 },
        { fs, randomBytes: seededRandomBytes(1) },
      );
      const accepted = [1, 2, 3].map((d) => log.append(d, payloadFor(d, 88)));
      const refused = log.append(4, payloadFor(4, 88));
      assert.equal(log.lastDecree, 3);
      assert.equal(log.stats.appends, 3);
      await assert.rejects(refused, (error) => {
        assert.ok(isTalariaError(error, "ERR_BUSY"), String(error));
        assert.equal(error.details.limit, "blockedAppendsMax");
        return error.retriable;
      });
      assert.equal(log.durableDecree, 0, "the refusal did not wait for a flush");
      fs.datasyncGate = null;
      openGate();
      await Promise.all(accepted);
      await log.append(4, payloadFor(4, 88));
      assert.deepEqual(
        (await log.read(1, { bytesMax: 1e6 })).map((r) => r.decree),
        [1, 2, 3, 4],
      );
      await log.close();
    });
  });

  test("an fs failure fails the log: waiting and later appends reject, reopen recovers", async () => {
    await withTempDir(async (dir) => {
      const fs = new FaultyFs();
      const log = await PrivateLog.open({ dir, segmentBytesMax: 4096 }, { fs });
      for (let d = 1; d <= 5; d++) await log.append(d, payloadFor(d, 50));
      fs.datasyncsBeforeFailure = fs.datasyncs;
      const failing = [6, 7, 8].map((d) => log.append(d, payloadFor(d, 50)));
      for (const append of failing) {
        await assert.rejects(append, (error) => isTalariaError(error, "ERR_FILE_OPERATION_FAILED"));
      }
      await assert.rejects(log.append(9, Buffer.alloc(1)), (error) =>
        isTalariaError(error, "ERR_FILE_OPERATION_FAILED"),
      );
      assert.equal(log.durableDecree, 5);
      assert.deepEqual(
        (await log.read(1, { bytesMax: 1e6 })).map((r) => r.decree),
        [1, 2, 3, 4, 5],
      );
      await log.close();

      // The failed write reached the page cache, so it may be back; nothing after it is.
      const reopened = await PrivateLog.open({ dir });
      const decrees = (await reopened.read(1, { bytesMax: 1e6 })).map((r) => r.decree);
      assert.deepEqual(decrees.slice(0, 5), [1, 2, 3, 4, 5]);
      assert.ok(decrees.length === 5 || decrees.length === 8);
      await reopened.close();
    });
  });
});
