import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Packr } from "msgpackr";
import { TalariaError } from "../../src/common/errors.ts";
import {
  decodeMessage,
  encodeFrame,
  fromWireError,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  toWireError,
  type WireMessage,
} from "../../src/rpc/index.ts";

function roundTrip(message: WireMessage): unknown {
  const frame = encodeFrame(message);
  assert.equal(frame.readUInt32BE(0), frame.length - 4);
  return decodeMessage(frame.subarray(4));
}

const plain = new Packr({ useRecords: false });

describe("wire messages", () => {
  it("round-trip every kind, with Buffers, bigints and nested values intact", () => {
    const payload = {
      hashKey: Buffer.from([0, 1, 255]),
      delta: -(2n ** 63n),
      big: 2n ** 64n - 1n,
      small: 5n,
      count: 2 ** 40,
      ratio: 1.5,
      list: [Buffer.alloc(0), null, "s"],
    };
    const messages: WireMessage[] = [
      { kind: "hello", magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, name: "shell" },
      { kind: "welcome", version: PROTOCOL_VERSION, name: "meta" },
      { kind: "reject", code: "ERR_HANDLER_NOT_FOUND", message: "no" },
      { kind: "request", id: 2 ** 32 - 1, method: "get", payload, timeoutMs: 1000 },
      { kind: "reply", id: 0, payload },
      {
        kind: "failure",
        id: 7,
        error: { code: "ERR_BUSY", message: "full", details: { limit: "x" }, retriable: true },
      },
      { kind: "notify", method: "replica.prepare", payload },
    ];
    for (const message of messages) assert.deepEqual(roundTrip(message), message);
    const decoded = roundTrip({ kind: "reply", id: 1, payload }) as { payload: typeof payload };
    assert.ok(Buffer.isBuffer(decoded.payload.hashKey));
    assert.equal(typeof decoded.payload.small, "bigint");
    assert.equal(typeof decoded.payload.count, "number");
  });

  it("decodes integers another encoder sent as (u)int64 where a u32 is expected", () => {
    // cf = uint64 id 9, d3 = int64 timeoutMs 100: what some encoders emit for small numbers.
    const body = Buffer.concat([
      Buffer.from([0x95, 0x03, 0xcf, 0, 0, 0, 0, 0, 0, 0, 9, 0xa1, 0x6d, 0xc0]),
      Buffer.from([0xd3, 0, 0, 0, 0, 0, 0, 0, 100]),
    ]);
    assert.deepEqual(decodeMessage(body), {
      kind: "request",
      id: 9,
      method: "m",
      payload: null,
      timeoutMs: 100,
    });
  });

  it("rejects bad bytes with a reason instead of throwing", () => {
    const cases: [Buffer, string][] = [
      [Buffer.alloc(0), "bad_msgpack"],
      [Buffer.from([0xc1]), "bad_shape"],
      [Buffer.from([0x92, 0x01]), "bad_msgpack"],
      [Buffer.concat([plain.pack([4, 1, null]), Buffer.from([0])]), "bad_msgpack"],
      [plain.pack({ kind: 3 }), "bad_shape"],
      [plain.pack([]), "bad_shape"],
      [plain.pack([9, 1]), "unknown_kind"],
      [plain.pack(["3", 1]), "unknown_kind"],
      [plain.pack([3, -1, "m", null, 10]), "bad_shape"],
      [plain.pack([3, 1.5, "m", null, 10]), "bad_shape"],
      [plain.pack([3, 1, 7, null, 10]), "bad_shape"],
      [plain.pack([3, 1, "m", null]), "bad_shape"],
      [plain.pack([3, 1, "m", null, 2 ** 32]), "bad_shape"],
      [plain.pack([5, 1, { code: 1, message: "m" }]), "bad_shape"],
      [plain.pack([5, 1, { code: "ERR_BUSY", message: "m", details: [1] }]), "bad_shape"],
      [plain.pack([0, PROTOCOL_MAGIC, 1]), "bad_shape"],
      [plain.pack([6, 1, null]), "bad_shape"],
      [plain.pack([6, "m"]), "bad_shape"],
      [plain.pack([6, "m", null, 1]), "bad_shape"],
    ];
    for (const [body, reason] of cases) {
      const result = decodeMessage(body);
      assert.equal(result.kind, "rejected", body.toString("hex"));
      assert.equal("reason" in result && result.reason, reason, body.toString("hex"));
    }
  });

  it("decodes Buffers as views of the frame on request, as copies by default", () => {
    const frame = encodeFrame({ kind: "reply", id: 1, payload: Buffer.from("value") });
    const body = frame.subarray(4);
    const view = decodeMessage(body, false);
    const copy = decodeMessage(body);
    assert.ok(view.kind === "reply" && Buffer.isBuffer(view.payload));
    assert.ok(copy.kind === "reply" && Buffer.isBuffer(copy.payload));
    assert.equal(view.payload.buffer, body.buffer);
    assert.notEqual(copy.payload.buffer, body.buffer);
    assert.deepEqual(copy.payload, Buffer.from("value"));
  });

  it("encodes consecutive frames into separate, stable buffers", () => {
    const first = encodeFrame({ kind: "reply", id: 1, payload: "one" });
    const copy = Buffer.from(first);
    encodeFrame({ kind: "reply", id: 2, payload: Buffer.alloc(20_000) });
    encodeFrame({ kind: "reply", id: 3, payload: "three" });
    assert.deepEqual(first, copy);
  });

  it("refuses to encode a bigint wider than 64 bits", () => {
    assert.throws(() => encodeFrame({ kind: "reply", id: 1, payload: 2n ** 64n }), RangeError);
  });
});

describe("remote errors", () => {
  it("keep code, message, details and retriability across the wire", () => {
    const original = new TalariaError("ERR_BUSY", "queue full", {
      details: { limit: "inflightPerConnectionMax" },
      retriable: false,
    });
    const wire = toWireError(original);
    assert.equal(wire.message, "queue full");
    const back = fromWireError(wire, "h:1");
    assert.equal(back.code, "ERR_BUSY");
    assert.equal(back.message, original.message);
    assert.deepEqual(back.details, original.details);
    assert.equal(back.retriable, false);
  });

  it("map a code this build does not know to ERR_INVALID_STATE, keeping it and the peer's flag", () => {
    const error = fromWireError(
      { code: "ERR_FROM_THE_FUTURE", message: "m", details: { a: 1 }, retriable: true },
      "h:1",
    );
    assert.equal(error.code, "ERR_INVALID_STATE");
    assert.equal(error.retriable, true);
    assert.deepEqual(error.details, { remoteCode: "ERR_FROM_THE_FUTURE", remoteDetails: { a: 1 } });
    const noFlag = fromWireError({ code: "ERR_X", message: "m", details: {} }, "h:1");
    assert.equal(noFlag.retriable, false);
    // Inherited Object properties are not codes.
    assert.equal(
      fromWireError({ code: "toString", message: "", details: {} }, "h").code,
      "ERR_INVALID_STATE",
    );
  });
});
