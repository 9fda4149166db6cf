import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UpdateKind } from "../../src/codec/mutation.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  type RecordReader,
  resolveCheckAndMutate,
  resolveCheckAndSet,
  resolveIncr,
  type VisibleRecord,
} from "../../src/replica/atomic-ops.ts";
import { CheckType, evaluateCheck } from "../../src/replica/check-type.ts";
import type { CheckAndSetRequest, IncrRequest } from "../../src/replica/write-request.ts";

const b = (s: string): Buffer => Buffer.from(s);

function readerOf(records: Record<string, VisibleRecord>): RecordReader {
  return (hashKey, sortKey) => records[`${hashKey.toString()}/${sortKey.toString()}`];
}

function incr(increment: bigint, expireTs = 0): IncrRequest {
  return { op: "incr", hashKey: b("h"), sortKey: b("s"), increment, expireTs };
}

describe("incr", () => {
  it("counts a missing record as 0 and stores a decimal", () => {
    const result = resolveIncr(incr(5n), readerOf({}));
    assert.equal(result.newValue, 5n);
    assert.equal(result.update.value.toString(), "5");
    assert.equal(result.update.expireTs, 0);
  });

  it("counts an empty value as 0 and adds to an existing integer", () => {
    assert.equal(
      resolveIncr(incr(2n), readerOf({ "h/s": { value: b(""), expireTs: 0 } })).newValue,
      2n,
    );
    assert.equal(
      resolveIncr(incr(-3n), readerOf({ "h/s": { value: b("10"), expireTs: 0 } })).newValue,
      7n,
    );
  });

  it("applies Pegasus TTL rules: 0 keeps, > 0 sets, < 0 clears", () => {
    const read = readerOf({ "h/s": { value: b("1"), expireTs: 500 } });
    assert.equal(resolveIncr(incr(1n, 0), read).update.expireTs, 500);
    assert.equal(resolveIncr(incr(1n, 900), read).update.expireTs, 900);
    assert.equal(resolveIncr(incr(1n, -1), read).update.expireTs, 0);
  });

  it("rejects a non-integer value and overflow with ERR_INVALID_ARGUMENT", () => {
    for (const [value, increment] of [
      ["abc", 1n],
      ["1.5", 1n],
      [" 1", 1n],
      ["9223372036854775807", 1n],
      ["-9223372036854775808", -1n],
      ["99999999999999999999", 0n],
    ] as const) {
      assert.throws(
        () => resolveIncr(incr(increment), readerOf({ "h/s": { value: b(value), expireTs: 0 } })),
        (error) => isTalariaError(error, "ERR_INVALID_ARGUMENT"),
        `value ${value}`,
      );
    }
    assert.equal(
      resolveIncr(incr(-1n), readerOf({ "h/s": { value: b("-9223372036854775807"), expireTs: 0 } }))
        .newValue,
      -(2n ** 63n),
    );
  });
});

describe("evaluateCheck: all 17 check types", () => {
  const v = b("hello");
  const cases: [keyof typeof CheckType, Buffer | undefined, string, boolean][] = [
    ["NO_CHECK", undefined, "", true],
    ["VALUE_NOT_EXIST", undefined, "", true],
    ["VALUE_NOT_EXIST", v, "", false],
    ["VALUE_NOT_EXIST_OR_EMPTY", b(""), "", true],
    ["VALUE_NOT_EXIST_OR_EMPTY", v, "", false],
    ["VALUE_EXIST", b(""), "", true],
    ["VALUE_EXIST", undefined, "", false],
    ["VALUE_NOT_EMPTY", v, "", true],
    ["VALUE_NOT_EMPTY", b(""), "", false],
    ["VALUE_MATCH_ANYWHERE", v, "ell", true],
    ["VALUE_MATCH_ANYWHERE", v, "", true],
    ["VALUE_MATCH_ANYWHERE", undefined, "", false],
    ["VALUE_MATCH_PREFIX", v, "he", true],
    ["VALUE_MATCH_PREFIX", v, "hello!", false],
    ["VALUE_MATCH_POSTFIX", v, "llo", true],
    ["VALUE_MATCH_POSTFIX", v, "he", false],
    ["VALUE_BYTES_LESS", v, "hellp", true],
    ["VALUE_BYTES_LESS", v, "hello", false],
    ["VALUE_BYTES_LESS_OR_EQUAL", v, "hello", true],
    ["VALUE_BYTES_EQUAL", v, "hello", true],
    ["VALUE_BYTES_EQUAL", undefined, "hello", false],
    ["VALUE_BYTES_GREATER_OR_EQUAL", v, "hell", true],
    ["VALUE_BYTES_GREATER", v, "hello", false],
    ["VALUE_INT_LESS", b("9"), "10", true],
    ["VALUE_INT_LESS_OR_EQUAL", b("10"), "10", true],
    ["VALUE_INT_EQUAL", b("-4"), "-4", true],
    ["VALUE_INT_EQUAL", undefined, "-4", false],
    ["VALUE_INT_GREATER_OR_EQUAL", b("3"), "4", false],
    ["VALUE_INT_GREATER", b("100"), "99", true],
  ];
  for (const [name, current, operand, expected] of cases) {
    it(`${name}(${current?.toString() ?? "<missing>"}, "${operand}") is ${expected}`, () => {
      assert.equal(evaluateCheck(CheckType[name], current, b(operand)), expected);
    });
  }

  it("has NO_CHECK plus the 17 check types, with Pegasus wire values 0..17", () => {
    assert.equal(Object.keys(CheckType).length, 18);
    assert.deepEqual(
      Object.values(CheckType).sort((x, y) => x - y),
      Array.from({ length: 18 }, (_, i) => i),
    );
  });

  it("rejects non-integer operands or values in INT checks with ERR_INVALID_ARGUMENT", () => {
    assert.throws(
      () => evaluateCheck(CheckType.VALUE_INT_LESS, b("1"), b("x")),
      (e) => isTalariaError(e, "ERR_INVALID_ARGUMENT"),
    );
    assert.throws(
      () => evaluateCheck(CheckType.VALUE_INT_LESS, b("x"), b("1")),
      (e) => isTalariaError(e, "ERR_INVALID_ARGUMENT"),
    );
  });
});

describe("checkAndSet / checkAndMutate", () => {
  const base: CheckAndSetRequest = {
    op: "checkAndSet",
    hashKey: b("h"),
    checkSortKey: b("c"),
    checkType: CheckType.VALUE_NOT_EXIST,
    checkOperand: b(""),
    setDiffSortKey: false,
    setSortKey: b("other"),
    setValue: b("v"),
    setExpireTs: 0,
    returnCheckValue: true,
  };

  it("sets the check key when the check passes, or the other sort key when asked", () => {
    const passed = resolveCheckAndSet(base, readerOf({}));
    assert.equal(passed.passed, true);
    assert.ok(passed.passed);
    assert.equal(passed.updates[0]?.kind, UpdateKind.PUT);
    assert.deepEqual(passed.checkValue, { exists: false });
    const diff = resolveCheckAndSet({ ...base, setDiffSortKey: true }, readerOf({}));
    assert.ok(diff.passed);
    const update = diff.updates[0];
    assert.ok(update?.kind === UpdateKind.PUT);
    assert.equal(update.sortKey.toString(), "other");
  });

  it("fails with the current check value when asked, and writes nothing", () => {
    const failed = resolveCheckAndSet(base, readerOf({ "h/c": { value: b("x"), expireTs: 0 } }));
    assert.equal(failed.passed, false);
    assert.deepEqual(failed.checkValue, { exists: true, value: b("x") });
    const silent = resolveCheckAndSet(
      { ...base, returnCheckValue: false },
      readerOf({ "h/c": { value: b("x"), expireTs: 0 } }),
    );
    assert.equal(silent.checkValue, undefined);
  });

  it("checkAndMutate resolves to puts and removes in order", () => {
    const result = resolveCheckAndMutate(
      {
        op: "checkAndMutate",
        hashKey: b("h"),
        checkSortKey: b("c"),
        checkType: CheckType.VALUE_EXIST,
        checkOperand: b(""),
        returnCheckValue: false,
        mutates: [
          { operation: "put", sortKey: b("a"), value: b("1"), expireTs: 7 },
          { operation: "delete", sortKey: b("b"), value: b(""), expireTs: 0 },
        ],
      },
      readerOf({ "h/c": { value: b(""), expireTs: 0 } }),
    );
    assert.ok(result.passed);
    assert.deepEqual(
      result.updates.map((u) => u.kind),
      [UpdateKind.PUT, UpdateKind.REMOVE],
    );
  });
});
