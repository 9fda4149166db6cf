/** The remote clock's reading from an acknowledged DUPLICATE: bounds, estimate, skew flag. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readRemoteClock, receiverNowOf } from "../../src/duplication/source/remote-clock.ts";

describe("readRemoteClock", () => {
  it("estimates the offset at the round trip's midpoint, within half the round trip", () => {
    // Sent at 1,000, acknowledged at 1,040 (local); the remote read 1,520: ahead by 480..520.
    assert.deepEqual(readRemoteClock(1000, 1040, 1520, 300_000), {
      offsetMs: 500,
      uncertaintyMs: 20,
      skewExceeded: false,
    });
    assert.deepEqual(readRemoteClock(1000, 1000, 400, 300_000), {
      offsetMs: -600,
      uncertaintyMs: 0,
      skewExceeded: false,
    });
  });

  it("flags only a skew the whole interval proves, either way", () => {
    // Ahead by 290..310 s with a 300 s limit: not proven.
    assert.equal(readRemoteClock(0, 20_000, 310_000, 300_000)?.skewExceeded, false);
    // Ahead by 301..321 s: proven.
    assert.equal(readRemoteClock(0, 20_000, 321_000, 300_000)?.skewExceeded, true);
    // Behind by 301..302 s: proven the other way.
    assert.equal(readRemoteClock(1000, 2000, -300_000, 300_000)?.skewExceeded, true);
    // Behind by 299.5..300.5 s: not proven.
    assert.equal(readRemoteClock(1000, 2000, -299_000 + 500, 300_000)?.skewExceeded, false);
    // A limit of 0: any proven difference is too much.
    assert.equal(readRemoteClock(0, 10, 11, 0)?.skewExceeded, true);
    assert.equal(readRemoteClock(0, 10, 5, 0)?.skewExceeded, false);
  });

  it("reads nothing from an answer without a clock, or when the local clock went back", () => {
    for (const bad of [undefined, null, "1000", Number.NaN, Number.POSITIVE_INFINITY, {}]) {
      assert.equal(readRemoteClock(0, 10, bad, 300_000), undefined);
    }
    assert.equal(readRemoteClock(10, 9, 10, 300_000), undefined);
    assert.equal(receiverNowOf({ decree: 3, receiverNowMs: 42 }), 42);
    assert.equal(receiverNowOf({ decree: 3 }), undefined);
    assert.equal(receiverNowOf("garbage"), undefined);
    assert.equal(receiverNowOf(null), undefined);
  });
});
