import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { open } from "lmdb";
import { EmbeddedMetaStore, PID_FILE } from "../../../src/meta/store/index.ts";
import { b, rejectsWith, runMetaStoreCompliance } from "./compliance.ts";

const WRITER = fileURLToPath(new URL("./crash-writer.ts", import.meta.url));

runMetaStoreCompliance("embedded (lmdb)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "talaria-meta-store-"));
  return {
    open: () => EmbeddedMetaStore.open({ dir: join(dir, "meta") }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "talaria-meta-store-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The raw "nodes" and "info" records, read with lmdb directly. */
async function rawRecords(dir: string): Promise<{ nodes: [string, string][]; version: Buffer }> {
  const root = open({ path: dir, maxDbs: 4, readOnly: true });
  try {
    const options = { keyEncoding: "binary", encoding: "binary", compression: false } as const;
    const nodes = root.openDB<Buffer, Buffer>({ name: "nodes", ...options });
    const info = root.openDB<Buffer, Buffer>({ name: "info", ...options });
    const out: [string, string][] = [];
    for (const { key, value } of nodes.getRange()) out.push([key.toString(), value.toString()]);
    const version = info.get(Buffer.from("formatVersion"));
    assert.ok(version !== undefined);
    return { nodes: out, version: Buffer.from(version) };
  } finally {
    await root.close();
  }
}

describe("embedded meta store", () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) child.kill("SIGKILL");
  });

  it("keys are parent + NUL + name, so children are one contiguous range (format v1)", () =>
    withDir(async (dir) => {
      const store = await EmbeddedMetaStore.open({ dir });
      await store.set("/a/b/c", b("c"));
      await store.set("/a/bc", b("bc"));
      await store.set("/a/b", b("b"));
      await store.set("/b", b("top"));
      await store.close();
      const { nodes, version } = await rawRecords(dir);
      assert.deepEqual(nodes, [
        ["\0a", ""],
        ["\0b", "top"],
        ["/a\0b", "b"],
        ["/a\0bc", "bc"],
        ["/a/b\0c", "c"],
      ]);
      assert.deepEqual(version, Buffer.from([0, 0, 0, 1]));
    }));

  it("refuses a second open of the same directory while the first is open", () =>
    withDir(async (dir) => {
      const first = await EmbeddedMetaStore.open({ dir });
      const details = await rejectsWith(EmbeddedMetaStore.open({ dir }), "ERR_INVALID_STATE");
      assert.equal(details.pid, process.pid);
      assert.equal((await readFile(join(dir, PID_FILE), "utf8")).trim(), String(process.pid));
      await first.close();
      assert.equal(existsSync(join(dir, PID_FILE)), false);
      const second = await EmbeddedMetaStore.open({ dir });
      await second.close();
    }));

  it("takes over a pid file left by a dead process", () =>
    withDir(async (dir) => {
      const dead = spawnSync(process.execPath, ["-e", ""]).pid;
      await writeFile(join(dir, PID_FILE), `${dead}\n`);
      const store = await EmbeddedMetaStore.open({ dir });
      assert.equal((await readFile(join(dir, PID_FILE), "utf8")).trim(), String(process.pid));
      await store.close();
    }));

  it("refuses a store with an unknown format version", () =>
    withDir(async (dir) => {
      await (await EmbeddedMetaStore.open({ dir })).close();
      const root = open({ path: dir, maxDbs: 4 });
      const info = root.openDB<Buffer, Buffer>({
        name: "info",
        keyEncoding: "binary",
        encoding: "binary",
        compression: false,
      });
      await info.put(Buffer.from("formatVersion"), Buffer.from([0, 0, 0, 2]));
      await root.close();
      await rejectsWith(EmbeddedMetaStore.open({ dir }), "ERR_INVALID_VERSION");
      assert.equal(existsSync(join(dir, PID_FILE)), false, "a failed open releases the pid lock");
    }));

  it("kill -9 loses no acknowledged write, and a multi is never half applied", () =>
    withDir(async (dir) => {
      const acked = await new Promise<number[]>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        children.push(child);
        const ids: number[] = [];
        let pending = "";
        let stderr = "";
        const deadline = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`writer acknowledged only ${ids.length} writes in 60 s: ${stderr}`));
        }, 60_000);
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.stdout.on("data", (chunk: Buffer) => {
          pending += chunk.toString();
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines) ids.push(Number(line));
          if (ids.length >= 300 && !child.killed) child.kill("SIGKILL");
        });
        child.on("exit", (_code, signal) => {
          clearTimeout(deadline);
          if (signal === "SIGKILL") resolve(ids);
          else reject(new Error(`writer exited by itself: ${stderr}`));
        });
      });
      // The pid file of the killed writer is stale: the open takes it over.
      const store = await EmbeddedMetaStore.open({ dir });
      try {
        for (const i of acked)
          assert.deepEqual(await store.get(`/w/${i}`), b(`v${i}`), `write ${i}`);
        const written = await store.children("/w");
        const pairs = new Set(await store.children("/pair"));
        for (const name of written) {
          if (Number(name) % 2 === 1) assert.ok(pairs.has(name), `multi ${name} half applied`);
        }
        assert.equal(pairs.size, written.filter((name) => Number(name) % 2 === 1).length);
      } finally {
        await store.close();
      }
    }));
});
