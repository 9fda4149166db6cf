import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pino from "pino";
import { Registry } from "prom-client";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError, TalariaError } from "../../src/common/errors.ts";
import { type Logger, silentLogger } from "../../src/common/logger.ts";
import { DUP_CHECKPOINT_NO_FULL_DUPLICATION } from "../../src/protocol/dup-checkpoint-messages.ts";
import type { Gpid } from "../../src/protocol/index.ts";
import {
  CheckpointHttpClient,
  copyDirOf,
  FollowerCopy,
  type FollowerCopyLimits,
  FollowerCopyMetrics,
  MasterClient,
  readCopyState,
  resolveFollowerCopyLimits,
  TokenBucket,
  type TokenBucketDeps,
} from "../../src/replica-server/follower/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import { StorageEngine } from "../../src/storage/index.ts";
import { FaultProxy } from "../../src/testing/index.ts";
import {
  FakeMaster,
  MASTER_BALLOT,
  type MasterCheckpoint,
  makeMasterCheckpoint,
  recordKey,
  recordValue,
  tempRoot,
} from "./fake-master.ts";

const KiB = 1024;
const GPID: Gpid = { appId: 9, partitionIndex: 2 };
const RECORDS = 300;
const VALUE_BYTES = 4 * KiB;
const TEST_LIMITS: Partial<FollowerCopyLimits> = {
  followerCopyChunkBytes: 64 * KiB,
  followerCopyChunksInFlight: 3,
  followerCopyStateSyncBytes: 128 * KiB,
  followerCopyHttpWriteBytes: 48 * KiB,
  followerCopyHttpStallMs: 5_000,
  followerCopyRetryDelayMsMin: 0,
  followerCopyRetryDelayMsMax: 0,
};

/** A manual clock whose sleeps advance it: time passes only through waits. */
class ManualTime implements TokenBucketDeps {
  now = 0;
  readonly sleeps: number[] = [];
  nowMs(): number {
    return this.now;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.now += ms;
  }
}

interface Fixture {
  readonly master: FakeMaster;
  readonly checkpoint: MasterCheckpoint;
  readonly dir: string;
  readonly metrics: FollowerCopyMetrics;
  readonly registry: Registry;
  copy(
    limits?: Partial<FollowerCopyLimits>,
    over?: { http?: CheckpointHttpClient; bucket?: TokenBucket; logger?: Logger },
  ): FollowerCopy;
}

async function fixture(): Promise<Fixture> {
  const { root, remove } = await tempRoot("talaria-follower-");
  const checkpoint = await makeMasterCheckpoint(root, RECORDS, VALUE_BYTES);
  const master = await FakeMaster.start("orders", 4, checkpoint);
  const transport = new RpcClient({ name: "follower test" });
  const http = new CheckpointHttpClient();
  after(async () => {
    http.close();
    await transport.close();
    await master.close();
    await remove();
  });
  const registry = new Registry();
  const metrics = new FollowerCopyMetrics(registry);
  const dir = join(root, "follower", "9.2");
  const ref = { cluster: "alpha", metas: [master.address], appName: "orders" };
  return {
    master,
    checkpoint,
    dir,
    metrics,
    registry,
    copy: (limits = {}, over = {}) =>
      new FollowerCopy(
        { gpid: GPID, dir, master: ref, partitionCount: 4 },
        {
          client: new MasterClient(ref, () => transport, 10_000),
          http: over.http ?? http,
          bucket: over.bucket ?? new TokenBucket(0, 1, new ManualTime()),
          limits: resolveFollowerCopyLimits({ ...TEST_LIMITS, ...limits }),
          logger: over.logger ?? silentLogger,
          metrics,
          nowMs: () => performance.now(),
          sleep: async () => {},
        },
      ),
  };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (found?.values ?? []) as { value: number; labels: Record<string, unknown> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** The installed storage holds every master record, the master's decree, and ballot 0. */
async function assertInstalled(f: Fixture): Promise<void> {
  const current = JSON.parse(await readFile(join(f.dir, "CURRENT"), "utf8"));
  assert.deepEqual(current, { version: 1, dataDir: "data", logResetDecree: f.checkpoint.decree });
  await assert.rejects(stat(copyDirOf(f.dir)), { code: "ENOENT" });
  const engine = await StorageEngine.open({
    path: join(f.dir, "data"),
    clock: new ManualClock(0),
  });
  try {
    assert.equal(engine.lastAppliedDecree, f.checkpoint.decree);
    assert.equal(engine.lastAppliedBallot, 0);
    let count = 0;
    for (const { key } of engine.data.getRange({})) {
      assert.ok(key.length > 0);
      count++;
    }
    assert.equal(count, RECORDS);
  } finally {
    await engine.close();
  }
}

const code = (expected: string) => (error: unknown) =>
  isTalariaError(error) && error.code === expected;

describe("TokenBucket", () => {
  it("admits the burst at once, then bytes at the rate, callers in call order", async () => {
    const time = new ManualTime();
    const bucket = new TokenBucket(1000, 100, time);
    await bucket.take(100);
    assert.deepEqual(time.sleeps, []);
    await bucket.take(500); // 500 bytes of debt at 1000 B/s
    assert.deepEqual(time.sleeps, [500]);
    // Two callers at the same instant: the second waits for both debts.
    const now = time.now;
    time.sleep = async (ms: number) => {
      time.sleeps.push(ms);
    };
    await Promise.all([bucket.take(200), bucket.take(200)]);
    assert.equal(time.now, now);
    assert.deepEqual(time.sleeps.slice(1), [200, 400]);
  });

  it("never admits more than burst + rate × elapsed", async () => {
    const time = new ManualTime();
    const bucket = new TokenBucket(10_000, 4096, time);
    let admitted = 0;
    for (let i = 0; i < 200; i++) {
      await bucket.take(1000 + (i % 7) * 300);
      admitted += 1000 + (i % 7) * 300;
      assert.ok(admitted <= 4096 + (time.now * 10_000) / 1000 + 1e-6, `at ${time.now} ms`);
    }
    // And the rate is reached: the last wait ends at most one request late.
    assert.ok(admitted >= (time.now * 10_000) / 1000);
  });

  it("a refill after idling is capped at the burst", async () => {
    const time = new ManualTime();
    const bucket = new TokenBucket(1000, 100, time);
    time.now += 60_000;
    await bucket.take(100);
    await bucket.take(100);
    assert.deepEqual(time.sleeps, [100]);
  });

  it("rate 0 is unlimited", async () => {
    const time = new ManualTime();
    const bucket = new TokenBucket(0, 1, time);
    await bucket.take(1 << 30);
    assert.deepEqual(time.sleeps, []);
  });
});

describe("FollowerCopy", () => {
  it("copies every file in chunks, checks CRC32C and installs it with the master's decree", async () => {
    const f = await fixture();
    const installed = await f.copy().run(new AbortController().signal);
    assert.equal(installed.decree, f.checkpoint.decree);
    assert.equal(installed.masterBallot, MASTER_BALLOT);
    const total = f.checkpoint.files.reduce((sum, file) => sum + file.bytes, 0);
    assert.equal(installed.bytes, total);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_bytes_total"), total);
    assert.equal(
      await metric(f.registry, "talaria_dup_follower_copy_files_total"),
      f.checkpoint.files.length,
    );
    // Every byte was asked for exactly once, in chunks of at most followerCopyChunkBytes.
    const asked = f.master.chunkCalls.reduce((sum, c) => sum + c.length, 0);
    assert.equal(asked, total);
    assert.ok(f.master.chunkCalls.every((c) => c.length <= 64 * KiB));
    await assertInstalled(f);
  });

  it("resumes after a crash mid-file from the last synced prefix", async () => {
    const f = await fixture();
    const crash = new AbortController();
    f.master.onChunk = (_call, count) => {
      if (count === 8) crash.abort(new Error("crash"));
    };
    await assert.rejects(f.copy().run(crash.signal), /crash/);
    const saved = await readCopyState(f.dir);
    const data = saved?.files.find((file) => file.name === "data.mdb");
    assert.ok(data !== undefined && data.doneBytes > 0 && data.doneBytes < data.bytes);
    // What the crash left past the synced prefix is on disk but not trusted.
    const onDisk = (await stat(join(copyDirOf(f.dir), "files", "data.mdb"))).size;
    assert.ok(onDisk >= data.doneBytes);
    // Garbage past the prefix (a torn write) must not survive either.
    const handle = await readFile(join(copyDirOf(f.dir), "files", "data.mdb"));
    await writeFile(
      join(copyDirOf(f.dir), "files", "data.mdb"),
      Buffer.concat([handle.subarray(0, data.doneBytes), Buffer.alloc(100_000, 0xee)]),
    );

    f.master.onChunk = undefined;
    const before = f.master.chunkCalls.length;
    await f.copy().run(new AbortController().signal);
    const resumed = f.master.chunkCalls.slice(before).filter((c) => c.file === "data.mdb");
    assert.equal(resumed[0]?.offset, data.doneBytes, "the copy continues at the synced prefix");
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_resumes_total"), 1);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_restarts_total"), 0);
    await assertInstalled(f);
  });

  it("resumes after a master restart that still serves the same checkpoint", async () => {
    const f = await fixture();
    const port = f.master.server.port;
    let restarted: Promise<FakeMaster> | undefined;
    f.master.onChunk = (_call, count) => {
      // The master replica server crashes mid-copy and comes back on its address, keeping the
      // checkpoint (its id is stable across restarts).
      if (count === 6) {
        restarted = f.master.close().then(() => FakeMaster.start("orders", 4, f.checkpoint, port));
      }
    };
    const copy = f.copy();
    const done = copy.run(new AbortController().signal);
    await done;
    const again = await restarted;
    assert.ok(again !== undefined);
    after(() => again.close());
    assert.equal(again.openCalls, 1, "it asked OPEN again and got the same id");
    assert.ok(again.chunkCalls.length > 0);
    assert.ok(
      again.chunkCalls.every((c) => c.offset > 0 || c.file !== "data.mdb"),
      "data.mdb continued where it was, not from its start",
    );
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_resumes_total"), 1);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_restarts_total"), 0);
    assert.ok(
      (await metric(f.registry, "talaria_dup_follower_copy_failures_total")) >= 1,
      "the crash failed an attempt",
    );
    await assertInstalled(f);
  });

  it("refetches a file whose CRC32C does not match", async () => {
    const f = await fixture();
    f.master.corruptChunks = 1;
    await f.copy().run(new AbortController().signal);
    assert.equal(
      await metric(f.registry, "talaria_dup_follower_copy_failures_total", {
        code: "ERR_INVALID_DATA",
      }),
      1,
    );
    // The corrupt file (the first one served) was asked for from offset 0 twice.
    const first = f.master.chunkCalls[0];
    assert.ok(first !== undefined);
    assert.equal(
      f.master.chunkCalls.filter((c) => c.file === first.file && c.offset === 0).length,
      2,
    );
    await assertInstalled(f);
  });

  it("starts over when the master no longer has the checkpoint id", async () => {
    const f = await fixture();
    f.master.onChunk = (_call, count) => {
      // The master drops the checkpoint mid-copy and serves a new one under another id.
      if (count === 5) f.master.id = "dup-2";
    };
    await f.copy().run(new AbortController().signal);
    assert.equal(
      await metric(f.registry, "talaria_dup_follower_copy_failures_total", {
        code: "ERR_OBJECT_NOT_FOUND",
      }),
      1,
    );
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_restarts_total"), 1);
    const afterSwitch = f.master.chunkCalls.filter((c) => c.id === "dup-2");
    assert.equal(afterSwitch[0]?.offset, 0, "the new checkpoint is copied from the start");
    assert.equal(
      afterSwitch.reduce((sum, c) => sum + c.length, 0),
      f.checkpoint.files.reduce((sum, file) => sum + file.bytes, 0),
    );
    await assertInstalled(f);
  });

  it("starts over when the master partition's primary moved", async () => {
    const f = await fixture();
    const crash = new AbortController();
    f.master.onChunk = (_call, count) => {
      if (count === 6) crash.abort(new Error("crash"));
    };
    await assert.rejects(f.copy().run(crash.signal), /crash/);
    f.master.onChunk = undefined;
    // Another master replica server is primary now; it serves the same checkpoint id.
    const moved = await FakeMaster.start("orders", 4, f.checkpoint);
    after(() => moved.close());
    f.master.primary = moved.address;
    await f.copy().run(new AbortController().signal);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_restarts_total"), 1);
    assert.equal(moved.chunkCalls[0]?.offset, 0, "copied again from the start");
    assert.equal(
      moved.chunkCalls.reduce((sum, c) => sum + c.length, 0),
      f.checkpoint.files.reduce((sum, file) => sum + file.bytes, 0),
    );
    await assertInstalled(f);
  });

  it("treats malformed master replies as failed attempts, never as data", async () => {
    const f = await fixture();
    const copy = f.copy();
    const signal = new AbortController().signal;
    const good = { id: "dup-1", decree: f.checkpoint.decree, files: f.checkpoint.files };
    const badOpens: unknown[] = [
      "not an object",
      null,
      { ...good, id: "" },
      { ...good, id: 42 },
      { ...good, decree: -1 },
      { ...good, files: "data.mdb" },
      { ...good, files: [{ name: "../CURRENT", bytes: 1, crc32c: 0 }] },
      { ...good, files: [{ name: "a/b", bytes: 1, crc32c: 0 }] },
      { ...good, files: [{ name: "x", bytes: -5, crc32c: 0 }] },
      { ...good, files: [{ name: "x", bytes: 1, crc32c: 2 ** 32 }] },
      { ...good, files: [{ name: "x", bytes: 1.5, crc32c: 0 }] },
      { ...good, files: [...good.files, ...good.files] },
      { ...good, httpAddress: "not an address" },
      { ...good, httpAddress: 8080 },
      { ...good, httpAddress: "" },
      {
        ...good,
        files: Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}`, bytes: 0, crc32c: 0 })),
      },
    ];
    for (const reply of badOpens) {
      f.master.openReply = () => reply;
      await assert.rejects(copy.attempt(signal), code("ERR_INVALID_DATA"), JSON.stringify(reply));
    }
    f.master.openReply = undefined;

    const badChunks: unknown[] = [
      { data: "text" },
      { data: Buffer.alloc(3) },
      {},
      [1, 2],
      { data: Buffer.alloc(70 * KiB) },
    ];
    for (const reply of badChunks) {
      f.master.chunkReply = () => reply;
      await assert.rejects(copy.attempt(signal), code("ERR_INVALID_DATA"));
    }
    f.master.chunkReply = undefined;

    const badQueries: unknown[] = [
      "x",
      { app: {}, partitions: [] },
      { app: { appId: 5, partitionCount: 4 }, partitions: [] },
      {
        app: { appId: 5, partitionCount: 4 },
        partitions: Array.from({ length: 4 }, () => ({ gpid: { appId: 6, partitionIndex: 0 } })),
      },
    ];
    for (const reply of badQueries) {
      f.master.queryReply = () => reply;
      await assert.rejects(copy.attempt(signal), code("ERR_INVALID_DATA"));
    }
    f.master.queryReply = undefined;

    // A master table with another partition count is an inconsistency, not garbage.
    f.master.partitionCount = 8;
    await assert.rejects(copy.attempt(signal), code("ERR_INCONSISTENT_STATE"));
    f.master.partitionCount = 4;
    // A partition without a primary: wait and ask again.
    f.master.primary = undefined;
    const query = f.master.queryReply;
    f.master.queryReply = () => {
      f.master.queryReply = undefined;
      return {
        app: { appId: 5, partitionCount: 4 },
        partitions: Array.from({ length: 4 }, (_, partitionIndex) => ({
          gpid: { appId: 5, partitionIndex },
          ballot: 3,
          secondaries: [],
          maxReplicaCount: 3,
          lastCommittedDecree: 0,
        })),
      };
    };
    await assert.rejects(copy.attempt(signal), code("ERR_INVALID_STATE"));
    f.master.queryReply = query;

    // Nothing bad was installed, and a good master afterwards completes the copy.
    await assert.rejects(stat(join(f.dir, "CURRENT")), { code: "ENOENT" });
    await copy.run(signal);
    await assertInstalled(f);
  });

  it("says plainly when the master has no full duplication any more, and keeps asking", async () => {
    const f = await fixture();
    const lines: { level: number; msg: string; code?: string }[] = [];
    const logger = pino(
      { level: "info" },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const controller = new AbortController();
    f.master.openReply = () => {
      // The second OPEN shows the copy asks again; then stop it.
      if (f.master.openCalls >= 2) controller.abort(new Error("test over"));
      throw new TalariaError("ERR_OBJECT_NOT_FOUND", "no full duplication of table 9", {
        details: { reason: DUP_CHECKPOINT_NO_FULL_DUPLICATION },
      });
    };
    await assert.rejects(f.copy({}, { logger }).run(controller.signal), /test over/);
    assert.equal(f.master.openCalls, 2);
    const errors = lines.filter((l) => l.level === 50);
    assert.equal(errors.length, 1, JSON.stringify(lines));
    assert.equal(errors[0]?.code, "ERR_OBJECT_NOT_FOUND");
    assert.match(
      errors[0]?.msg ?? "",
      /no full duplication in progress.*add the duplication again, or drop the follower table/,
    );
    assert.equal(
      await metric(f.registry, "talaria_dup_follower_copy_failures_total", {
        code: "ERR_OBJECT_NOT_FOUND",
      }),
      1,
    );
  });

  it("refuses a copy whose environment does not hold the decree the master named", async () => {
    const f = await fixture();
    f.master.openReply = () => ({
      id: "dup-1",
      decree: f.checkpoint.decree + 1,
      files: f.checkpoint.files,
    });
    await assert.rejects(f.copy().attempt(new AbortController().signal), code("ERR_INVALID_DATA"));
    await assert.rejects(stat(join(f.dir, "CURRENT")), { code: "ENOENT" });
    await assert.rejects(stat(join(f.dir, "data")), { code: "ENOENT" });
    await assert.rejects(stat(copyDirOf(f.dir)), { code: "ENOENT" });
  });

  it("keeps the records the master holds", async () => {
    const f = await fixture();
    await f.copy().run(new AbortController().signal);
    const engine = await StorageEngine.open({
      path: join(f.dir, "data"),
      clock: new ManualClock(0),
    });
    try {
      const { read } = await import("../../src/storage/index.ts");
      for (const i of [0, 1, 150, RECORDS - 1]) {
        const { hashKey, sortKey } = recordKey(i);
        const got = read.get(
          engine.data,
          Buffer.from(hashKey),
          Buffer.from(sortKey),
          engine.epochNow(),
        );
        assert.deepEqual(got?.value, recordValue(i, VALUE_BYTES));
      }
    } finally {
      await engine.close();
    }
  });
});

describe("FollowerCopy over the HTTP bulk path", () => {
  const totalOf = (f: Fixture) => f.checkpoint.files.reduce((sum, file) => sum + file.bytes, 0);

  it("streams every file over HTTP, no CHUNK, and installs it", async () => {
    const f = await fixture();
    await f.master.startHttp();
    await f.copy().run(new AbortController().signal);
    assert.equal(f.master.chunkCalls.length, 0, "nothing went through CHUNK");
    assert.deepEqual(
      f.master.httpCalls.map((c) => [c.file, c.start]),
      f.checkpoint.files.filter((file) => file.bytes > 0).map((file) => [file.name, 0]),
    );
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_bytes_total"), totalOf(f));
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_http_fallbacks_total"), 0);
    await assertInstalled(f);
  });

  it("resumes a partly streamed file from the last synced prefix", async () => {
    const f = await fixture();
    await f.master.startHttp();
    const crash = new AbortController();
    f.master.onHttpBytes = (call, sent) => {
      if (call.file === "data.mdb" && sent >= 600 * KiB) crash.abort(new Error("crash"));
    };
    await assert.rejects(f.copy().run(crash.signal), /crash/);
    const saved = await readCopyState(f.dir);
    const data = saved?.files.find((file) => file.name === "data.mdb");
    assert.ok(data !== undefined && data.doneBytes > 0 && data.doneBytes < data.bytes);
    // A torn tail past the synced prefix must not survive.
    const path = join(copyDirOf(f.dir), "files", "data.mdb");
    const onDisk = await readFile(path);
    await writeFile(
      path,
      Buffer.concat([onDisk.subarray(0, data.doneBytes), Buffer.alloc(100_000, 0xee)]),
    );

    f.master.onHttpBytes = undefined;
    const before = f.master.httpCalls.length;
    await f.copy().run(new AbortController().signal);
    const resumed = f.master.httpCalls.slice(before).filter((c) => c.file === "data.mdb");
    assert.deepEqual(
      resumed.map((c) => c.start),
      [data.doneBytes],
      "one GET from the synced prefix",
    );
    assert.equal(f.master.chunkCalls.length, 0);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_resumes_total"), 1);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_restarts_total"), 0);
    await assertInstalled(f);
  });

  it("a 404 from a master without the route falls back to CHUNK in the same attempt", async () => {
    const f = await fixture();
    await f.master.startHttp();
    f.master.httpStatus = 404;
    await f.copy().run(new AbortController().signal);
    assert.equal(f.master.httpCalls.length, 1, "HTTP is tried once per attempt");
    assert.equal(
      f.master.chunkCalls.reduce((sum, c) => sum + c.length, 0),
      totalOf(f),
      "every byte came through CHUNK",
    );
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_http_fallbacks_total"), 1);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_failures_total"), 0);
    await assertInstalled(f);
  });

  it("a 404 because the checkpoint id is gone starts over, as with CHUNK", async () => {
    const f = await fixture();
    await f.master.startHttp();
    f.master.onHttp = (_call, count) => {
      // After the first file, the master drops the checkpoint and serves a new one.
      if (count === 2) f.master.id = "dup-2";
    };
    await f.copy().run(new AbortController().signal);
    assert.equal(
      await metric(f.registry, "talaria_dup_follower_copy_failures_total", {
        code: "ERR_OBJECT_NOT_FOUND",
      }),
      1,
      "CHUNK confirmed the id is gone",
    );
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_restarts_total"), 1);
    const afterSwitch = f.master.httpCalls.filter((c) => c.id === "dup-2");
    assert.deepEqual(
      afterSwitch.map((c) => [c.file, c.start]),
      f.checkpoint.files.filter((file) => file.bytes > 0).map((file) => [file.name, 0]),
      "the new checkpoint is streamed from the start",
    );
    await assertInstalled(f);
  });

  it("refetches a streamed file whose CRC32C does not match", async () => {
    const f = await fixture();
    await f.master.startHttp();
    f.master.corruptHttp = 1;
    await f.copy().run(new AbortController().signal);
    assert.equal(
      await metric(f.registry, "talaria_dup_follower_copy_failures_total", {
        code: "ERR_INVALID_DATA",
      }),
      1,
    );
    const first = f.master.httpCalls[0];
    assert.ok(first !== undefined);
    assert.equal(
      f.master.httpCalls.filter((c) => c.file === first.file && c.start === 0).length,
      2,
      "the corrupt file was streamed again from its start",
    );
    assert.equal(f.master.chunkCalls.length, 0);
    await assertInstalled(f);
  });

  it("goes through the master cluster's [duplication-proxy] (HTTP CONNECT)", async () => {
    const f = await fixture();
    await f.master.startHttp();
    const proxy = await FaultProxy.start();
    after(() => proxy.close());
    await f
      .copy({}, { http: new CheckpointHttpClient({ connectProxy: proxy.address }) })
      .run(new AbortController().signal);
    assert.equal(f.master.chunkCalls.length, 0);
    assert.equal(proxy.counters().tunnels, f.master.httpCalls.length);
    assert.ok(proxy.counters().forwardedBytes.downstream >= totalOf(f));
    await assertInstalled(f);
  });

  it("takes every received byte from the token bucket", async () => {
    const f = await fixture();
    await f.master.startHttp();
    const time = new ManualTime();
    const rate = 1024 * KiB;
    await f
      .copy({}, { bucket: new TokenBucket(rate, 16 * KiB, time) })
      .run(new AbortController().signal);
    assert.equal(f.master.chunkCalls.length, 0);
    // Waited for everything past the burst, at the rate (each wait rounds up to a ms).
    const waitedMs = time.sleeps.reduce((sum, ms) => sum + ms, 0);
    const expectedMs = ((totalOf(f) - 16 * KiB) / rate) * 1000;
    assert.ok(
      waitedMs >= expectedMs && waitedMs <= expectedMs + time.sleeps.length,
      `${waitedMs} ms`,
    );
    await assertInstalled(f);
  });

  it("falls back to CHUNK when the master's HTTP server is down", async () => {
    const f = await fixture();
    await f.master.startHttp();
    await f.master.stopHttp(); // OPEN still names the address; nothing listens there
    await f.copy().run(new AbortController().signal);
    assert.equal(
      f.master.chunkCalls.reduce((sum, c) => sum + c.length, 0),
      totalOf(f),
    );
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_http_fallbacks_total"), 1);
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_failures_total"), 0);
    await assertInstalled(f);
  });

  it("falls back to CHUNK from the synced prefix when a stream breaks midway", async () => {
    const f = await fixture();
    await f.master.startHttp();
    f.master.onHttpBytes = (call, sent) => {
      if (call.file === "data.mdb" && sent >= 600 * KiB) void f.master.stopHttp();
    };
    await f.copy().run(new AbortController().signal);
    const chunks = f.master.chunkCalls.filter((c) => c.file === "data.mdb");
    assert.ok(chunks.length > 0 && (chunks[0]?.offset ?? 0) > 0, "CHUNK continued the file");
    assert.ok((chunks[0]?.offset ?? 0) <= 600 * KiB, "from a synced prefix, not past it");
    assert.equal(await metric(f.registry, "talaria_dup_follower_copy_http_fallbacks_total"), 1);
    assert.equal(
      (await metric(f.registry, "talaria_dup_follower_copy_bytes_total")) >= totalOf(f),
      true,
    );
    await assertInstalled(f);
  });
});
