import assert from "node:assert/strict";
import { it } from "node:test";
import { UpdateKind } from "../../src/codec/mutation.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { decodeWriteRequest } from "../../src/replica/index.ts";

const entries = [
  {
    timestampUs: 1_767_225_600_000_000,
    clusterId: 2,
    update: { kind: UpdateKind.REMOVE, hashKey: Buffer.from("h"), sortKey: Buffer.from("s") },
  },
];

it("a DUPLICATE request's resync flag is decoded, absent when false, refused when not a boolean", () => {
  const decoded = decodeWriteRequest({ op: "duplicate", entries, resync: true });
  assert.equal(decoded.op === "duplicate" && decoded.resync, true);
  for (const resync of [false, undefined]) {
    const plain = decodeWriteRequest({ op: "duplicate", entries, resync });
    assert.equal("resync" in plain, false, `resync ${resync} is a plain DUPLICATE`);
  }
  assert.throws(
    () => decodeWriteRequest({ op: "duplicate", entries, resync: "yes" }),
    (error: unknown) => isTalariaError(error, "ERR_INVALID_PARAMETERS"),
  );
});
