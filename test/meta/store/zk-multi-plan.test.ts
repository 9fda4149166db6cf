import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../../src/common/errors.ts";
import { planMulti } from "../../../src/meta/store/zk-multi-plan.ts";

const b = (text: string) => Buffer.from(text);
const EMPTY = Buffer.alloc(0);

/** A fake tree: the set of paths that exist; records what the plan asked. */
function tree(paths: string[]) {
  const present = new Set(paths);
  const asked: string[] = [];
  return {
    asked,
    exists: async (path: string) => {
      asked.push(path);
      return present.has(path);
    },
  };
}

describe("ZooKeeper multi planning", () => {
  it("set becomes setData on an existing node and create (with ancestors) otherwise", async () => {
    const zk = tree(["/apps", "/apps/1"]);
    const plan = await planMulti(
      [
        { op: "set", path: "/apps/1", data: b("x") },
        { op: "set", path: "/apps/3/duplication/17", data: b("d") },
        { op: "set", path: "/apps/3/duplication/17", data: b("d2") },
      ],
      zk.exists,
    );
    assert.deepEqual(plan.txn, [
      { kind: "setData", path: "/apps/1", data: b("x") },
      { kind: "create", path: "/apps/3", data: EMPTY },
      { kind: "create", path: "/apps/3/duplication", data: EMPTY },
      { kind: "create", path: "/apps/3/duplication/17", data: b("d") },
      { kind: "setData", path: "/apps/3/duplication/17", data: b("d2") },
    ]);
    assert.deepEqual(plan.owner, [0, 1, 1, 1, 2]);
    assert.equal(new Set(zk.asked).size, zk.asked.length, "each path is read at most once");
  });

  it("sees deletes earlier in the batch, including for descendants", async () => {
    const zk = tree(["/a", "/a/b"]);
    const plan = await planMulti(
      [
        { op: "delete", path: "/a/b" },
        { op: "create", path: "/a/b", data: b("again") },
        { op: "delete", path: "/a/b" },
        { op: "delete", path: "/a" },
        { op: "set", path: "/a/c", data: b("c") },
      ],
      zk.exists,
    );
    assert.deepEqual(
      plan.txn.map((op) => `${op.kind} ${op.path}`),
      ["remove /a/b", "create /a/b", "remove /a/b", "remove /a", "create /a", "create /a/c"],
    );
    assert.deepEqual(zk.asked, ["/a/b", "/a"], "nothing under a deleted node is read");
  });

  it("fails before sending anything on a create of an existing node or a delete of a missing one", async () => {
    const zk = tree(["/x"]);
    await assert.rejects(
      planMulti(
        [
          { op: "set", path: "/y", data: b("y") },
          { op: "create", path: "/x", data: b("x") },
        ],
        zk.exists,
      ),
      (error) => isTalariaError(error, "ERR_OBJECT_EXIST") && error.details.opIndex === 1,
    );
    await assert.rejects(
      planMulti([{ op: "delete", path: "/x/missing" }], zk.exists),
      (error) => isTalariaError(error, "ERR_OBJECT_NOT_FOUND") && error.details.opIndex === 0,
    );
  });
});
