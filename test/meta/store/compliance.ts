/**
 * The one compliance suite every MetaStore implementation passes (embedded.test.ts,
 * zookeeper.test.ts). Each test gets a fresh namespace from the factory: a temp directory, or a
 * random ZooKeeper root path.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ErrorCode } from "../../../src/common/errors.ts";
import { isTalariaError } from "../../../src/common/errors.ts";
import { type MetaOp, type MetaStore, metaStoreLimits } from "../../../src/meta/store/index.ts";

export interface MetaStoreFixture {
  /** Opens a store on this fixture's namespace; later opens see what earlier ones wrote. */
  open(): Promise<MetaStore>;
  /** Removes the namespace (called after every store opened on it is closed). */
  cleanup(): Promise<void>;
}

export type MetaStoreFactory = () => Promise<MetaStoreFixture>;

export const b = (text: string): Buffer => Buffer.from(text, "utf8");

/** Asserts that `promise` rejects with a TalariaError of `code`; returns its details. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<Readonly<Record<string, unknown>>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isTalariaError(error, code), `expected ${code}, got ${String(error)}`);
    return error.details;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

async function dump(store: MetaStore, path = "/"): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (node: string) => {
    for (const name of await store.children(node)) {
      const child = node === "/" ? `/${name}` : `${node}/${name}`;
      out[child] = (await store.get(child))?.toString("utf8") ?? "<missing>";
      await visit(child);
    }
  };
  await visit(path);
  return out;
}

export function runMetaStoreCompliance(name: string, factory: MetaStoreFactory): void {
  /** Runs `body` on a store over a fresh namespace; closes and cleans up afterwards. */
  async function withStore(
    body: (store: MetaStore, fixture: MetaStoreFixture) => Promise<void>,
  ): Promise<void> {
    const fixture = await factory();
    const store = await fixture.open();
    try {
      await body(store, fixture);
    } finally {
      await store.close();
      await fixture.cleanup();
    }
  }

  describe(`MetaStore compliance: ${name}`, () => {
    it("create, get, exists, set and delete a node", () =>
      withStore(async (store) => {
        assert.equal(await store.get("/apps"), undefined);
        assert.equal(await store.exists("/apps"), false);
        await store.create("/apps", b("v1"));
        assert.deepEqual(await store.get("/apps"), b("v1"));
        assert.equal(await store.exists("/apps"), true);
        await store.set("/apps", b("v2"));
        assert.deepEqual(await store.get("/apps"), b("v2"));
        await store.delete("/apps");
        assert.equal(await store.get("/apps"), undefined);
        assert.equal(await store.exists("/apps"), false);
      }));

    it("stores any bytes, including an empty value (which is not a missing node)", () =>
      withStore(async (store) => {
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await store.create("/bytes", all);
        await store.set("/empty", Buffer.alloc(0));
        assert.deepEqual(await store.get("/bytes"), all);
        const empty = await store.get("/empty");
        assert.ok(Buffer.isBuffer(empty));
        assert.equal(empty.length, 0);
        const json = b(JSON.stringify({ remote: "tjsrv", status: "DS_LOG" }));
        await store.set("/bytes", json);
        assert.deepEqual(await store.get("/bytes"), json);
      }));

    it("create of an existing node fails with ERR_OBJECT_EXIST and keeps its value", () =>
      withStore(async (store) => {
        await store.create("/a", b("first"));
        await rejectsWith(store.create("/a", b("second")), "ERR_OBJECT_EXIST");
        assert.deepEqual(await store.get("/a"), b("first"));
      }));

    it("create and set add missing ancestors with empty values", () =>
      withStore(async (store) => {
        await store.create("/talaria/alpha/apps/3/duplication/17", b("dup"));
        for (const ancestor of [
          "/talaria",
          "/talaria/alpha",
          "/talaria/alpha/apps/3/duplication",
        ]) {
          assert.deepEqual(await store.get(ancestor), Buffer.alloc(0), ancestor);
        }
        await store.set("/talaria/alpha/apps/3/duplication/17/0", b("12345"));
        await store.set("/x/y/z", b("z"));
        assert.deepEqual(await store.children("/x"), ["y"]);
        assert.deepEqual(await store.get("/talaria/alpha/apps/3/duplication/17"), b("dup"));
        assert.deepEqual(await store.get("/talaria/alpha/apps/3/duplication/17/0"), b("12345"));
        // An existing ancestor keeps its value.
        await store.set("/p", b("parent"));
        await store.create("/p/q/r", b("r"));
        assert.deepEqual(await store.get("/p"), b("parent"));
      }));

    it("delete of a missing node fails with ERR_OBJECT_NOT_FOUND", () =>
      withStore(async (store) => {
        await rejectsWith(store.delete("/nope"), "ERR_OBJECT_NOT_FOUND");
        await rejectsWith(store.delete("/nope", { recursive: true }), "ERR_OBJECT_NOT_FOUND");
      }));

    it("delete of a node with children fails with ERR_INVALID_STATE unless recursive", () =>
      withStore(async (store) => {
        await store.set("/a/b/c", b("c"));
        await store.set("/a/b/d/e", b("e"));
        await store.set("/a/bc", b("sibling"));
        await store.set("/a/b0", b("sibling2"));
        await rejectsWith(store.delete("/a/b"), "ERR_INVALID_STATE");
        assert.equal(await store.exists("/a/b/c"), true);
        await store.delete("/a/b", { recursive: true });
        assert.deepEqual(await dump(store), { "/a": "", "/a/b0": "sibling2", "/a/bc": "sibling" });
        await store.delete("/a/bc", { recursive: true }); // a leaf, recursively
        assert.deepEqual(await store.children("/a"), ["b0"]);
      }));

    it("children lists direct children only, sorted by bytes, isolated from prefix siblings", () =>
      withStore(async (store) => {
        for (const child of ["9", "10", "b", "a", "B", "_", "a.b"]) {
          await store.set(`/s/${child}`, b(child));
        }
        await store.set("/s/a/deep", b("grandchild"));
        await store.set("/s2/x", b("other"));
        await store.set("/a/b/c", b("c"));
        await store.set("/a/bc/d", b("d"));
        assert.deepEqual(await store.children("/s"), ["10", "9", "B", "_", "a", "a.b", "b"]);
        assert.deepEqual(await store.children("/s/a"), ["deep"]);
        assert.deepEqual(await store.children("/s/a/deep"), []);
        assert.deepEqual(await store.children("/a"), ["b", "bc"]);
        assert.deepEqual(await store.children("/a/b"), ["c"]);
        assert.deepEqual(await store.children("/a/bc"), ["d"]);
        const top = await store.children("/");
        for (const expected of ["a", "s", "s2"]) assert.ok(top.includes(expected), expected);
        assert.deepEqual(
          top.filter((n) => ["a", "s", "s2"].includes(n)),
          ["a", "s", "s2"],
        );
        await rejectsWith(store.children("/missing"), "ERR_OBJECT_NOT_FOUND");
      }));

    it("the root always exists and cannot be written", () =>
      withStore(async (store) => {
        assert.equal(await store.exists("/"), true);
        assert.ok(Buffer.isBuffer(await store.get("/")));
        await rejectsWith(store.create("/", b("x")), "ERR_INVALID_PARAMETERS");
        await rejectsWith(store.set("/", b("x")), "ERR_INVALID_PARAMETERS");
        await rejectsWith(store.delete("/", { recursive: true }), "ERR_INVALID_PARAMETERS");
        await rejectsWith(store.multi([{ op: "delete", path: "/" }]), "ERR_INVALID_PARAMETERS");
      }));

    it("refuses invalid paths with ERR_INVALID_PARAMETERS", () =>
      withStore(async (store) => {
        const bad = [
          "",
          "a",
          "a/b",
          "/a/",
          "//a",
          "/a//b",
          "/a/./b",
          "/a/..",
          "/a\u0000b",
          "/a\nb",
        ];
        for (const path of bad) {
          await rejectsWith(store.get(path), "ERR_INVALID_PARAMETERS");
          await rejectsWith(store.exists(path), "ERR_INVALID_PARAMETERS");
          await rejectsWith(store.children(path), "ERR_INVALID_PARAMETERS");
          await rejectsWith(store.create(path, b("x")), "ERR_INVALID_PARAMETERS");
          await rejectsWith(store.set(path, b("x")), "ERR_INVALID_PARAMETERS");
          await rejectsWith(store.delete(path), "ERR_INVALID_PARAMETERS");
        }
        await rejectsWith(store.get(42 as unknown as string), "ERR_INVALID_PARAMETERS");
        await rejectsWith(store.set("/v", "text" as unknown as Buffer), "ERR_INVALID_PARAMETERS");
        assert.deepEqual(await store.children("/"), []);
      }));

    it("enforces the value and path size limits with ERR_LIMIT_EXCEEDED", () =>
      withStore(async (store) => {
        const big = Buffer.alloc(metaStoreLimits.metaValueBytesMax + 1);
        const details = await rejectsWith(store.set("/big", big), "ERR_LIMIT_EXCEEDED");
        assert.equal(details.limit, "metaValueBytesMax");
        await store.set("/big", big.subarray(1));
        assert.equal((await store.get("/big"))?.length, metaStoreLimits.metaValueBytesMax);
        const long = `/${"x".repeat(metaStoreLimits.metaPathBytesMax)}`;
        await rejectsWith(store.set(long, b("x")), "ERR_LIMIT_EXCEEDED");
        const tooMany: MetaOp[] = Array.from(
          { length: metaStoreLimits.metaMultiOpsMax + 1 },
          (_, i) => ({ op: "set", path: `/m/${i}`, data: b("x") }),
        );
        await rejectsWith(store.multi(tooMany), "ERR_LIMIT_EXCEEDED");
        assert.equal(await store.exists("/m"), false);
      }));

    it("multi applies its ops in order, each seeing the earlier ones", () =>
      withStore(async (store) => {
        await store.set("/apps/1", b("app1"));
        await store.set("/apps/2", b("app2"));
        await store.multi([
          { op: "create", path: "/apps/3/duplication/17", data: b("dup") },
          { op: "set", path: "/apps/3/duplication/17", data: b("dup v2") },
          { op: "create", path: "/apps/3/duplication/17/0", data: b("-1") },
          { op: "set", path: "/apps/3/duplication/17/1", data: b("-1") },
          { op: "delete", path: "/apps/3/duplication/17/1" },
          { op: "set", path: "/apps/1", data: b("app1 v2") },
          { op: "delete", path: "/apps/2" },
          { op: "create", path: "/apps/2", data: b("app2 again") },
        ]);
        assert.deepEqual(await dump(store), {
          "/apps": "",
          "/apps/1": "app1 v2",
          "/apps/2": "app2 again",
          "/apps/3": "",
          "/apps/3/duplication": "",
          "/apps/3/duplication/17": "dup v2",
          "/apps/3/duplication/17/0": "-1",
        });
        await store.multi([]);
      }));

    it("multi is all or nothing: a failing op in the middle leaves nothing changed", () =>
      withStore(async (store) => {
        await store.set("/t/existing", b("keep"));
        await store.set("/t/parent/child", b("c"));
        const before = await dump(store);
        const failing: { ops: MetaOp[]; code: ErrorCode; opIndex: number }[] = [
          {
            ops: [
              { op: "create", path: "/t/new/1", data: b("1") },
              { op: "set", path: "/t/existing", data: b("changed") },
              { op: "create", path: "/t/existing", data: b("dup") },
              { op: "set", path: "/t/new/3", data: b("3") },
            ],
            code: "ERR_OBJECT_EXIST",
            opIndex: 2,
          },
          {
            ops: [
              { op: "set", path: "/u/1", data: b("1") },
              { op: "delete", path: "/t/existing" },
              { op: "delete", path: "/t/missing" },
              { op: "set", path: "/u/2", data: b("2") },
            ],
            code: "ERR_OBJECT_NOT_FOUND",
            opIndex: 2,
          },
          {
            ops: [
              { op: "delete", path: "/t/existing" },
              { op: "delete", path: "/t/parent" },
            ],
            code: "ERR_INVALID_STATE",
            opIndex: 1,
          },
          {
            ops: [
              { op: "create", path: "/t/x", data: b("x") },
              { op: "create", path: "/t/x", data: b("again") },
            ],
            code: "ERR_OBJECT_EXIST",
            opIndex: 1,
          },
          {
            ops: [
              { op: "set", path: "/t/existing", data: b("changed") },
              { op: "set", path: "/t//bad", data: b("x") },
            ],
            code: "ERR_INVALID_PARAMETERS",
            opIndex: -1,
          },
          {
            ops: [
              { op: "set", path: "/t/existing", data: b("changed") },
              { op: "rename", path: "/t/existing" } as unknown as MetaOp,
            ],
            code: "ERR_INVALID_PARAMETERS",
            opIndex: 1,
          },
        ];
        for (const [i, { ops, code, opIndex }] of failing.entries()) {
          const details = await rejectsWith(store.multi(ops), code);
          if (opIndex >= 0) assert.equal(details.opIndex, opIndex, `case ${i}`);
          assert.deepEqual(await dump(store), before, `case ${i}`);
          assert.equal(await store.exists("/u"), false, `case ${i}`);
        }
      }));

    it("recursive delete and multi results survive close and reopen", () =>
      withStore(async (store, fixture) => {
        await store.set("/keep/a", b("a"));
        await store.set("/gone/b", b("b"));
        await store.delete("/gone", { recursive: true });
        await store.multi([
          { op: "create", path: "/keep/b", data: b("b") },
          { op: "set", path: "/keep/a", data: b("a2") },
        ]);
        await store.close();
        const reopened = await fixture.open();
        try {
          assert.deepEqual(await dump(reopened), { "/keep": "", "/keep/a": "a2", "/keep/b": "b" });
        } finally {
          await reopened.close();
        }
      }));

    it("many concurrent writes all land", () =>
      withStore(async (store) => {
        const names = Array.from({ length: 40 }, (_, i) => String(i).padStart(2, "0"));
        await Promise.all(names.map((n) => store.create(`/c/${n}`, b(n))));
        assert.deepEqual(await store.children("/c"), names);
        await Promise.all(names.map((n) => store.set(`/c/${n}`, b(`${n}!`))));
        assert.deepEqual(await store.get("/c/07"), b("07!"));
      }));

    it("fails with ERR_INVALID_STATE after close; close is idempotent", async () => {
      const fixture = await factory();
      const store = await fixture.open();
      await store.set("/a", b("a"));
      await store.close();
      await store.close();
      await rejectsWith(store.get("/a"), "ERR_INVALID_STATE");
      await rejectsWith(store.set("/a", b("b")), "ERR_INVALID_STATE");
      await rejectsWith(store.multi([{ op: "delete", path: "/a" }]), "ERR_INVALID_STATE");
      await rejectsWith(store.children("/"), "ERR_INVALID_STATE");
      await fixture.cleanup();
    });

    it("a lone candidate wins the election, reports itself, and resigns", () =>
      withStore(async (store) => {
        const election = store.election("10.0.0.1:34601");
        assert.equal(election.isLeader(), false);
        await election.campaign();
        await election.campaign(); // again: already leader
        assert.equal(election.isLeader(), true);
        assert.equal(await election.leader(), "10.0.0.1:34601");
        await election.resign();
        assert.equal(election.isLeader(), false);
        assert.equal(await election.leader(), undefined);
        await election.campaign();
        assert.equal(await election.leader(), "10.0.0.1:34601");
      }));
  });
}
