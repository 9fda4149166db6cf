import assert from "node:assert/strict";
import { describe, test } from "node:test";
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

describe("plog format", () => {
  test("blocks round-trip, including decrees above 2^32", () => {
    fc.assert(
      fc.property(arbRecords, fc.constantFrom(0, 2 ** 40), (records, shift) => {
        const shifted = records.map((r) => ({ decree: r.decree + shift, payload: r.payload }));
        const block = encodeBlock(shifted);
        const header = decodeBlockHeader(block.subarray(0, BLOCK_HEADER_BYTES));
        assert.ok(header.ok);
        assert.equal(header.value.firstDecree, shifted[0]?.decree);
        assert.equal(header.value.lastDecree, shifted.at(-1)?.decree);
        const body = decodeBlockBody(header.value, block.subarray(BLOCK_HEADER_BYTES));
        assert.ok(body.ok);
        assert.deepEqual(body.value, shifted);
      }),
    );
  });

  test("any single flipped bit in a block is detected", () => {
    fc.assert(
      fc.property(arbRecords, fc.nat(), fc.integer({ min: 0, max: 7 }), (records, at, bit) => {
        const block = encodeBlock(records);
        const index = at % block.length;
        block[index] = (block[index] ?? 0) ^ (1 << bit);
        const header = decodeBlockHeader(block.subarray(0, BLOCK_HEADER_BYTES));
        if (!header.ok) return;
        assert.ok(index >= BLOCK_HEADER_BYTES, "a header flip is caught by the header checksum");
        assert.equal(decodeBlockBody(header.value, block.subarray(BLOCK_HEADER_BYTES)).ok, false);
      }),
    );
  });

  test("segment header round-trips and rejects damage", () => {
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence: 7,
      firstDecree: 2 ** 45,
    });
    assert.equal(header.length, SEGMENT_HEADER_BYTES);
    assert.deepEqual(decodeSegmentHeader(header), {
      ok: true,
      value: { formatVersion: FORMAT_VERSION, sequence: 7, firstDecree: 2 ** 45 },
    });
    assert.deepEqual(decodeSegmentHeader(header.subarray(0, 10)), {
      ok: false,
      reason: "partial segment header",
    });
    const damaged = Buffer.from(header);
    damaged[9] = (damaged[9] ?? 0) ^ 1;
    assert.equal(decodeSegmentHeader(damaged).ok, false);
  });

  test("golden bytes: the layout is what format.ts documents", () => {
    // magic "TPLB" | bodyBytes 14 | recordCount 1 | firstDecree 5 | lastDecree 5 | bodyCrc |
    // headerCrc || decree 5 | payloadBytes 2 | "ab"
    const block = encodeBlock([{ decree: 5, payload: Buffer.from("ab") }]);
    assert.equal(
      block.toString("hex"),
      "54504c42" +
        "0e000000" +
        "01000000" +
        "0500000000000000" +
        "0500000000000000" +
        "79bfd2bf" +
        "24d25a19" +
        "0500000000000000" +
        "02000000" +
        "6162",
    );
    // magic "TPLS" | version 1 | reserved | sequence 1 | firstDecree 5 | headerCrc
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence: 1,
      firstDecree: 5,
    });
    assert.equal(
      header.toString("hex"),
      "54504c53" + "0100" + "0000" + "01000000" + "0500000000000000" + "d1033a0f",
    );
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
