import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { planBlocks } from "../../src/plog/block-planner.ts";
import {
  BLOCK_HEADER_BYTES,
  decodeBlockBody,
  decodeBlockHeader,
  decodeSegmentHeader,
  encodeBlock,
  encodeSegmentHeader,
  FORMAT_VERSION,
  type LogRecord,
  NONCE_BYTES,
  peekFormatVersion,
  SEGMENT_HEADER_BYTES,
} from "../../src/plog/format.ts";
import { formatSegmentName, parseSegmentName } from "../../src/plog/index.ts";

const arbRecords: fc.Arbitrary<LogRecord[]> = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.uint8Array({ maxLength: 64 })), {
    minLength: 1,
    maxLength: 20,
  })
  .map((pairs) => {
    let decree = 0;
    return pairs.map(([gap, bytes]) => {
      decree += gap;
      return { decree, payload: Buffer.from(bytes) };
    });
  });

const NONCE = Buffer.from("0102030405060708", "hex");
const arbNonce = fc.uint8Array({ minLength: NONCE_BYTES, maxLength: NONCE_BYTES }).map(Buffer.from);
const arbOffset = fc.integer({ min: SEGMENT_HEADER_BYTES, max: 2 ** 40 });

describe("plog format", () => {
  test("blocks round-trip, including decrees above 2^32", () => {
    fc.assert(
      fc.property(
        arbRecords,
        fc.constantFrom(0, 2 ** 40),
        arbNonce,
        arbOffset,
        (records, shift, nonce, offset) => {
          const shifted = records.map((r) => ({ decree: r.decree + shift, payload: r.payload }));
          const block = encodeBlock(shifted, { nonce, offset });
          const header = decodeBlockHeader(block.subarray(0, BLOCK_HEADER_BYTES), {
            nonce,
            offset,
          });
          assert.ok(header.ok);
          assert.equal(header.value.firstDecree, shifted[0]?.decree);
          assert.equal(header.value.lastDecree, shifted.at(-1)?.decree);
          const body = decodeBlockBody(header.value, block.subarray(BLOCK_HEADER_BYTES), nonce);
          assert.ok(body.ok);
          assert.deepEqual(body.value, shifted);
        },
      ),
    );
  });

  test("any single flipped bit in a block is detected", () => {
    fc.assert(
      fc.property(arbRecords, fc.nat(), fc.integer({ min: 0, max: 7 }), (records, at, bit) => {
        const place = { nonce: NONCE, offset: SEGMENT_HEADER_BYTES };
        const block = encodeBlock(records, place);
        const index = at % block.length;
        block[index] = (block[index] ?? 0) ^ (1 << bit);
        const header = decodeBlockHeader(block.subarray(0, BLOCK_HEADER_BYTES), place);
        if (!header.ok) return;
        assert.ok(index >= BLOCK_HEADER_BYTES, "a header flip is caught by the header checksum");
        const body = decodeBlockBody(header.value, block.subarray(BLOCK_HEADER_BYTES), NONCE);
        assert.equal(body.ok, false);
      }),
    );
  });

  test("a block validates only with its segment's nonce and at its own offset", () => {
    fc.assert(
      fc.property(
        arbRecords,
        arbNonce,
        arbOffset,
        arbNonce,
        arbOffset,
        (records, nonce, offset, otherNonce, otherOffset) => {
          const block = encodeBlock(records, { nonce, offset });
          const header = block.subarray(0, BLOCK_HEADER_BYTES);
          const body = block.subarray(BLOCK_HEADER_BYTES);
          const moved = decodeBlockHeader(header, { nonce, offset: otherOffset });
          assert.equal(moved.ok, otherOffset === offset);
          // Each checksum takes one half of the nonce, so a change in either half is caught.
          const sameHead = otherNonce.subarray(0, 4).equals(nonce.subarray(0, 4));
          const foreign = decodeBlockHeader(header, { nonce: otherNonce, offset });
          assert.equal(foreign.ok, sameHead);
          const decoded = decodeBlockHeader(header, { nonce, offset });
          assert.ok(decoded.ok);
          const sameTail = otherNonce.subarray(4).equals(nonce.subarray(4));
          assert.equal(decodeBlockBody(decoded.value, body, otherNonce).ok, sameTail);
        },
      ),
    );
  });

  test("segment header round-trips and rejects damage", () => {
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence: 7,
      firstDecree: 2 ** 45,
      nonce: NONCE,
    });
    assert.equal(header.length, SEGMENT_HEADER_BYTES);
    assert.deepEqual(decodeSegmentHeader(header), {
      ok: true,
      value: {
        formatVersion: FORMAT_VERSION,
        sequence: 7,
        firstDecree: 2 ** 45,
        nonce: NONCE,
        flags: 0,
      },
    });
    assert.equal(peekFormatVersion(header), FORMAT_VERSION);
    assert.deepEqual(decodeSegmentHeader(header.subarray(0, 10)), {
      ok: false,
      reason: "partial segment header",
    });
    for (const at of [9, 20, 27]) {
      const damaged = Buffer.from(header);
      damaged[at] = (damaged[at] ?? 0) ^ 1;
      assert.equal(decodeSegmentHeader(damaged).ok, false, `byte ${at}`);
    }
  });

  test("a version 1 segment header is recognised and refused", () => {
    // Version 1: magic | version 1 | reserved | sequence 1 | firstDecree 5 | CRC of [0, 20).
    const v1 = Buffer.from("54504c53" + "0100" + "0000" + "01000000" + "0500000000000000", "hex");
    const bytes = Buffer.concat([v1, Buffer.alloc(4)]);
    bytes.writeUInt32LE(crc32c(v1), 20);
    assert.equal(FORMAT_VERSION, 2);
    assert.equal(peekFormatVersion(bytes), 1);
    assert.deepEqual(decodeSegmentHeader(Buffer.concat([bytes, Buffer.alloc(8)])), {
      ok: false,
      reason: "unknown format version 1",
    });
    assert.equal(peekFormatVersion(Buffer.from("54504c5302", "hex")), null, "too short");
    assert.equal(peekFormatVersion(Buffer.alloc(SEGMENT_HEADER_BYTES)), null, "no magic");
  });

  test("golden bytes: the layout is what format.ts documents", () => {
    // magic "TPLB" | bodyBytes 14 | recordCount 1 | firstDecree 5 | lastDecree 5 | bodyCrc |
    // headerCrc || decree 5 | payloadBytes 2 | "ab"; sealed to NONCE at offset 32
    const block = encodeBlock([{ decree: 5, payload: Buffer.from("ab") }], {
      nonce: NONCE,
      offset: SEGMENT_HEADER_BYTES,
    });
    assert.equal(
      block.toString("hex"),
      "54504c42" +
        "0e000000" +
        "01000000" +
        "0500000000000000" +
        "0500000000000000" +
        "1b4f5810" +
        "72241823" +
        "0500000000000000" +
        "02000000" +
        "6162",
    );
    // The checksums are what the layout says, computed the long way.
    const body = block.subarray(BLOCK_HEADER_BYTES);
    assert.equal(block.readUInt32LE(28), crc32c(Buffer.concat([NONCE.subarray(4, 8), body])));
    const offset = Buffer.from("2000000000000000", "hex");
    const sealed = Buffer.concat([NONCE.subarray(0, 4), offset, block.subarray(0, 32)]);
    assert.equal(block.readUInt32LE(32), crc32c(sealed));
    // magic "TPLS" | version 2 | reserved | sequence 1 | firstDecree 5 | nonce | headerCrc
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence: 1,
      firstDecree: 5,
      nonce: NONCE,
    });
    assert.equal(
      header.toString("hex"),
      "54504c53" +
        "0200" +
        "0000" +
        "01000000" +
        "0500000000000000" +
        "0102030405060708" +
        "c5e99845",
    );
    assert.equal(header.readUInt32LE(28), crc32c(header.subarray(0, 28)));
  });

  test("segment names sort and parse", () => {
    assert.equal(formatSegmentName({ sequence: 3, firstDecree: 120 }), "plog.00000003.120");
    assert.deepEqual(parseSegmentName("plog.00000003.120"), { sequence: 3, firstDecree: 120 });
    for (const bad of [
      "plog.3.120",
      "plog.00000003.0",
      "plog.00000003",
      "x.00000003.1",
      "plog.00000003.1.tmp",
    ]) {
      assert.equal(parseSegmentName(bad), null, bad);
    }
  });
});

describe("plog block planner", () => {
  const H = SEGMENT_HEADER_BYTES;
  const B = BLOCK_HEADER_BYTES;

  test("fills the active segment, then rolls over with one block per segment", () => {
    assert.deepEqual(planBlocks([10, 10, 10], H + B + 10, H + 2 * B + 25), [
      { newSegment: false, start: 0, end: 1 },
      { newSegment: true, start: 1, end: 3 },
    ]);
  });

  test("with no active segment the first block starts one", () => {
    assert.deepEqual(planBlocks([10], null, 1000), [{ newSegment: true, start: 0, end: 1 }]);
  });

  test("a record larger than a segment goes alone into a new one, and the next rolls again", () => {
    assert.deepEqual(planBlocks([10, 5000, 10], H + B + 10, 1000), [
      { newSegment: false, start: 0, end: 1 },
      { newSegment: true, start: 1, end: 2 },
      { newSegment: true, start: 2, end: 3 },
    ]);
  });

  test("every record lands in exactly one block, in order, and segments stay within the max", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 12, max: 600 }), { minLength: 1, maxLength: 40 }),
        fc.option(fc.integer({ min: H, max: 2000 }), { nil: null }),
        fc.integer({ min: 200, max: 2000 }),
        (sizes, active, max) => {
          const plan = planBlocks(sizes, active, max);
          let next = 0;
          let segmentBytes = active;
          for (const block of plan) {
            assert.equal(block.start, next);
            assert.ok(block.end > block.start);
            next = block.end;
            const body = sizes.slice(block.start, block.end).reduce((a, b) => a + b, 0);
            if (block.newSegment) segmentBytes = H;
            assert.ok(segmentBytes !== null);
            segmentBytes += B + body;
            const alone = block.newSegment && block.end - block.start === 1;
            assert.ok(segmentBytes <= max || alone, "only a lone record may exceed the max");
          }
          assert.equal(next, sizes.length);
        },
      ),
    );
  });
});
