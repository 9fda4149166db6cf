/**
 * Golden fixtures for mutation format v1. The hex in test/fixtures/codec/mutation-v1.json is the
 * format: if an encoder change alters any byte, this test fails. Bytes written by an old build must
 * stay readable, so a deliberate format change means a new version (and a new fixture file), never
 * a rewrite of this one. `UPDATE_FIXTURES=1` regenerates the file — only for adding new cases.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  decodeMutation,
  encodeMutation,
  MUTATION_FORMAT_VERSION,
  type Mutation,
  UpdateKind,
} from "../../src/codec/index.ts";

const FIXTURE_URL = new URL("../fixtures/codec/mutation-v1.json", import.meta.url);

interface GoldenFile {
  readonly formatVersion: number;
  readonly cases: Readonly<Record<string, string>>;
}

const b = (text: string): Buffer => Buffer.from(text, "utf8");
const bytes = (...values: number[]): Buffer => Buffer.from(values);

/** Realistic header values; `large` pins the u64 layout above 2^32. */
const at = (decree: number, updates: Mutation["updates"]): Mutation => ({
  ballot: 7,
  decree,
  timestampUs: 1_717_171_717_171_717,
  updates,
});

const goldenCases: Readonly<Record<string, Mutation>> = {
  put: at(1, [
    {
      kind: UpdateKind.PUT,
      hashKey: b("user_1"),
      sortKey: b("name"),
      value: b("ada"),
      expireTs: 0,
    },
  ]),
  "put-ttl-non-ascii": at(2, [
    {
      kind: UpdateKind.PUT,
      hashKey: b("键"),
      sortKey: bytes(0x00, 0xff, 0x80),
      value: b("värde ✓"),
      expireTs: 269_000_000,
    },
  ]),
  "put-empty-buffers": at(3, [
    { kind: UpdateKind.PUT, hashKey: b(""), sortKey: b(""), value: b(""), expireTs: 0 },
  ]),
  remove: at(4, [{ kind: UpdateKind.REMOVE, hashKey: b("user_1"), sortKey: b("name") }]),
  "multi-put": at(5, [
    {
      kind: UpdateKind.MULTI_PUT,
      hashKey: b("h"),
      kvs: [
        { sortKey: b("a"), value: b("1") },
        { sortKey: b(""), value: bytes(0xde, 0xad, 0xbe, 0xef) },
      ],
      expireTs: 0xffff_ffff,
    },
  ]),
  "multi-remove": at(6, [
    { kind: UpdateKind.MULTI_REMOVE, hashKey: b("h"), sortKeys: [b("a"), b(""), b("ñ")] },
  ]),
  duplicate: at(7, [
    {
      kind: UpdateKind.DUPLICATE,
      entries: [
        {
          timestampUs: 1_717_171_717_000_001,
          clusterId: 1,
          update: {
            kind: UpdateKind.PUT,
            hashKey: b("k"),
            sortKey: b("s"),
            value: b("v"),
            expireTs: 5,
          },
        },
        {
          timestampUs: 1_717_171_717_000_002,
          clusterId: 2,
          update: { kind: UpdateKind.REMOVE, hashKey: b("k"), sortKey: b("s") },
        },
        {
          timestampUs: 1_717_171_717_000_003,
          clusterId: 127,
          update: {
            kind: UpdateKind.MULTI_PUT,
            hashKey: b("k"),
            kvs: [{ sortKey: b("x"), value: b("y") }],
            expireTs: 0,
          },
        },
        {
          timestampUs: 0,
          clusterId: 64,
          update: { kind: UpdateKind.MULTI_REMOVE, hashKey: b(""), sortKeys: [b("x")] },
        },
      ],
    },
  ]),
  "duplicate-resync": at(9, [
    {
      kind: UpdateKind.DUPLICATE,
      entries: [
        {
          timestampUs: 1_717_171_717_000_004,
          clusterId: 3,
          update: { kind: UpdateKind.REMOVE, hashKey: b("k"), sortKey: b("r") },
        },
      ],
      resync: true,
    },
  ]),
  empty: {
    ballot: 2,
    decree: 8,
    timestampUs: 1_717_171_717_171_718,
    updates: [{ kind: UpdateKind.EMPTY }],
  },
  "no-updates": { ballot: 0, decree: 0, timestampUs: 0, updates: [] },
  large: {
    ballot: 0x1_0000_0001,
    decree: Number.MAX_SAFE_INTEGER,
    timestampUs: 2 ** 52 + 3,
    updates: [
      { kind: UpdateKind.EMPTY },
      { kind: UpdateKind.REMOVE, hashKey: bytes(0xff), sortKey: Buffer.alloc(300, 0xab) },
    ],
  },
};

function loadGolden(): GoldenFile {
  if (process.env.UPDATE_FIXTURES === "1") {
    const cases: Record<string, string> = {};
    for (const [name, mutation] of Object.entries(goldenCases)) {
      cases[name] = encodeMutation(mutation).toString("hex");
    }
    const file: GoldenFile = { formatVersion: MUTATION_FORMAT_VERSION, cases };
    writeFileSync(FIXTURE_URL, `${JSON.stringify(file, null, 2)}\n`);
  }
  return JSON.parse(readFileSync(FIXTURE_URL, "utf8")) as GoldenFile;
}

describe("mutation format v1 golden fixtures", () => {
  const golden = loadGolden();

  it("is the fixture file for the current format version", () => {
    assert.equal(golden.formatVersion, MUTATION_FORMAT_VERSION);
  });

  it("covers exactly the hand-built cases", () => {
    assert.deepEqual(Object.keys(golden.cases).sort(), Object.keys(goldenCases).sort());
  });

  for (const [name, mutation] of Object.entries(goldenCases)) {
    it(`${name}: encodes to the stored bytes and decodes back`, () => {
      const hex = golden.cases[name];
      assert.ok(hex !== undefined, `fixture ${name} missing; run with UPDATE_FIXTURES=1`);
      assert.equal(encodeMutation(mutation).toString("hex"), hex);
      assert.deepStrictEqual(decodeMutation(Buffer.from(hex, "hex")), mutation);
    });
  }

  it("matches the layout documented in mutation-codec.ts (spelled out by hand)", () => {
    const expected = [
      "01", // version
      "0000000000000007", // ballot
      "0000000000000004", // decree
      "000619c232386a05", // timestampUs 1_717_171_717_171_717
      "00000001", // updateCount
      "02", // kind REMOVE
      "0006", // hashKey length
      "757365725f31", // "user_1"
      "00000004", // sortKey length
      "6e616d65", // "name"
    ].join("");
    assert.equal(encodeMutation(goldenCases.remove as Mutation).toString("hex"), expected);
  });
});
