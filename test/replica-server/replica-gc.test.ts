import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  deleteExpiredStale,
  deleteLeftoverGarbage,
  deleteReplicaDirs,
  replicaDirsOf,
  retireReplicaDir,
} from "../../src/replica-server/replica-gc.ts";

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A data directory holding the named directories (each with a file) and files. */
function dataDir(dirs: readonly string[], files: readonly string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), "talaria-gc-"));
  roots.push(root);
  for (const name of dirs) {
    mkdirSync(join(root, name, "data"), { recursive: true });
    writeFileSync(join(root, name, "data", "data.mdb"), "x");
  }
  for (const name of files) writeFileSync(join(root, name), "x");
  return root;
}

describe("replica gc", () => {
  it("names only the replica directories of the given tables", async () => {
    const dir = dataDir(["3.0", "3.1", "13.0", "30.2", "3.0.gar", "3.x", "notes"], ["3.2"]);
    assert.deepEqual(await replicaDirsOf(dir, new Set([3])), ["3.0", "3.1"]);
    assert.deepEqual(await replicaDirsOf(dir, new Set([13, 30])), ["13.0", "30.2"]);
    assert.deepEqual(await replicaDirsOf(dir, new Set([4])), []);
  });

  it("deletes the named directories and nothing else", async () => {
    const dir = dataDir(["3.0", "3.1", "4.0"], ["3.2"]);
    assert.equal(await deleteReplicaDirs(dir, ["3.0", "3.1"]), 2);
    assert.deepEqual(readdirSync(dir).sort(), ["3.2", "4.0"]);
    // A name that is gone meanwhile is a logged failure, not a throw.
    assert.equal(await deleteReplicaDirs(dir, ["3.0"]), 0);
  });

  it("deletes what a crash left half-deleted, and only that", async () => {
    const dir = dataDir(["3.0.gar", "12.4.gar", "3.1", "x.gar", "3.gar"], ["5.0.gar"]);
    assert.deepEqual(await deleteLeftoverGarbage(dir), ["12.4.gar", "3.0.gar"]);
    assert.deepEqual(readdirSync(dir).sort(), ["3.1", "3.gar", "5.0.gar", "x.gar"]);
  });

  it("moves a stale replica aside and deletes it only after its hold period", async () => {
    const dir = dataDir(["3.0", "3.1", "4.0.1000.stale", "x.1.stale"], ["5.0.1.stale"]);
    assert.equal(await retireReplicaDir(dir, "3.0", 5_000), "3.0.5000.stale");
    assert.deepEqual(await replicaDirsOf(dir, new Set([3])), ["3.1"], "no longer opened");
    // Hold 10 s: at 12 s only the one retired at 1 s is due.
    assert.deepEqual(await deleteExpiredStale(dir, 12_000, 10_000), ["4.0.1000.stale"]);
    assert.deepEqual(await deleteExpiredStale(dir, 14_999, 10_000), []);
    assert.deepEqual(await deleteExpiredStale(dir, 15_000, 10_000), ["3.0.5000.stale"]);
    assert.deepEqual(readdirSync(dir).sort(), ["3.1", "5.0.1.stale", "x.1.stale"]);
  });
});
