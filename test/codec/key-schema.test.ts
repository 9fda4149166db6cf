import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  crc64Mod,
  decodeKey,
  encodeKey,
  hashKeyPrefix,
  partitionIndex,
} from "../../src/codec/index.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { arbHashKey, arbSortKey } from "../support/arbitraries.ts";

const b = (text: string): Buffer => Buffer.from(text, "utf8");

describe("key schema", () => {
  it("encodes as u16be(len(hashKey)) ‖ hashKey ‖ sortKey", () => {
    assert.equal(encodeKey(b("hash"), b("sort")).toString("hex"), "000468617368736f7274");
  });

  it("round-trips arbitrary keys", () => {
    fc.assert(
      fc.property(arbHashKey, arbSortKey, (hashKey, sortKey) => {
        const decoded = decodeKey(encodeKey(hashKey, sortKey));
        assert.deepStrictEqual(decoded, { hashKey, sortKey });
      }),
    );
  });

  it("accepts a 65535-byte hash key and rejects 65536 bytes with ERR_INVALID_HASH_KEY", () => {
    const longest = Buffer.alloc(65_535, 1);
    assert.deepStrictEqual(decodeKey(encodeKey(longest, b("s"))).hashKey, longest);
    assert.throws(
      () => encodeKey(Buffer.alloc(65_536), b("")),
      (error) => isTalariaError(error, "ERR_INVALID_HASH_KEY"),
    );
  });

  it("rejects stored keys shorter than their header or hash key length", () => {
    for (const hex of ["", "00", "0005616263"]) {
      assert.throws(
        () => decodeKey(Buffer.from(hex, "hex")),
        (error) => isTalariaError(error, "ERR_INVALID_DATA"),
      );
    }
  });

  it("the hash key prefix starts every stored key of that hash key", () => {
    fc.assert(
      fc.property(arbHashKey, arbSortKey, (hashKey, sortKey) => {
        const prefix = hashKeyPrefix(hashKey);
        assert.deepEqual(encodeKey(hashKey, sortKey).subarray(0, prefix.length), prefix);
      }),
    );
  });

  it("partitions by the hash key, or by the sort key when the hash key is empty", () => {
    assert.equal(partitionIndex(b("user_1"), b("anything"), 8), 7);
    assert.equal(partitionIndex(b(""), b("user_1"), 8), 7);
    assert.equal(partitionIndex(b(""), b("a"), 8), 4);
    fc.assert(
      fc.property(arbSortKey, fc.integer({ min: 1, max: 1024 }), (sortKey, count) => {
        assert.equal(partitionIndex(b(""), sortKey, count), crc64Mod(sortKey, count));
      }),
    );
  });
});
