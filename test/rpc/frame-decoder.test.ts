import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FrameDecoder } from "../../src/rpc/index.ts";

function frame(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** Cuts `stream` at the given points (any order, duplicates allowed) into consecutive chunks. */
function chunked(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, stream.length]) {
    chunks.push(stream.subarray(start, point));
    start = point;
  }
  return chunks;
}

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]) {
  const frames: Buffer[] = [];
  let error: unknown;
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    frames.push(...result.frames.map((f) => Buffer.from(f)));
    error ??= result.error;
  }
  return { frames, error };
}

const bodies = fc.array(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  {
    maxLength: 20,
  },
);
const cuts = fc.array(fc.nat(), { maxLength: 40 });

describe("FrameDecoder", () => {
  it("decodes any chunking of a stream of frames into the same frames", () => {
    fc.assert(
      fc.property(bodies, cuts, (frames, cutPoints) => {
        const stream = Buffer.concat(frames.map(frame));
        const decoder = new FrameDecoder(1024);
        const result = decodeAll(decoder, chunked(stream, cutPoints));
        assert.equal(result.error, undefined);
        assert.deepEqual(result.frames, frames);
        assert.equal(decoder.bufferedByteCount, 0);
      }),
      { numRuns: 500 },
    );
  });

  it("holds back an incomplete frame until its last byte arrives", () => {
    const decoder = new FrameDecoder(1024);
    const stream = frame(Buffer.from("hello"));
    for (let i = 0; i < stream.length - 1; i++) {
      assert.deepEqual(decoder.push(stream.subarray(i, i + 1)).frames, []);
    }
    assert.deepEqual(decoder.push(stream.subarray(stream.length - 1)).frames, [
      Buffer.from("hello"),
    ]);
  });

  it("refuses an oversized frame at its header, under any chunking, after the frames before it", () => {
    const small = fc.array(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      {
        maxLength: 3,
      },
    );
    fc.assert(
      fc.property(small, fc.integer({ min: 65, max: 2 ** 32 - 1 }), cuts, (good, size, points) => {
        const header = Buffer.alloc(4);
        header.writeUInt32BE(size, 0);
        // Trailing bytes after the bad header must not matter (nor be buffered).
        const stream = Buffer.concat([...good.map(frame), header, Buffer.alloc(70)]);
        const decoder = new FrameDecoder(64);
        const result = decodeAll(decoder, chunked(stream, points));
        assert.deepEqual(result.frames, good);
        assert.deepEqual(result.error, { reason: "oversized", bodyBytes: size, frameBytesMax: 64 });
        assert.equal(decoder.bufferedByteCount, 0);
        // Finished: later bytes give the same error and no frames.
        const after = decoder.push(frame(Buffer.from("x")));
        assert.deepEqual(after.frames, []);
        assert.equal(after.error?.reason, "oversized");
      }),
      { numRuns: 300 },
    );
  });

  it("accepts a frame of exactly frameBytesMax and an empty frame", () => {
    const decoder = new FrameDecoder(8);
    const { frames, error } = decoder.push(
      Buffer.concat([frame(Buffer.alloc(8, 1)), frame(Buffer.alloc(0))]),
    );
    assert.equal(error, undefined);
    assert.deepEqual(frames, [Buffer.alloc(8, 1), Buffer.alloc(0)]);
  });
});
