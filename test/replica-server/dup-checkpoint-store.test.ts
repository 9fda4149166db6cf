/**
 * Dup checkpoints of one replica (dup-checkpoint-store.ts) on real storage: made once per need,
 * durable under a stable id, found again after a restart, bounded, cleared, and served
 * (OPEN / CHUNK, dup-checkpoint-server.ts) with strict validation of every request.
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { isTalariaError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/logger.ts";
import type { OpenFloor } from "../../src/duplication/index.ts";
import { HttpServer, Router } from "../../src/http/index.ts";
import {
  DUP_CHECKPOINT_CHUNK_BYTES_MAX,
  DUP_CHECKPOINT_NO_FULL_DUPLICATION,
} from "../../src/protocol/dup-checkpoint-messages.ts";
import type { Gpid } from "../../src/protocol/index.ts";
import { ReplicaStatus } from "../../src/protocol/partition-config.ts";
import { Replica } from "../../src/replica/index.ts";
import {
  DupCheckpointServer,
  decodeDupCheckpointChunk,
  decodeDupCheckpointHttpQuery,
  decodeDupCheckpointOpen,
  dupCheckpointRoute,
} from "../../src/replica-server/dup-checkpoint-server.ts";
import {
  type CheckpointedReplica,
  DUP_CHECKPOINTS_DIR,
  DupCheckpointStore,
  decreeOfId,
  dupCheckpointLimits,
} from "../../src/replica-server/dup-checkpoint-store.ts";
import { resyncLimits } from "../../src/replica-server/resync-sender.ts";
import { CheckpointReader, LMDB_LOCK_FILE } from "../../src/storage/index.ts";
import { b, tempDir } from "../replica/replica-fixture.ts";

async function openReplica(dir: string): Promise<Replica & CheckpointedReplica> {
  const replica = await Replica.open({ dir, clusterId: 1, plogFsync: false, sweepIntervalMs: 0 });
  // A lone replica answers a write after its apply: everything written is applied.
  return Object.assign(replica, { whenApplied: async () => {} });
}

async function write(replica: Replica, count: number, prefix = "k"): Promise<void> {
  for (let i = 0; i < count; i++) {
    await replica.write({
      op: "set",
      hashKey: b(`${prefix}${i}`),
      sortKey: b("s"),
      value: b(`v${i}`),
      expireTs: 0,
    });
  }
}

function code(error: unknown): string | undefined {
  return isTalariaError(error) ? error.code : undefined;
}

describe("DupCheckpointStore", () => {
  it("makes one checkpoint per need, durable under dup-<decree>, and finds it after a restart", async () => {
    const dir = tempDir("talaria-dupckpt-");
    const replica = await openReplica(join(dir, "r"));
    await write(replica, 10);
    const made: string[] = [];
    const store = await DupCheckpointStore.open(join(dir, "r"), silentLogger, {
      onMade: (c) => made.push(c.id),
    });
    assert.equal(store.list().length, 0);
    const floor = replica.lastAppliedDecree;
    // Concurrent asks share one checkpoint.
    const [first, second] = await Promise.all([
      store.ensure(replica, floor),
      store.ensure(replica, floor - 3),
    ]);
    assert.equal(first, second);
    assert.equal(first.decree, floor);
    assert.equal(first.id, `dup-${floor}`);
    assert.equal(decreeOfId(first.id), floor);
    assert.deepEqual(made, [first.id]);
    assert.equal(await store.ensure(replica, 1), first, "a kept checkpoint that covers is reused");
    const files = await store.files(first);
    assert.deepEqual(files.map((f) => f.name).sort(), ["checkpoint.json", "data.mdb"]);

    // A reader leaves lmdb's lock file behind: it is never listed, and removed on open.
    const reader = await CheckpointReader.open(first.path);
    assert.equal(reader.decree, floor);
    assert.equal(
      reader.read(undefined, 100).filter((r) => r.hashKey.toString().startsWith("k")).length,
      10,
    );
    await reader.close();
    const again = await DupCheckpointStore.open(join(dir, "r"), silentLogger);
    assert.deepEqual(again.list(), [first], "found again after a restart");
    assert.ok(!existsSync(join(first.path, LMDB_LOCK_FILE)));
    assert.deepEqual((await again.files(first)).map((f) => f.name).sort(), [
      "checkpoint.json",
      "data.mdb",
    ]);
    await replica.close();
  });

  it("drops unfinished and unusable directories on open", async () => {
    const dir = tempDir("talaria-dupckpt-");
    const root = join(dir, DUP_CHECKPOINTS_DIR);
    mkdirSync(join(root, "tmp-3"), { recursive: true });
    mkdirSync(join(root, "17"), { recursive: true }); // no manifest: unfinished
    mkdirSync(join(root, "18"), { recursive: true });
    writeFileSync(join(root, "18", "checkpoint.json"), "not json");
    const store = await DupCheckpointStore.open(dir, silentLogger);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(readdirSync(root), []);
  });

  it("keeps at most dupCheckpointsKeptMax, never evicting a pinned one, and clears", async () => {
    const dir = tempDir("talaria-dupckpt-");
    const replica = await openReplica(join(dir, "r"));
    const store = await DupCheckpointStore.open(join(dir, "r"), silentLogger, { keptMax: 2 });
    await write(replica, 1, "a");
    const oldest = await store.ensure(replica, replica.lastAppliedDecree);
    const release = store.pin(oldest.id);
    for (const prefix of ["b", "c", "d"]) {
      await write(replica, 1, prefix);
      await store.ensure(replica, replica.lastAppliedDecree);
    }
    const ids = store.list().map((c) => c.id);
    assert.equal(ids[0], oldest.id, "the pinned one stays");
    assert.equal(ids.length, 2, "the bound counts the pinned one too");
    assert.equal(store.newest()?.decree, replica.lastAppliedDecree, "and the newest");
    assert.equal(await store.clear(), 1);
    assert.deepEqual(
      store.list().map((c) => c.id),
      [oldest.id],
    );
    release();
    assert.equal(await store.clear(), 1);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(readdirSync(join(dir, "r", DUP_CHECKPOINTS_DIR)), []);
    await replica.close();
  });

  it("a failed checkpoint leaves nothing behind", async () => {
    const dir = tempDir("talaria-dupckpt-");
    const replica = await openReplica(join(dir, "r"));
    await write(replica, 2);
    const store = await DupCheckpointStore.open(join(dir, "r"), silentLogger);
    // It cannot cover a decree storage has not reached.
    await assert.rejects(
      store.ensure(replica, replica.lastAppliedDecree + 5),
      (e) => code(e) === "ERR_INVALID_STATE",
    );
    assert.deepEqual(store.list(), []);
    assert.deepEqual(readdirSync(join(dir, "r", DUP_CHECKPOINTS_DIR)), []);
    await replica.close();
  });

  it("names its bounds in docs/limits.md", async () => {
    const { readFileSync } = await import("node:fs");
    const doc = readFileSync(new URL("../../docs/limits.md", import.meta.url), "utf8");
    for (const name of [
      ...Object.keys(dupCheckpointLimits),
      ...Object.keys(resyncLimits),
      "dupCheckpointChunkBytesMax",
      "httpFileReadBytes",
      "checkpointReadRecordsMax",
    ]) {
      assert.match(doc, new RegExp(`^\\| \`${name}\` \\|`, "m"), name);
    }
  });
});

describe("OPEN / CHUNK requests are validated before anything is read", () => {
  const gpid = { appId: 1, partitionIndex: 0 };
  const good = { gpid, id: "dup-12", file: "data.mdb", offset: 0, length: 10 };
  const bad: [string, unknown][] = [
    ["not an object", "hello"],
    ["an array", [1]],
    ["no gpid", { ...good, gpid: undefined }],
    ["a negative partition", { ...good, gpid: { appId: 1, partitionIndex: -1 } }],
    ["a fractional app id", { ...good, gpid: { appId: 1.5, partitionIndex: 0 } }],
    ["an id that is not dup-<decree>", { ...good, id: "12" }],
    ["an id with a path", { ...good, id: "dup-1/../x" }],
    ["a huge id", { ...good, id: `dup-${"9".repeat(100)}` }],
    ["a file with a directory", { ...good, file: "../data.mdb" }],
    ["an absolute file", { ...good, file: "/etc/passwd" }],
    ["a dot file name", { ...good, file: ".." }],
    ["an empty file name", { ...good, file: "" }],
    ["a negative offset", { ...good, offset: -1 }],
    ["a string offset", { ...good, offset: "0" }],
    ["a zero length", { ...good, length: 0 }],
    ["a length over the bound", { ...good, length: DUP_CHECKPOINT_CHUNK_BYTES_MAX + 1 }],
    ["an unsafe offset", { ...good, offset: 2 ** 60 }],
  ];
  for (const [what, payload] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => decodeDupCheckpointChunk(payload),
        (e) => code(e) === "ERR_INVALID_PARAMETERS",
      );
    });
  }
  it("accepts a good request", () => {
    assert.deepEqual(decodeDupCheckpointChunk(good), good);
    assert.deepEqual(decodeDupCheckpointOpen({ gpid }), { gpid });
    assert.throws(
      () => decodeDupCheckpointOpen(null),
      (e) => code(e) === "ERR_INVALID_PARAMETERS",
    );
    assert.throws(
      () => decodeDupCheckpointOpen({ gpid: "1.0" }),
      (e) => code(e) === "ERR_INVALID_PARAMETERS",
    );
  });
});

describe("DupCheckpointServer", () => {
  async function setup() {
    const dir = tempDir("talaria-dupckpt-");
    const replica = await openReplica(join(dir, "1.0"));
    await write(replica, 50);
    const store = await DupCheckpointStore.open(join(dir, "1.0"), silentLogger);
    const state = {
      status: ReplicaStatus.PRIMARY as ReplicaStatus | undefined,
      floor: undefined as OpenFloor | undefined,
      prepared: [] as number[],
    };
    const server = new DupCheckpointServer(
      {
        status: (g: Gpid) => (g.appId === 1 && g.partitionIndex === 0 ? state.status : undefined),
        openFloor: () => state.floor,
        store: async () => store,
        prepare: (_g, floor) => {
          state.prepared.push(floor);
          void store.ensure(replica, floor);
        },
      },
      silentLogger,
    );
    return { dir, replica, store, state, server };
  }
  const gpid = { appId: 1, partitionIndex: 0 };

  it("OPEN answers only a primary that knows what to cover; makes a checkpoint on demand", async () => {
    const { replica, store, state, server } = await setup();
    await assert.rejects(
      server.open({ gpid: { appId: 2, partitionIndex: 0 } }),
      (e) => code(e) === "ERR_OBJECT_NOT_FOUND",
    );
    state.status = ReplicaStatus.SECONDARY;
    await assert.rejects(server.open({ gpid }), (e) => code(e) === "ERR_INVALID_STATE");
    state.status = ReplicaStatus.PRIMARY;
    await assert.rejects(server.open({ gpid }), (e) => code(e) === "ERR_BUSY", "not synced yet");
    state.floor = { kind: "none" };
    await assert.rejects(
      server.open({ gpid }),
      (e) =>
        isTalariaError(e, "ERR_OBJECT_NOT_FOUND") &&
        e.details.reason === DUP_CHECKPOINT_NO_FULL_DUPLICATION,
    );
    state.floor = { kind: "pending" };
    await assert.rejects(server.open({ gpid }), (e) => code(e) === "ERR_BUSY");
    const decree = replica.lastAppliedDecree;
    state.floor = { kind: "floor", decree };
    await assert.rejects(
      server.open({ gpid }),
      (e) => code(e) === "ERR_BUSY" && isTalariaError(e) && e.retriable,
    );
    assert.deepEqual(state.prepared, [decree]);
    await store.ensure(replica, decree);
    const opened = await server.open({ gpid });
    assert.equal(opened.id, `dup-${decree}`);
    assert.equal(opened.decree, decree);
    assert.ok(opened.files.length === 2);
    await replica.close();
  });

  it("CHUNK serves bounded reads of listed files only, whose CRC32C matches the listing", async () => {
    const { replica, store, state, server } = await setup();
    state.floor = { kind: "floor", decree: replica.lastAppliedDecree };
    const checkpoint = await store.ensure(replica, replica.lastAppliedDecree);
    const opened = await server.open({ gpid });
    for (const file of opened.files) {
      let crc = 0;
      let offset = 0;
      const length = 4096;
      for (;;) {
        const { data } = await server.chunk({
          gpid,
          id: opened.id,
          file: file.name,
          offset,
          length,
        });
        assert.ok(data.length <= length);
        if (data.length === 0) break;
        crc = crc32c(Buffer.from(data), crc);
        offset += data.length;
      }
      assert.equal(offset, file.bytes);
      assert.equal(crc, file.crc32c, `${file.name} CRC32C`);
    }
    const chunk = (over: object) =>
      server.chunk({ gpid, id: opened.id, file: "data.mdb", offset: 0, length: 16, ...over });
    await assert.rejects(chunk({ id: "dup-999999" }), (e) => code(e) === "ERR_OBJECT_NOT_FOUND");
    await assert.rejects(chunk({ file: "nope" }), (e) => code(e) === "ERR_OBJECT_NOT_FOUND");
    writeFileSync(join(checkpoint.path, LMDB_LOCK_FILE), "x");
    await assert.rejects(
      chunk({ file: LMDB_LOCK_FILE }),
      (e) => code(e) === "ERR_OBJECT_NOT_FOUND",
    );
    const size = opened.files.find((f) => f.name === "data.mdb")?.bytes ?? 0;
    await assert.rejects(chunk({ offset: size + 1 }), (e) => code(e) === "ERR_INVALID_PARAMETERS");
    assert.equal((await chunk({ offset: size })).data.length, 0);
    await assert.rejects(
      chunk({ gpid: { appId: 9, partitionIndex: 9 } }),
      (e) => code(e) === "ERR_OBJECT_NOT_FOUND",
    );
    // Served from a secondary too while kept (a follower finishes what it started).
    state.status = ReplicaStatus.SECONDARY;
    assert.equal((await chunk({})).data.length, 16);
    await store.clear();
    await assert.rejects(chunk({}), (e) => code(e) === "ERR_OBJECT_NOT_FOUND", "gone once cleared");
    await replica.close();
  });

  it("streams listed files over HTTP from a Range start; 404, 416 and 400 otherwise", async () => {
    const { replica, store, state, server } = await setup();
    state.floor = { kind: "floor", decree: replica.lastAppliedDecree };
    await store.ensure(replica, replica.lastAppliedDecree);
    assert.equal((await server.open({ gpid })).httpAddress, undefined, "no HTTP: not named");
    const http = new HttpServer(new Router([dupCheckpointRoute(() => server)]), silentLogger);
    const port = await http.listen("127.0.0.1", 0);
    server.advertiseHttp(`127.0.0.1:${port}`);
    try {
      const opened = await server.open({ gpid });
      assert.equal(opened.httpAddress, `127.0.0.1:${port}`);
      const get = (query: Record<string, string>, range?: string) =>
        fetch(
          `http://127.0.0.1:${port}/replica/dup-checkpoint?${new URLSearchParams(query).toString()}`,
          range === undefined ? {} : { headers: { range } },
        );
      const good = { app_id: "1", partition_index: "0", id: opened.id, file: "data.mdb" };
      const data = opened.files.find((f) => f.name === "data.mdb");
      assert.ok(data !== undefined);
      const whole = await get(good, "bytes=0-");
      assert.equal(whole.status, 206);
      assert.equal(whole.headers.get("content-range"), `bytes 0-${data.bytes - 1}/${data.bytes}`);
      const body = Buffer.from(await whole.arrayBuffer());
      assert.equal(body.length, data.bytes);
      assert.equal(crc32c(body), data.crc32c);
      const tail = await get(good, "bytes=1000-");
      assert.equal(tail.status, 206);
      assert.deepEqual(Buffer.from(await tail.arrayBuffer()), body.subarray(1000));
      for (const range of [
        `bytes=${data.bytes}-`,
        "bytes=-5",
        "bytes=0-10",
        "bytes=x-",
        "items=0-",
      ]) {
        const res = await get(good, range);
        assert.equal(res.status, 416, range);
        await res.arrayBuffer();
      }
      for (const query of [
        { ...good, id: "dup-999999" },
        { ...good, file: "nope" },
        { ...good, file: LMDB_LOCK_FILE },
        { ...good, app_id: "9" },
      ]) {
        const res = await get(query, "bytes=0-");
        assert.equal(res.status, 404, JSON.stringify(query));
        assert.equal(((await res.json()) as { code: string }).code, "ERR_OBJECT_NOT_FOUND");
      }
      for (const query of [
        { ...good, id: "12" },
        { ...good, file: "../data.mdb" },
        { ...good, app_id: "-1" },
        { ...good, partition_index: "01" },
        { ...good, extra: "1" },
        { app_id: "1", partition_index: "0", id: opened.id },
      ]) {
        const res = await get(query, "bytes=0-");
        assert.equal(res.status, 400, JSON.stringify(query));
        await res.arrayBuffer();
      }
      // Served by a secondary too while kept; gone once cleared.
      state.status = ReplicaStatus.SECONDARY;
      const fromSecondary = await get(good, "bytes=0-");
      assert.equal(fromSecondary.status, 206);
      await fromSecondary.arrayBuffer();
      await store.clear();
      const gone = await get(good, "bytes=0-");
      assert.equal(gone.status, 404);
      await gone.arrayBuffer();
    } finally {
      await http.close();
      await replica.close();
    }
    const off = await new Router([dupCheckpointRoute(() => undefined)]).handle({
      method: "GET",
      path: "/replica/dup-checkpoint",
      query: new URLSearchParams(),
    });
    assert.equal(off.status, 404, "duplication off");
    assert.deepEqual(
      decodeDupCheckpointHttpQuery(
        new URLSearchParams({ app_id: "3", partition_index: "7", id: "dup-5", file: "data.mdb" }),
      ),
      { gpid: { appId: 3, partitionIndex: 7 }, id: "dup-5", file: "data.mdb" },
    );
  });
});
