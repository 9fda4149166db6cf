import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  makeTimetag,
  timetagClusterId,
  timetagIsDelete,
  timetagTimestampUs,
} from "../../src/codec/index.ts";
import { AssertionError } from "../../src/common/assert.ts";

const arbParts = fc.tuple(fc.maxSafeNat(), fc.integer({ min: 0, max: 127 }), fc.boolean());

function compareParts(
  [t1, c1, d1]: [number, number, boolean],
  [t2, c2, d2]: [number, number, boolean],
): number {
  if (t1 !== t2) return Math.sign(t1 - t2);
  if (c1 !== c2) return Math.sign(c1 - c2);
  return Number(d1) - Number(d2);
}

describe("timetag", () => {
  it("packs timestampUs << 8 | clusterId << 1 | deleteBit", () => {
    assert.equal(makeTimetag(1, 1, false), 0x102n);
    assert.equal(makeTimetag(0x0102_0304, 127, true), 0x01_0203_04ffn);
  });

  it("round-trips its parts", () => {
    fc.assert(
      fc.property(arbParts, ([timestampUs, clusterId, isDelete]) => {
        const timetag = makeTimetag(timestampUs, clusterId, isDelete);
        assert.equal(timetagTimestampUs(timetag), timestampUs);
        assert.equal(timetagClusterId(timetag), clusterId);
        assert.equal(timetagIsDelete(timetag), isDelete);
      }),
    );
  });

  it("orders by timestamp, then cluster id, then delete after put", () => {
    assert.ok(makeTimetag(101, 1, false) > makeTimetag(100, 127, true));
    assert.ok(makeTimetag(100, 2, false) > makeTimetag(100, 1, true));
    assert.ok(makeTimetag(100, 1, true) > makeTimetag(100, 1, false));
    fc.assert(
      fc.property(arbParts, arbParts, (a, b) => {
        const order =
          makeTimetag(...a) < makeTimetag(...b)
            ? -1
            : makeTimetag(...a) > makeTimetag(...b)
              ? 1
              : 0;
        assert.equal(order, compareParts(a, b));
      }),
    );
  });

  it("asserts on parts the layout cannot hold", () => {
    assert.throws(() => makeTimetag(-1, 1, false), AssertionError);
    assert.throws(() => makeTimetag(1.5, 1, false), AssertionError);
    assert.throws(() => makeTimetag(1, 128, false), AssertionError);
  });
});
