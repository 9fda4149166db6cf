/**
 * A learner copies its primary's learner checkpoint over the HTTP bulk path
 * (LEARNER_CHECKPOINT_HTTP_PATH, learner-checkpoint-route.ts / learner-checkpoint-stream.ts) and
 * falls back to CHUNK when that path is unknown or fails; a corrupt copy installs nothing. The
 * holder is a real CheckpointSource behind a real HttpServer on loopback; the RPC side is an
 * in-process transport calling the same source.
 */
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { Registry } from "prom-client";
import { ManualClock } from "../../src/common/clock.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { HttpServer, type Route, Router } from "../../src/http/index.ts";
import type { Gpid } from "../../src/protocol/index.ts";
import type { CheckpointRef } from "../../src/protocol/replica-messages.ts";
import { prepareCheckpoint } from "../../src/replica/checkpoint-install.ts";
import {
  CheckpointMethod,
  CheckpointSource,
  decodeCheckpointFiles,
  fetchCheckpoint,
  LEARNER_CHECKPOINT_HTTP_PATH,
} from "../../src/replica-server/checkpoint-transfer.ts";
import { LearnerCheckpointMetrics } from "../../src/replica-server/learner-checkpoint-metrics.ts";
import {
  decodeLearnerCheckpointQuery,
  learnerCheckpointRoute,
} from "../../src/replica-server/learner-checkpoint-route.ts";
import {
  LearnerCheckpointStream,
  learnerHttpCopyDefaults,
} from "../../src/replica-server/learner-checkpoint-stream.ts";
import type { Transport } from "../../src/rpc/index.ts";

const root = mkdtempSync(join(tmpdir(), "talaria-learner-http-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir);
  return dir;
};

const gpid: Gpid = { appId: 3, partitionIndex: 1 };
const ref: CheckpointRef = { node: "127.0.0.1:1", id: "7", decree: 42, ballot: 2 };
/** Small write buffers, so a file of ~1 MiB is many full (O_DIRECT) buffers and a partial tail. */
const WRITE_BYTES = 64 * 1024;

/** The held checkpoint: a large file, a small one, an empty one. */
const files: Record<string, Buffer> = {
  "data.mdb": Buffer.alloc(16 * WRITE_BYTES + 12_345),
  "checkpoint.json": Buffer.from('{"decree":42}'),
  empty: Buffer.alloc(0),
};
for (let i = 0; i < (files["data.mdb"] as Buffer).length; i++) {
  (files["data.mdb"] as Buffer)[i] = (i * 31 + (i >> 11)) & 0xff;
}
const held = freshDir();
for (const [name, data] of Object.entries(files)) writeFileSync(join(held, name), data);
mkdirSync(join(held, "subdir"));
const outside = join(freshDir(), "secret");
writeFileSync(outside, "not part of the checkpoint");
symlinkSync(outside, join(held, "link"));

/** A source holding checkpoint `ref.id` of `gpid` until `evicted.now` is set. */
function holder() {
  const evicted = { now: false };
  const source = new CheckpointSource((g, id) =>
    !evicted.now &&
    g.appId === gpid.appId &&
    g.partitionIndex === gpid.partitionIndex &&
    id === ref.id
      ? held
      : undefined,
  );
  let chunkCalls = 0;
  const transport: Transport = {
    async call(_address, method, payload) {
      if (method === CheckpointMethod.FILES) return source.files(payload);
      chunkCalls++;
      return source.chunk(payload);
    },
  };
  return { source, transport, evicted, chunkCalls: () => chunkCalls };
}

async function serve(routes: Route[]) {
  const http = new HttpServer(new Router(routes), silentLogger);
  const port = await http.listen("127.0.0.1", 0);
  return { http, address: `127.0.0.1:${port}` };
}

/** A loopback address nothing listens on. */
/** A learner route that serves data.mdb from `path` (claiming `bytes`) and the rest as held. */
function dataMdbFrom(path: string, bytes: number, what: string): Route {
  return {
    path: LEARNER_CHECKPOINT_HTTP_PATH,
    description: `test: data.mdb ${what}`,
    handler: async (query) => {
      const { file } = decodeLearnerCheckpointQuery(query);
      return file === "data.mdb"
        ? { kind: "file", path, bytes }
        : { kind: "file", path: join(held, file), bytes: (files[file] as Buffer).length };
    },
  };
}

async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(typeof address === "object" && address !== null);
  return `127.0.0.1:${address.port}`;
}

/** Every learner stream a test made, closed when the file's tests are done. */
const streams: LearnerCheckpointStream[] = [];
after(() => {
  for (const stream of streams) stream.close();
});

function learner() {
  const registry = new Registry();
  const metrics = new LearnerCheckpointMetrics(registry);
  const http = new LearnerCheckpointStream(
    { limits: { learnerHttpWriteBytes: WRITE_BYTES } },
    { logger: silentLogger },
  );
  streams.push(http);
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    const values = (found?.values ?? []) as { value: number; labels: Record<string, unknown> }[];
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((sum, v) => sum + v.value, 0);
  };
  const bytes = (transfer: string) =>
    metric("talaria_replica_learner_checkpoint_bytes_total", { transfer });
  const fallbacks = () => metric("talaria_replica_learner_checkpoint_http_fallbacks_total");
  return { http, metrics, bytes, fallbacks, deps: { http, metrics, logger: silentLogger } };
}

const totalBytes = Object.values(files).reduce((sum, data) => sum + data.length, 0);

function assertCopied(dir: string): void {
  assert.deepEqual(readdirSync(dir).sort(), Object.keys(files).sort());
  for (const [name, data] of Object.entries(files)) {
    const copy = readFileSync(join(dir, name));
    assert.ok(copy.equals(data), `${name} copied exactly`);
    assert.equal(crc32c(copy), crc32c(data));
  }
}

describe("learner checkpoint copy over HTTP", () => {
  it("streams every file from the holder's HTTP server, identical, without CHUNK", async () => {
    const h = holder();
    const { http, address } = await serve([learnerCheckpointRoute(h.source)]);
    h.source.advertiseHttp(address);
    const l = learner();
    try {
      const dir = freshDir();
      assert.equal(await fetchCheckpoint(h.transport, gpid, ref, dir, l.deps), dir);
      assertCopied(dir);
      assert.equal(h.chunkCalls(), 0, "no CHUNK call");
      assert.equal(await l.bytes("http"), totalBytes);
      assert.equal(await l.bytes("chunk"), 0);
      assert.equal(await l.fallbacks(), 0);
    } finally {
      await http.close();
    }
  });

  it("copies with CHUNK when the holder names no HTTP address, or the learner has no stream", async () => {
    const h = holder();
    const l = learner();
    const dir = freshDir();
    await fetchCheckpoint(h.transport, gpid, ref, dir, l.deps);
    assertCopied(dir);
    assert.ok(h.chunkCalls() > 0);
    assert.equal(await l.bytes("chunk"), totalBytes);
    assert.equal(await l.bytes("http"), 0);
    assert.equal(await l.fallbacks(), 0, "no HTTP address is not a failure");

    h.source.advertiseHttp(await deadAddress());
    const plain = freshDir();
    await fetchCheckpoint(h.transport, gpid, ref, plain, { metrics: l.metrics });
    assertCopied(plain);
    assert.equal(await l.fallbacks(), 0, "without a stream HTTP is not tried");
  });

  it("falls back to CHUNK when the HTTP server is unreachable", async () => {
    const h = holder();
    h.source.advertiseHttp(await deadAddress());
    const l = learner();
    const dir = freshDir();
    await fetchCheckpoint(h.transport, gpid, ref, dir, l.deps);
    assertCopied(dir);
    assert.equal(await l.fallbacks(), 1, "one failure: CHUNK for the rest of the fetch");
    assert.equal(await l.bytes("chunk"), totalBytes);
  });

  it("falls back to CHUNK when the route answers an error", async () => {
    const h = holder();
    // An HTTP server without the learner route (an older holder, or one that refuses): 404.
    const { http, address } = await serve([]);
    h.source.advertiseHttp(address);
    const l = learner();
    try {
      const dir = freshDir();
      await fetchCheckpoint(h.transport, gpid, ref, dir, l.deps);
      assertCopied(dir);
      assert.equal(await l.fallbacks(), 1);
      assert.equal(await l.bytes("http"), 0);
    } finally {
      await http.close();
    }
  });

  it("copies the file again with CHUNK when its stream breaks off midway", async () => {
    const h = holder();
    const half = join(freshDir(), "data.mdb");
    const data = files["data.mdb"] as Buffer;
    writeFileSync(half, data.subarray(0, data.length >> 1));
    // Promises data.mdb's full size but has only half of it: the server cuts the connection.
    const { http, address } = await serve([dataMdbFrom(half, data.length, "ends early")]);
    h.source.advertiseHttp(address);
    const l = learner();
    try {
      const dir = freshDir();
      await fetchCheckpoint(h.transport, gpid, ref, dir, l.deps);
      assertCopied(dir);
      assert.equal(await l.fallbacks(), 1);
      assert.ok((await l.bytes("http")) > 0, "part of data.mdb came over HTTP first");
      assert.ok((await l.bytes("chunk")) >= data.length, "then all of it over CHUNK");
    } finally {
      await http.close();
    }
  });

  it("rejects a corrupt body (wrong CRC32C) without CHUNK, and installs nothing", async () => {
    const h = holder();
    const data = files["data.mdb"] as Buffer;
    const corrupt = Buffer.from(data);
    corrupt[corrupt.length - 5] = (corrupt[corrupt.length - 5] as number) ^ 0x40;
    const corruptPath = join(freshDir(), "data.mdb");
    writeFileSync(corruptPath, corrupt);
    const { http, address } = await serve([dataMdbFrom(corruptPath, corrupt.length, "corrupt")]);
    h.source.advertiseHttp(address);
    const l = learner();
    try {
      const scratch = freshDir();
      await assert.rejects(fetchCheckpoint(h.transport, gpid, ref, scratch, l.deps), (error) =>
        isTalariaError(error, "ERR_INVALID_DATA"),
      );
      assert.ok(!readdirSync(scratch).includes("data.mdb"), "the corrupt file is removed");
      assert.equal(h.chunkCalls(), 0, "a CRC mismatch is not retried over CHUNK");
      assert.equal(await l.fallbacks(), 0);

      // Through the install: it fails before anything is opened, and leaves nothing behind.
      const replicaDir = freshDir();
      await assert.rejects(
        prepareCheckpoint(
          replicaDir,
          "data-1",
          ref,
          (r, into) => fetchCheckpoint(h.transport, gpid, r, into, l.deps),
          { clock: new ManualClock(0) },
        ),
        (error) => isTalariaError(error, "ERR_INVALID_DATA"),
      );
      assert.deepEqual(readdirSync(replicaDir), [], "no fetch directory, no new data directory");
    } finally {
      await http.close();
    }
  });
});

describe("learner checkpoint route", () => {
  const good = { app_id: "3", partition_index: "1", id: "7", file: "data.mdb" };
  const data = files["data.mdb"] as Buffer;

  it("answers bad queries 400 with the field named, and keeps serving", async () => {
    const h = holder();
    const { http, address } = await serve([learnerCheckpointRoute(h.source)]);
    const get = (query: string | Record<string, string>, range = "bytes=0-") =>
      fetch(
        `http://${address}${LEARNER_CHECKPOINT_HTTP_PATH}?${new URLSearchParams(query).toString()}`,
        { headers: { range } },
      );
    try {
      const cases: [string | Record<string, string>, string][] = [
        [{ app_id: "3", partition_index: "1", id: "7" }, "file"],
        [{ ...good, extra: "1" }, "extra"],
        [`${new URLSearchParams(good).toString()}&file=checkpoint.json`, "file"],
        [{ ...good, app_id: "-1" }, "app_id"],
        [{ ...good, partition_index: "01" }, "partition_index"],
        [{ ...good, app_id: "99999999999" }, "app_id"],
        [{ ...good, file: "../data.mdb" }, "file"],
        [{ ...good, file: "a\\b" }, "file"],
        [{ ...good, file: ".." }, "file"],
        [{ ...good, id: "" }, "id"],
        [{ ...good, id: "x".repeat(257) }, "id"],
      ];
      for (const [query, field] of cases) {
        const res = await get(query);
        assert.equal(res.status, 400, JSON.stringify(query));
        const body = (await res.json()) as { code: string; details?: { field?: string } };
        assert.equal(body.code, "ERR_INVALID_PARAMETERS");
        assert.equal(body.details?.field, field, JSON.stringify(query));
      }
      const ok = await get(good);
      assert.equal(ok.status, 206);
      assert.equal(ok.headers.get("content-range"), `bytes 0-${data.length - 1}/${data.length}`);
      assert.ok(Buffer.from(await ok.arrayBuffer()).equals(data), "still serving after 400s");
      const tail = await get(good, "bytes=1000-");
      assert.equal(tail.status, 206);
      assert.ok(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(1000)));
      const pastEnd = await get(good, `bytes=${data.length}-`);
      assert.equal(pastEnd.status, 416);
      await pastEnd.arrayBuffer();
    } finally {
      await http.close();
    }
  });

  it("refuses any file not in a checkpoint held for learners right now (404)", async () => {
    const h = holder();
    const { http, address } = await serve([learnerCheckpointRoute(h.source)]);
    const get = (query: Record<string, string>) =>
      fetch(
        `http://${address}${LEARNER_CHECKPOINT_HTTP_PATH}?${new URLSearchParams(query).toString()}`,
        { headers: { range: "bytes=0-" } },
      );
    try {
      for (const query of [
        { ...good, file: "nope" },
        { ...good, file: "subdir" },
        { ...good, file: "link" },
        { ...good, id: "8" },
        { ...good, app_id: "4" },
        { ...good, partition_index: "0" },
      ]) {
        const res = await get(query);
        assert.equal(res.status, 404, JSON.stringify(query));
        assert.equal(((await res.json()) as { code: string }).code, "ERR_OBJECT_NOT_FOUND");
      }
      const ok = await get(good);
      assert.equal(ok.status, 206);
      await ok.arrayBuffer();
      h.evicted.now = true;
      const gone = await get(good);
      assert.equal(gone.status, 404, "not served once the checkpoint is no longer held");
      await gone.arrayBuffer();
    } finally {
      await http.close();
    }
  });

  it("decodes a FILES reply with or without httpAddress, strictly", () => {
    const listed = [{ name: "data.mdb", bytes: 3, crc32c: 9 }];
    assert.deepEqual(decodeCheckpointFiles({ files: listed }), { files: listed });
    assert.deepEqual(decodeCheckpointFiles({ files: listed, httpAddress: "10.0.0.1:8080" }), {
      files: listed,
      httpAddress: "10.0.0.1:8080",
    });
    assert.throws(
      () => decodeCheckpointFiles({ files: listed, httpAddress: "nowhere" }),
      (error) => isTalariaError(error, "ERR_INVALID_PARAMETERS"),
    );
    assert.throws(
      () => decodeCheckpointFiles({ files: [...listed, ...listed] }),
      (error) => isTalariaError(error, "ERR_INVALID_DATA"),
    );
  });

  it("docs/limits.md lists every bound of the learner's HTTP copy", () => {
    const doc = readFileSync(new URL("../../docs/limits.md", import.meta.url), "utf8");
    for (const name of Object.keys(learnerHttpCopyDefaults)) {
      assert.match(doc, new RegExp(`^\\| \`${name}\` \\|`, "m"), name);
    }
  });
});
