import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeMutation,
  encodedMutationBytes,
  encodedUpdateBytes,
  encodeMutation,
  MUTATION_FORMAT_VERSION,
  type Mutation,
  UpdateKind,
} from "../../src/codec/index.ts";
import { AssertionError } from "../../src/common/assert.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { arbMutation, arbUpdate } from "../support/arbitraries.ts";

const b = (text: string): Buffer => Buffer.from(text, "utf8");

const sample: Mutation = {
  ballot: 3,
  decree: 42,
  timestampUs: 1_700_000_000_000_000,
  updates: [
    { kind: UpdateKind.PUT, hashKey: b("h"), sortKey: b("s"), value: b("v"), expireTs: 9 },
    {
      kind: UpdateKind.DUPLICATE,
      entries: [
        {
          timestampUs: 5,
          clusterId: 2,
          update: { kind: UpdateKind.REMOVE, hashKey: b("h"), sortKey: b("s") },
        },
      ],
    },
  ],
};

/** Header: version, ballot, decree, timestampUs, updateCount. */
const HEADER_BYTES = 1 + 8 + 8 + 8 + 4;

function header(updateCount: number, version = MUTATION_FORMAT_VERSION): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeUInt8(version, 0);
  out.writeUInt32BE(updateCount, 25);
  return out;
}

function assertInvalidData(bytes: Uint8Array): void {
  assert.throws(
    () => decodeMutation(bytes),
    (error) => isTalariaError(error, "ERR_INVALID_DATA"),
  );
}

/** The decoder's whole contract on arbitrary input: a mutation that re-encodes to the same bytes, or a TalariaError. */
function decodesCanonicallyOrRejects(bytes: Uint8Array): void {
  let decoded: Mutation;
  try {
    decoded = decodeMutation(bytes);
  } catch (error) {
    assert.ok(isTalariaError(error), `non-Talaria error: ${String(error)}`);
    assert.ok(error.code === "ERR_INVALID_DATA" || error.code === "ERR_INVALID_VERSION");
    return;
  }
  assert.deepEqual(encodeMutation(decoded), Buffer.from(bytes));
}

describe("mutation codec", () => {
  it("round-trips arbitrary mutations", () => {
    fc.assert(
      fc.property(arbMutation(), (mutation) => {
        const encoded = encodeMutation(mutation);
        assert.equal(encoded.length, encodedMutationBytes(mutation));
        assert.deepStrictEqual(decodeMutation(encoded), mutation);
      }),
      { numRuns: 500 },
    );
  });

  it("sizes each update exactly (sum of updates plus the header)", () => {
    fc.assert(
      fc.property(fc.array(arbUpdate, { maxLength: 5 }), (updates) => {
        const mutation: Mutation = { ballot: 1, decree: 1, timestampUs: 1, updates };
        const sum = updates.reduce((total, update) => total + encodedUpdateBytes(update), 0);
        assert.equal(encodeMutation(mutation).length, HEADER_BYTES + sum);
      }),
    );
  });

  it("round-trips empty update lists, empty kv lists and the largest safe integers", () => {
    const mutation: Mutation = {
      ballot: Number.MAX_SAFE_INTEGER,
      decree: Number.MAX_SAFE_INTEGER,
      timestampUs: 0,
      updates: [
        { kind: UpdateKind.MULTI_PUT, hashKey: b(""), kvs: [], expireTs: 0xffff_ffff },
        { kind: UpdateKind.MULTI_REMOVE, hashKey: b("h"), sortKeys: [] },
        { kind: UpdateKind.DUPLICATE, entries: [] },
      ],
    };
    assert.deepStrictEqual(decodeMutation(encodeMutation(mutation)), mutation);
    const none: Mutation = { ballot: 0, decree: 0, timestampUs: 0, updates: [] };
    assert.deepStrictEqual(decodeMutation(encodeMutation(none)), none);
  });

  it("decodes zero-copy: returned buffers alias the input", () => {
    const encoded = encodeMutation(sample);
    const decoded = decodeMutation(encoded);
    const put = decoded.updates[0];
    assert.equal(put?.kind, UpdateKind.PUT);
    if (put?.kind !== UpdateKind.PUT) return;
    assert.equal(put.value.buffer, encoded.buffer);
    encoded[put.value.byteOffset - encoded.byteOffset] = "w".charCodeAt(0);
    assert.deepEqual(put.value, b("w"));
  });

  it("decodes from a Uint8Array view at a non-zero offset", () => {
    const encoded = encodeMutation(sample);
    const backing = new Uint8Array(encoded.length + 7);
    backing.set(encoded, 3);
    assert.deepStrictEqual(decodeMutation(backing.subarray(3, 3 + encoded.length)), sample);
  });

  it("rejects an unknown format version with ERR_INVALID_VERSION", () => {
    for (const version of [0, 2, 255]) {
      const encoded = encodeMutation(sample);
      encoded[0] = version;
      assert.throws(
        () => decodeMutation(encoded),
        (error) =>
          isTalariaError(error, "ERR_INVALID_VERSION") && error.details.version === version,
      );
    }
  });

  it("rejects empty input, every truncation and trailing bytes with ERR_INVALID_DATA", () => {
    const encoded = encodeMutation(sample);
    for (let length = 0; length < encoded.length; length++) {
      assertInvalidData(encoded.subarray(0, length));
    }
    assertInvalidData(Buffer.concat([encoded, Buffer.of(0)]));
  });

  it("rejects unknown kinds, nested DUPLICATE or EMPTY, and bad cluster ids", () => {
    assertInvalidData(Buffer.concat([header(1), Buffer.of(0)]));
    assertInvalidData(Buffer.concat([header(1), Buffer.of(7)]));
    const entry = (clusterId: number, kind: number, body: Buffer): Buffer =>
      Buffer.concat([
        Buffer.of(UpdateKind.DUPLICATE, 0, 0, 0, 1),
        Buffer.alloc(8),
        Buffer.of(clusterId, kind),
        body,
      ]);
    const removeBody = Buffer.alloc(2 + 4); // empty hash key and sort key
    const emptyDuplicate = Buffer.of(UpdateKind.DUPLICATE, 0, 0, 0, 0);
    // Sanity: the well-formed variant decodes, so each rejection below is for the stated reason.
    const ok = Buffer.concat([header(1), entry(1, UpdateKind.REMOVE, removeBody)]);
    assert.equal(decodeMutation(ok).updates.length, 1);
    assertInvalidData(Buffer.concat([header(1), entry(1, UpdateKind.DUPLICATE, emptyDuplicate)]));
    assertInvalidData(Buffer.concat([header(1), entry(1, UpdateKind.EMPTY, Buffer.alloc(0))]));
    assertInvalidData(Buffer.concat([header(1), entry(128, UpdateKind.REMOVE, removeBody)]));
    assertInvalidData(Buffer.concat([header(1), entry(0, UpdateKind.REMOVE, removeBody)]));
  });

  it("rejects u64 fields above Number.MAX_SAFE_INTEGER", () => {
    const encoded = encodeMutation(sample);
    for (const offset of [1, 9, 17]) {
      const bad = Buffer.from(encoded);
      bad.writeBigUInt64BE(BigInt(Number.MAX_SAFE_INTEGER) + 1n, offset);
      assertInvalidData(bad);
    }
  });

  it("rejects counts and lengths past the end without looping over them", () => {
    assertInvalidData(header(0xffff_ffff));
    const put = Buffer.of(UpdateKind.PUT, 0, 0, 0xff, 0xff, 0xff, 0xff);
    assertInvalidData(Buffer.concat([header(1), put]));
    const multiRemove = Buffer.of(UpdateKind.MULTI_REMOVE, 0, 0, 0xff, 0xff, 0xff, 0xff);
    assertInvalidData(Buffer.concat([header(1), multiRemove]));
  });

  it("asserts on values the format cannot hold", () => {
    const bad = (mutation: Mutation): void => {
      assert.throws(() => encodeMutation(mutation), AssertionError);
    };
    bad({ ...sample, decree: 2 ** 53 });
    bad({ ...sample, ballot: -1 });
    bad({ ...sample, timestampUs: 1.5 });
    const put = { kind: UpdateKind.PUT, hashKey: b(""), sortKey: b(""), value: b("") } as const;
    bad({ ...sample, updates: [{ ...put, expireTs: 2 ** 32 }] });
    const entry = { timestampUs: 1, clusterId: 128, update: { ...put, expireTs: 0 } };
    bad({ ...sample, updates: [{ kind: UpdateKind.DUPLICATE, entries: [entry] }] });
    const longHashKey = Buffer.alloc(65_536);
    assert.throws(
      () => encodeMutation({ ...sample, updates: [{ ...put, hashKey: longHashKey, expireTs: 0 }] }),
      (error) => isTalariaError(error, "ERR_INVALID_HASH_KEY"),
    );
  });
});

describe("mutation decoder on hostile input", () => {
  it("random bytes decode canonically or throw a TalariaError", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodesCanonicallyOrRejects), {
      numRuns: 1000,
    });
  });

  it("random bytes behind a valid header decode canonically or throw a TalariaError", () => {
    const arbBody = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 200 }));
    fc.assert(
      fc.property(arbBody, ([count, body]) => {
        decodesCanonicallyOrRejects(Buffer.concat([header(count), body]));
      }),
      { numRuns: 1000 },
    );
  });

  it("every truncation of a valid encoding throws ERR_INVALID_DATA", () => {
    fc.assert(
      fc.property(arbMutation(), fc.nat(), (mutation, cut) => {
        const encoded = encodeMutation(mutation);
        assertInvalidData(encoded.subarray(0, cut % encoded.length));
      }),
    );
  });

  it("bit-flipped valid encodings decode canonically or throw a TalariaError", () => {
    const arbFlips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), {
      minLength: 1,
      maxLength: 3,
    });
    fc.assert(
      fc.property(arbMutation(), arbFlips, (mutation, flips) => {
        const encoded = encodeMutation(mutation);
        for (const [index, bit] of flips) {
          const at = index % encoded.length;
          encoded[at] = (encoded[at] as number) ^ (1 << bit);
        }
        decodesCanonicallyOrRejects(encoded);
      }),
      { numRuns: 1000 },
    );
  });
});
