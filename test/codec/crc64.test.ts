import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { crc64, crc64Mod, crc64Parts } from "../../src/codec/index.ts";

/** Vectors from Apache Pegasus (crc64 of the hash key, and the partition among 8). */
const pegasusVectors: readonly (readonly [string, bigint, number])[] = [
  ["", 0x0n, 0],
  ["a", 0x8c2f8445b4cbfc3cn, 4],
  ["hash", 0x5fec6e448a0b067cn, 4],
  ["user_1", 0x9ce68171e0151387n, 7],
  ["123456789", 0xae8b14860a799888n, 0],
];

describe("crc64", () => {
  for (const [text, expected, partition] of pegasusVectors) {
    it(`matches Pegasus for ${JSON.stringify(text)}`, () => {
      const bytes = Buffer.from(text, "utf8");
      assert.equal(crc64(bytes), expected);
      assert.equal(crc64Mod(bytes, 8), partition);
      const { hi, lo } = crc64Parts(bytes);
      assert.equal((BigInt(hi) << 32n) | BigInt(lo), expected);
    });
  }

  it("crc64Mod equals the BigInt remainder for partition counts 1..100000", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 100_000 }),
        (bytes, divisor) => {
          assert.equal(crc64Mod(bytes, divisor), Number(crc64(bytes) % BigInt(divisor)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("reads only the view it is given, not the whole backing buffer", () => {
    const backing = Buffer.from("xxuser_1yy", "utf8");
    assert.equal(crc64(backing.subarray(2, 8)), 0x9ce68171e0151387n);
  });
});
