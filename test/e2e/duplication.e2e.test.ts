// End-to-end duplication between two real clusters (onebox --clusters 2): incremental
// duplication of a live table with mismatched partition counts, pause/resume, and multi-master
// writes to the same keys converging to identical tables.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
} from "../../src/protocol/duplication-messages.ts";
import { MetaMethod } from "../../src/protocol/index.ts";
import { allHealthy, eventually, writeLoad } from "../server/cluster-support.ts";
import { type E2eOnebox, startE2eOnebox } from "./onebox-fixture.ts";

let box: E2eOnebox;
let alpha: TalariaClient;
let beta: TalariaClient;

async function dump(client: TalariaClient, table: string): Promise<string[]> {
  const rows: string[] = [];
  for await (const kv of client.table(table).scan({ batchSize: 500 }))
    rows.push(`${kv.hashKey}/${kv.sortKey}=${kv.value}`);
  return rows.sort();
}

before(async () => {
  box = await startE2eOnebox(2, 3);
  alpha = createClient({ metaServers: [box.clusters[0]?.metaAddress ?? ""], timeoutMs: 20_000 });
  beta = createClient({ metaServers: [box.clusters[1]?.metaAddress ?? ""], timeoutMs: 20_000 });
  await alpha.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "t", partitionCount: 4, replicaCount: 3 },
    10_000,
  );
  await beta.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "t", partitionCount: 3, replicaCount: 3 },
    10_000,
  );
  await eventually("alpha healthy", 30_000, allHealthy(alpha));
  await eventually("beta healthy", 30_000, allHealthy(beta));
});
after(async () => {
  await alpha?.close();
  await beta?.close();
  await box?.close();
});

it("duplicates a live table 4 → 3 partitions: every write acknowledged after add arrives", async () => {
  for (let i = 0; i < 50; i++) await alpha.table("t").set(`before-${i}`, "s", `${i}`);
  const load = writeLoad(alpha, "t", 4, "live");
  await new Promise((resolve) => setTimeout(resolve, 500));
  const added = (await alpha.metaSession.call(
    DuplicationMethod.ADD,
    { appName: "t", remoteClusterName: "beta" },
    60_000,
  )) as AddDuplicationResponse;
  assert.equal(added.status, "DS_LOG");
  const afterAdd = writeLoad(alpha, "t", 4, "after");
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await load.stop();
  const acked = await afterAdd.stop();
  assert.ok(acked.length > 20);
  await eventually("every write acknowledged after add on beta", 60_000, async () => {
    for (const n of acked)
      if ((await beta.table("t").get(`after-${n}`, "s"))?.toString() !== `v${n}`) return false;
    return true;
  });

  await alpha.metaSession.call(
    DuplicationMethod.MODIFY,
    { appName: "t", dupid: added.dupid, status: "DS_PAUSE" },
    10_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 4000));
  await alpha.table("t").set("paused", "s", "x");
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.equal(await beta.table("t").get("paused", "s"), undefined, "nothing ships while paused");
  await alpha.metaSession.call(
    DuplicationMethod.MODIFY,
    { appName: "t", dupid: added.dupid, status: "DS_LOG" },
    10_000,
  );
  await eventually(
    "the write made while paused ships after resume",
    60_000,
    async () => (await beta.table("t").get("paused", "s"))?.toString() === "x",
  );
});

it("multi-master: concurrent writes to the same keys in both clusters converge to identical tables", async () => {
  // A fresh table duplicated both ways before any write, so the whole table must match.
  await alpha.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "mm", partitionCount: 4, replicaCount: 3 },
    10_000,
  );
  await beta.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: "mm", partitionCount: 2, replicaCount: 3 },
    10_000,
  );
  await eventually("alpha healthy", 30_000, allHealthy(alpha));
  await eventually("beta healthy", 30_000, allHealthy(beta));
  await alpha.metaSession.call(
    DuplicationMethod.ADD,
    { appName: "mm", remoteClusterName: "beta" },
    60_000,
  );
  await beta.metaSession.call(
    DuplicationMethod.ADD,
    { appName: "mm", remoteClusterName: "alpha" },
    60_000,
  );
  const writers = [alpha, beta].map(async (client, c) => {
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, k) =>
          k % 3 === round % 3
            ? client.table("mm").del(`shared-${k}`, "s")
            : client.table("mm").set(`shared-${k}`, "s", `c${c}-r${round}`),
        ),
      );
    }
    await client.table("mm").set(`only-${c}`, "s", "mine");
  });
  await Promise.all(writers);
  let last: [string[], string[]] = [[], []];
  await eventually("both clusters identical", 90_000, async () => {
    last = await Promise.all([dump(alpha, "mm"), dump(beta, "mm")]);
    return last[0].length > 0 && JSON.stringify(last[0]) === JSON.stringify(last[1]);
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}\nalpha: ${last[0].join(" ")}\nbeta:  ${last[1].join(" ")}`);
  });
  assert.ok(last[0].includes("only-0/s=mine") && last[0].includes("only-1/s=mine"));
});
