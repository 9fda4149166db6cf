/**
 * The core's writes against the real embedded MetaStore, applied the way docs/meta-server.md tells
 * the runtime to: `set` parts through `multi`, `deleteTree` as a recursive delete where a missing
 * node counts as done. Then a restore from everything under the root gives back the same state.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { isTalariaError } from "../../../src/common/errors.ts";
import {
  type MetaAction,
  MetaCore,
  type MetaRecord,
  type MetaRequest,
  type MetaStoreWrite,
} from "../../../src/meta/core/index.ts";
import { EmbeddedMetaStore, type MetaStore } from "../../../src/meta/store/index.ts";
import { MetaMethod } from "../../../src/protocol/index.ts";
import { nodes } from "./harness.ts";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function apply(store: MetaStore, writes: readonly MetaStoreWrite[]): Promise<void> {
  const [first] = writes;
  if (first?.op === "deleteTree") {
    try {
      await store.delete(first.path, { recursive: true });
    } catch (error) {
      if (!isTalariaError(error, "ERR_OBJECT_NOT_FOUND")) throw error;
    }
    return;
  }
  await store.multi(
    writes.map((write) => {
      assert.equal(write.op, "set");
      return write as Extract<MetaStoreWrite, { op: "set" }>;
    }),
  );
}

async function readAll(
  store: MetaStore,
  path: string,
  out: MetaRecord[] = [],
): Promise<MetaRecord[]> {
  const value = await store.get(path);
  if (value === undefined) return out;
  out.push({ path, value });
  for (const child of await store.children(path)) await readAll(store, `${path}/${child}`, out);
  return out;
}

/** Carries out actions in order, feeding persist outcomes back, until none are left. */
async function run(core: MetaCore, store: MetaStore, actions: MetaAction[], nowMs: number) {
  const replies: MetaAction[] = [];
  const queue = [...actions];
  while (queue.length > 0) {
    const action = queue.shift() as MetaAction;
    if (action.type === "reply") {
      replies.push(action);
      continue;
    }
    await apply(store, action.writes);
    queue.push(...core.step({ type: "persisted", nowMs, opId: action.opId }));
  }
  return replies;
}

it("core writes apply to the embedded meta store and restore to the same state", async () => {
  const dir = await mkdtemp(join(tmpdir(), "talaria-meta-core-"));
  dirs.push(dir);
  const store = await EmbeddedMetaStore.open({ dir });
  try {
    const core = MetaCore.create({ holdSecondsForDroppedApp: 60 });
    let nowMs = 1_000_000;
    for (const node of nodes(3)) core.beacon({ node, replicas: [] }, nowMs);
    let requestId = 0;
    const call = (request: MetaRequest) =>
      run(
        core,
        store,
        core.step({ type: "request", nowMs, requestId: ++requestId, request }),
        nowMs,
      );

    const created = await call({
      method: MetaMethod.CREATE_APP,
      body: { appName: "big", partitionCount: 600, replicaCount: 3 },
    });
    assert.equal(created.length, 1);
    await call({
      method: MetaMethod.CREATE_APP,
      body: { appName: "gone", partitionCount: 4, replicaCount: 2 },
    });
    await call({
      method: MetaMethod.SET_APP_ENVS,
      body: { appName: "big", envs: { default_ttl: "60" } },
    });
    await call({ method: MetaMethod.DROP_APP, body: { appName: "gone" } });
    const restoredBefore = MetaCore.restore(await readAll(store, "/talaria"));
    assert.deepEqual(restoredBefore.restoreReport.problems, []);
    assert.deepEqual(restoredBefore.durableState(), core.durableState());

    nowMs += 61_000;
    for (const node of nodes(3)) core.beacon({ node, replicas: [] }, nowMs);
    await run(core, store, core.tick(nowMs), nowMs);
    assert.deepEqual(
      core.listApps().apps.map((a) => a.appName),
      ["big"],
    );
    assert.equal(await store.exists("/talaria/apps/2"), false);
    // Repeating the removal (an unknown outcome retried) is harmless.
    await apply(store, [{ op: "deleteTree", path: "/talaria/apps/2" }]);

    const restored = MetaCore.restore(await readAll(store, "/talaria"));
    assert.deepEqual(restored.restoreReport.problems, []);
    assert.deepEqual(restored.durableState(), core.durableState());
  } finally {
    await store.close();
  }
});
