import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../../src/common/errors.ts";
import { childRange, nodeKey } from "../../../src/meta/store/embedded-store.ts";
import {
  ancestorsOf,
  checkNodePath,
  checkPath,
  compareNames,
  joinPath,
  nameOf,
  parentOf,
} from "../../../src/meta/store/meta-path.ts";

const refused = (body: () => void, code = "ERR_INVALID_PARAMETERS") =>
  assert.throws(body, (error) => isTalariaError(error) && error.code === code);

describe("meta paths", () => {
  it("accepts absolute paths with non-empty segments", () => {
    for (const path of ["/", "/a", "/talaria/alpha/apps/3/duplication/17", "/a.b/c-d/_e/é/10"]) {
      checkPath(path);
    }
    checkNodePath("/a");
  });

  it("refuses relative paths, empty segments, trailing slashes, dot segments, control chars", () => {
    for (const path of [
      "",
      "a",
      "/a/",
      "//",
      "/a//b",
      "/.",
      "/a/..",
      "/a\u0000",
      "/\u007f",
      "/\ud83d\ude00",
    ]) {
      refused(() => checkPath(path));
    }
    refused(() => checkPath(undefined));
    refused(() => checkNodePath("/"));
    refused(() => checkPath(`/${"a".repeat(1024)}`), "ERR_LIMIT_EXCEEDED");
  });

  it("splits and joins paths", () => {
    assert.equal(parentOf("/a"), "/");
    assert.equal(parentOf("/a/b/c"), "/a/b");
    assert.equal(nameOf("/a/b/c"), "c");
    assert.deepEqual(ancestorsOf("/a/b/c"), ["/a", "/a/b"]);
    assert.deepEqual(ancestorsOf("/a"), []);
    assert.deepEqual(ancestorsOf("/"), []);
    assert.equal(joinPath("/", "a"), "/a");
    assert.equal(joinPath("/a", "b"), "/a/b");
  });

  it("orders names by UTF-8 bytes", () => {
    assert.deepEqual(["9", "10", "b", "B", "é", "z"].sort(compareNames), [
      "10",
      "9",
      "B",
      "b",
      "z",
      "é",
    ]);
  });

  it("embedded keys: a node's children range holds its children's keys and nothing else", () => {
    const range = childRange("/a/b");
    const inRange = (path: string) => {
      const key = nodeKey(path);
      return Buffer.compare(key, range.start) >= 0 && Buffer.compare(key, range.end) < 0;
    };
    assert.equal(inRange("/a/b/c"), true);
    assert.equal(inRange("/a/b/zzz"), true);
    assert.equal(inRange("/a/b/c/d"), false, "grandchild");
    assert.equal(inRange("/a/b"), false, "itself");
    assert.equal(inRange("/a/bc"), false, "prefix sibling");
    assert.equal(inRange("/a/bc/d"), false, "prefix sibling's child");
    assert.equal(inRange("/a/b0"), false);
    assert.deepEqual(nodeKey("/a"), Buffer.from("\0a"));
    assert.deepEqual(childRange("/"), { start: Buffer.from("\0"), end: Buffer.from("\x01") });
  });
});
