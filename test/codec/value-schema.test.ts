import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeValue,
  EPOCH_BEGIN_UNIX_SECONDS,
  encodeValue,
  epochNowSeconds,
  isExpired,
  isTombstone,
  makeTimetag,
  VALUE_HEADER_BYTES,
} from "../../src/codec/index.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { arbExpireTs, arbValue } from "../support/arbitraries.ts";

const arbTimetag = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

describe("value schema v1", () => {
  it("encodes as expireTs:u32be ‖ timetag:u64be ‖ value", () => {
    const encoded = encodeValue(0x0102_0304, 0x1112_1314_1516_1718n, Buffer.from("v"));
    assert.equal(encoded.toString("hex"), "01020304111213141516171876");
  });

  it("round-trips arbitrary values", () => {
    fc.assert(
      fc.property(arbExpireTs, arbTimetag, arbValue, (expireTs, timetag, value) => {
        const encoded = encodeValue(expireTs, timetag, value);
        assert.equal(encoded.length, VALUE_HEADER_BYTES + value.length);
        assert.deepStrictEqual(decodeValue(encoded), { expireTs, timetag, value });
      }),
    );
  });

  it("rejects a value shorter than its header with ERR_INVALID_DATA", () => {
    for (let length = 0; length < VALUE_HEADER_BYTES; length++) {
      assert.throws(
        () => decodeValue(Buffer.alloc(length)),
        (error) => isTalariaError(error, "ERR_INVALID_DATA"),
      );
    }
    assert.deepEqual(decodeValue(Buffer.alloc(VALUE_HEADER_BYTES)).value, Buffer.alloc(0));
  });

  it("expireTs 0 never expires; otherwise expired once expireTs <= now", () => {
    assert.equal(isExpired(0, 0), false);
    assert.equal(isExpired(0, 2 ** 32), false);
    assert.equal(isExpired(100, 99), false);
    assert.equal(isExpired(100, 100), true);
    assert.equal(isExpired(100, 101), true);
  });

  it("counts epoch seconds from 2016-01-01T00:00:00Z", () => {
    assert.equal(EPOCH_BEGIN_UNIX_SECONDS * 1000, Date.UTC(2016, 0, 1));
    assert.equal(epochNowSeconds(Date.UTC(2016, 0, 1)), 0);
    assert.equal(epochNowSeconds(Date.UTC(2016, 0, 1) + 1999), 1);
  });

  it("a value is a tombstone exactly when its timetag has the delete bit", () => {
    const tombstone = decodeValue(encodeValue(0, makeTimetag(5, 1, true), Buffer.alloc(0)));
    const live = decodeValue(encodeValue(0, makeTimetag(5, 1, false), Buffer.from("v")));
    assert.equal(isTombstone(tombstone), true);
    assert.equal(isTombstone(live), false);
  });
});
