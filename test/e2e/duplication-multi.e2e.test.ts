// End-to-end duplication with three real clusters (alpha, beta, gamma; two replica servers each)
// as child processes: multi-master writes, deletes and increments of the same keys from all three
// clusters over six duplications, tables of 4, 3 and 8 partitions, ending with identical
// full-table checksums; and FAIL_SKIP on a table whose target refuses writes: the refused writes
// become dead letters on the source replica servers and arrive once replayed.
//
// The two tests run concurrently. FAIL_SKIP dead-letters a request after
// dup_fail_skip_after_failures failures, each one a DUPLICATE retried by the client until
// dup_ship_timeout_ms (plus backoff): alpha runs with 3 and 2 s (defaults 10 and 10 s, about two
// minutes) so the dead-letter test waits seconds.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import {
  DeadLetterMethod,
  decodeListDeadLettersResponse,
  decodeReplayDeadLettersResponse,
  type ListDeadLettersResponse,
  type ReplayDeadLettersResponse,
} from "../../src/protocol/dead-letter-messages.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
} from "../../src/protocol/duplication-messages.ts";
import { type CreateAppResponse, MetaMethod } from "../../src/protocol/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import { allHealthy, eventually } from "../server/cluster-support.ts";
import { type E2eOnebox, startE2eOnebox, withReplication } from "./onebox-fixture.ts";

const REPLICA_SERVERS = 2;

let box: E2eOnebox;
let clients: TalariaClient[];
let rpc: RpcClient;

function client(index: number): TalariaClient {
  const c = clients[index];
  assert.ok(c !== undefined);
  return c;
}

async function createTable(
  c: TalariaClient,
  appName: string,
  partitionCount: number,
  envs: Record<string, string> = {},
): Promise<number> {
  const created = (await c.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName, partitionCount, replicaCount: REPLICA_SERVERS, envs },
    10_000,
  )) as CreateAppResponse;
  return created.app.appId;
}

async function addDuplication(
  c: TalariaClient,
  appName: string,
  remoteClusterName: string,
  options: { freezed?: boolean } = {},
): Promise<AddDuplicationResponse> {
  return (await c.metaSession.call(
    DuplicationMethod.ADD,
    { appName, remoteClusterName, ...options },
    60_000,
  )) as AddDuplicationResponse;
}

/** Every row of a table, sorted, with the sha256 of their concatenation. */
async function checksum(c: TalariaClient, table: string): Promise<{ sha: string; rows: string[] }> {
  const rows: string[] = [];
  for await (const kv of c.table(table).scan({ batchSize: 500 }))
    rows.push(`${kv.hashKey.toString("hex")}/${kv.sortKey.toString("hex")}=${kv.value.toString()}`);
  rows.sort();
  return { sha: createHash("sha256").update(rows.join("\n")).digest("hex"), rows };
}

function alphaReplicaServers(): string[] {
  return (box.clusters[0]?.processes ?? [])
    .filter((p) => p.role === "replica")
    .map((p) => p.address);
}

async function listDeadLetters(appId: number, dupid: number): Promise<ListDeadLettersResponse[]> {
  return Promise.all(
    alphaReplicaServers().map(async (address) =>
      decodeListDeadLettersResponse(
        await rpc.call(address, DeadLetterMethod.LIST, { appId, dupid }, { timeoutMs: 5000 }),
      ),
    ),
  );
}

async function replayDeadLetters(
  appId: number,
  dupid: number,
): Promise<ReplayDeadLettersResponse[]> {
  return Promise.all(
    alphaReplicaServers().map(async (address) =>
      decodeReplayDeadLettersResponse(
        await rpc.call(address, DeadLetterMethod.REPLAY, { appId, dupid }, { timeoutMs: 60_000 }),
      ),
    ),
  );
}

before(async () => {
  // Alpha gives up on a refused DUPLICATE sooner than by default (3 tries of 2 s, not 10 of
  // 10 s), so FAIL_SKIP dead-letters within seconds; FAIL_SLOW (the other test) retries anyway.
  box = await startE2eOnebox(3, REPLICA_SERVERS, (plan) =>
    withReplication(plan, "alpha", {
      dupFailSkipAfterFailures: 3,
      dupShipTimeoutMs: 2000,
      dupRetryDelayMaxMs: 1000,
    }),
  );
  clients = box.clusters.map((c) =>
    createClient({ metaServers: [c.metaAddress], timeoutMs: 20_000 }),
  );
  rpc = new RpcClient({ name: "e2e dead letters" });
});
after(async () => {
  await rpc?.close();
  await Promise.all((clients ?? []).map((c) => c.close()));
  await box?.close();
});

describe("three clusters", { concurrency: true }, () => {
  it("multi-master in 3 clusters (4, 3, 8 partitions): concurrent writes, deletes and increments of the same keys end with identical checksums", async () => {
    const partitions = [4, 3, 8];
    await Promise.all(clients.map((c, i) => createTable(c, "mm", partitions[i] ?? 1)));
    for (const c of clients) await eventually("healthy", 60_000, allHealthy(c));
    const names = box.clusters.map((c) => c.name);
    // Every pair, both ways, before any write: the whole tables must match.
    for (const [i, c] of clients.entries()) {
      for (const remote of names) {
        if (remote === names[i]) continue;
        const added = await addDuplication(c, "mm", remote);
        assert.equal(added.status, "DS_LOG", `${names[i]} → ${remote}`);
      }
    }

    const writers = clients.map(async (c, me) => {
      const table = c.table("mm");
      for (let round = 0; round < 8; round++) {
        await Promise.all([
          ...Array.from({ length: 30 }, (_, k) =>
            (k + me + round) % 4 === 0
              ? table.del(`shared-${k}`, "s")
              : table.set(`shared-${k}`, "s", `${names[me]}-r${round}`),
          ),
          table.multiSet(`multi-${round % 3}`, { a: `${names[me]}-${round}`, b: `${round}` }),
          round % 2 === me % 2
            ? table.multiDel(`multi-${(round + 1) % 3}`, ["a"])
            : table.set(`multi-${(round + 1) % 3}`, "c", `${names[me]}`),
          table.incr("counter", "n", 1),
        ]);
      }
      await table.set(`only-${names[me]}`, "s", "mine");
    });
    await Promise.all(writers);

    let last: { sha: string; rows: string[] }[] = [];
    await eventually("identical checksums in the three clusters", 120_000, async () => {
      last = await Promise.all(clients.map((c) => checksum(c, "mm")));
      return last.every((l) => l.rows.length > 0 && l.sha === last[0]?.sha);
    }).catch((error: unknown) => {
      const shown = last.map((l, i) => `${names[i]} ${l.sha}: ${l.rows.join(" ")}`).join("\n");
      throw new Error(`${String(error)}\n${shown}`);
    });
    // Quiescent: still identical a few sync periods later.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const again = await Promise.all(clients.map((c) => checksum(c, "mm")));
    assert.deepEqual(
      again.map((c) => c.sha),
      last.map((c) => c.sha),
    );
    for (const name of names) {
      assert.ok(
        last[0]?.rows.some((row) =>
          row.startsWith(`${Buffer.from(`only-${name}`).toString("hex")}/`),
        ),
        `only-${name} everywhere`,
      );
    }
  });

  it("FAIL_SKIP: writes the target refuses become dead letters, and arrive once replayed", async (t) => {
    const alpha = client(0);
    const beta = client(1);
    const appId = await createTable(alpha, "dl", 2);
    await createTable(beta, "dl", 3, { "replica.deny_client_request": "reconfig*write" });
    await eventually("alpha healthy", 60_000, allHealthy(alpha));
    await eventually("beta healthy", 60_000, allHealthy(beta));
    // Paused first, so the keys below are shipped in one batch per source partition.
    const added = await addDuplication(alpha, "dl", "beta", { freezed: true });
    assert.equal(added.status, "DS_PAUSE");
    await alpha.metaSession.call(
      DuplicationMethod.MODIFY,
      { appName: "dl", dupid: added.dupid, failMode: "FAIL_SKIP" },
      10_000,
    );
    const keys = Array.from({ length: 40 }, (_, k) => `dl-${k}`);
    await Promise.all(keys.map((key) => alpha.table("dl").set(key, "s", `v-${key}`)));
    const resumedAt = Date.now();
    await alpha.metaSession.call(
      DuplicationMethod.MODIFY,
      { appName: "dl", dupid: added.dupid, status: "DS_LOG" },
      10_000,
    );

    let lists: ListDeadLettersResponse[] = [];
    await eventually("every refused key dead-lettered", 240_000, async () => {
      lists = await listDeadLetters(appId, added.dupid);
      return lists.reduce((sum, l) => sum + l.counts.entries, 0) === keys.length;
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(lists)}`);
    });
    t.diagnostic(`dead-lettered ${(Date.now() - resumedAt) / 1000} s after resume`);
    const letters = lists.flatMap((l) => l.letters);
    assert.ok(letters.length > 0);
    for (const letter of letters) {
      assert.equal(letter.dupid, added.dupid);
      assert.equal(letter.gpid.split(".")[0], String(appId));
      assert.ok(letter.entries > 0 && letter.fromDecree <= letter.toDecree);
      // The refusal; or, on a loaded machine, a timeout: the client retries a refused request
      // until the ship deadline, and its last try can run out of time before the refusal comes.
      assert.ok(
        ["ERR_INVALID_STATE", "ERR_TIMEOUT"].includes(letter.error.code),
        `dead letter error ${letter.error.code}`,
      );
    }
    for (const key of keys) assert.equal(await beta.table("dl").get(key, "s"), undefined);

    await beta.metaSession.call(
      MetaMethod.DEL_APP_ENVS,
      { appName: "dl", keys: ["replica.deny_client_request"] },
      10_000,
    );
    const probes = Array.from({ length: 20 }, (_, k) => `probe-${k}`);
    await eventually("beta takes writes again", 30_000, async () => {
      await Promise.all(probes.map((p) => beta.table("dl").set(p, "s", "p", { timeoutMs: 2000 })));
      return true;
    });
    // The duplication moved past its dead letters: a new write ships by itself.
    await alpha.table("dl").set("after-heal", "s", "ok");
    await eventually(
      "a write after healing ships",
      60_000,
      async () => (await beta.table("dl").get("after-heal", "s"))?.toString() === "ok",
    );
    for (const key of keys) assert.equal(await beta.table("dl").get(key, "s"), undefined);

    const replayed = await replayDeadLetters(appId, added.dupid);
    assert.equal(
      replayed.reduce((sum, r) => sum + r.replayedEntries, 0),
      keys.length,
      JSON.stringify(replayed),
    );
    assert.equal(
      replayed.reduce((sum, r) => sum + r.failed + r.notReplayable, 0),
      0,
    );
    for (const key of keys)
      assert.equal((await beta.table("dl").get(key, "s"))?.toString(), `v-${key}`, key);
    const remaining = await listDeadLetters(appId, added.dupid);
    assert.equal(
      remaining.reduce((sum, l) => sum + l.counts.letters, 0),
      0,
    );
  });
});
