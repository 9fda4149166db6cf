import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { isTalariaError, TalariaError } from "../../src/common/errors.ts";
import {
  CHECKPOINT_CHUNK_BYTES,
  CHECKPOINT_CHUNKS_IN_FLIGHT,
  CHECKPOINT_CRC_CACHED_BYTES_MIN,
  CheckpointMethod,
  CheckpointSource,
  fetchCheckpoint,
  fileCrc32c,
} from "../../src/replica-server/checkpoint-transfer.ts";
import type { Transport } from "../../src/rpc/index.ts";

const root = mkdtempSync(join(tmpdir(), "talaria-fetch-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const scratch = () => {
  const dir = join(root, String(dirs++));
  mkdirSync(dir);
  return dir;
};

const content = Buffer.alloc(3 * CHECKPOINT_CHUNK_BYTES + 12345);
for (let i = 0; i < content.length; i++) content[i] = (i * 7 + (i >> 13)) & 0xff;
const gpid = { appId: 1, partitionIndex: 0 };
const ref = { node: "127.0.0.1:1", id: "cp-1", decree: 9, ballot: 1 };

/** A holder of one file that answers CHUNKs late, out of order, and sometimes short. */
function holder(options: { failAt?: number } = {}) {
  let inFlight = 0;
  let maxInFlight = 0;
  let calls = 0;
  const transport: Transport = {
    async call(_address, method, payload) {
      if (method === CheckpointMethod.FILES) {
        return { files: [{ name: "data.mdb", bytes: content.length, crc32c: crc32c(content) }] };
      }
      const { offset, length } = payload as { offset: number; length: number };
      calls++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // Later calls answer sooner: replies arrive out of offset order.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20 - calls * 3)));
      inFlight--;
      if (options.failAt === offset) throw new TalariaError("ERR_TIMEOUT", "injected");
      // Every other call is answered with half of what was asked (not at the end of the file).
      const give = calls % 2 === 0 && length > 1 ? Math.floor(length / 2) : length;
      return { data: content.subarray(offset, offset + give) };
    },
  };
  return { transport, stats: () => ({ calls, maxInFlight }) };
}

describe("learner checkpoint fetch", () => {
  it("pipelines CHUNKs, continues short replies, and writes the file exactly", async () => {
    const { transport, stats } = holder();
    const dir = scratch();
    assert.equal(await fetchCheckpoint(transport, gpid, ref, dir), dir);
    assert.ok(readFileSync(join(dir, "data.mdb")).equals(content));
    assert.ok(stats().maxInFlight > 1, "more than one CHUNK in flight");
    assert.ok(stats().maxInFlight <= CHECKPOINT_CHUNKS_IN_FLIGHT);
  });

  it("fails the fetch when a CHUNK fails", async () => {
    const { transport } = holder({ failAt: 2 * CHECKPOINT_CHUNK_BYTES });
    await assert.rejects(fetchCheckpoint(transport, gpid, ref, scratch()), (error) =>
      isTalariaError(error, "ERR_TIMEOUT"),
    );
  });
});

describe("learner checkpoint source", () => {
  const held = scratch();
  writeFileSync(join(held, "data.mdb"), content.subarray(0, 5000));
  mkdirSync(join(held, "subdir"));
  const elsewhere = join(scratch(), "elsewhere");
  writeFileSync(elsewhere, "outside the checkpoint");
  symlinkSync(elsewhere, join(held, "link"));
  const source = new CheckpointSource((g, id) =>
    g.appId === gpid.appId && g.partitionIndex === gpid.partitionIndex && id === ref.id
      ? held
      : undefined,
  );

  it("lists and serves only the regular files of a held checkpoint", async () => {
    assert.deepEqual(await source.files({ gpid, id: ref.id }), {
      files: [{ name: "data.mdb", bytes: 5000, crc32c: crc32c(content.subarray(0, 5000)) }],
    });
    const chunk = (file: string, id = ref.id) =>
      source.chunk({ gpid, id, file, offset: 0, length: 100 });
    assert.ok((await chunk("data.mdb")).data.equals(content.subarray(0, 100)));
    for (const file of ["link", "subdir", "nope"]) {
      await assert.rejects(chunk(file), (e) => isTalariaError(e, "ERR_OBJECT_NOT_FOUND"), file);
    }
    await assert.rejects(chunk("data.mdb", "other"), (e) =>
      isTalariaError(e, "ERR_OBJECT_NOT_FOUND"),
    );
    await assert.rejects(chunk("../data.mdb"), (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"));
  });

  it("names its HTTP server in FILES once advertised", async () => {
    source.advertiseHttp("127.0.0.1:8081");
    assert.equal((await source.files({ gpid, id: ref.id })).httpAddress, "127.0.0.1:8081");
    source.advertiseHttp(undefined);
    assert.equal("httpAddress" in (await source.files({ gpid, id: ref.id })), false);
  });
});

describe("learner checkpoint source: CRC32C once per checkpoint", () => {
  const big = content.subarray(0, CHECKPOINT_CRC_CACHED_BYTES_MIN + 1000);
  /** A source holding checkpoint `ref.id` in `dir` while `held.value`, counting files summed. */
  const counted = (dir: string) => {
    const held = { value: true };
    const sums = new Map<string, number>();
    const outcomes = { hit: 0, miss: 0, small: 0 };
    const source = new CheckpointSource(
      (g, id) => (held.value && g.appId === gpid.appId && id === ref.id ? dir : undefined),
      {
        sumFile: (path) => {
          sums.set(path, (sums.get(path) ?? 0) + 1);
          return fileCrc32c(path);
        },
        onCrc: (outcome) => {
          outcomes[outcome]++;
        },
      },
    );
    const sumsOf = (name: string) => sums.get(join(dir, name)) ?? 0;
    return { source, held, sumsOf, outcomes, files: () => source.files({ gpid, id: ref.id }) };
  };
  const listing = (data: Buffer) => ({
    files: [
      { name: "checkpoint.json", bytes: 2, crc32c: crc32c(Buffer.from("{}")) },
      { name: "data.mdb", bytes: data.length, crc32c: crc32c(data) },
    ],
  });

  it("sums a large file once for every FILES, concurrent ones included; small files every time", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "data.mdb"), big);
    writeFileSync(join(dir, "checkpoint.json"), "{}");
    const h = counted(dir);
    const [first, second] = await Promise.all([h.files(), h.files()]);
    assert.deepEqual(first, listing(big));
    assert.deepEqual(second, listing(big));
    assert.deepEqual(await h.files(), listing(big));
    assert.equal(h.sumsOf("data.mdb"), 1);
    assert.equal(h.sumsOf("checkpoint.json"), 3);
    assert.deepEqual(h.outcomes, { hit: 2, miss: 1, small: 3 }, "what the metric counts");
  });

  it("sums again a file that changed, and a checkpoint held again after it was evicted", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "data.mdb"), big);
    writeFileSync(join(dir, "checkpoint.json"), "{}");
    const h = counted(dir);
    assert.deepEqual(await h.files(), listing(big));

    // Replaced under the same name (a checkpoint id made again after its replica reopened).
    const other = Buffer.from(big.subarray(0, big.length - 1)).fill(9, 0, 100);
    writeFileSync(join(dir, "data.mdb"), other);
    assert.deepEqual(await h.files(), listing(other));
    assert.equal(h.sumsOf("data.mdb"), 2);

    // Evicted: FILES fails, and the next FILES forgets its CRC32C, even for the same file.
    h.held.value = false;
    await assert.rejects(h.files(), (e) => isTalariaError(e, "ERR_OBJECT_NOT_FOUND"));
    await assert.rejects(h.files(), (e) => isTalariaError(e, "ERR_OBJECT_NOT_FOUND"));
    h.held.value = true;
    assert.deepEqual(await h.files(), listing(other));
    assert.equal(h.sumsOf("data.mdb"), 3);
  });
});
