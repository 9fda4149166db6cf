import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import { isTalariaError, TalariaError } from "../../src/common/errors.ts";
import {
  CHECKPOINT_CHUNK_BYTES,
  CHECKPOINT_CHUNKS_IN_FLIGHT,
  CheckpointMethod,
  fetchCheckpoint,
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
