import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { CheckType } from "../../src/replica/index.ts";
import { FilterType } from "../../src/storage/types.ts";
import { type FakeCluster, startFakeCluster } from "./fake-cluster.ts";

let cluster: FakeCluster;
let client: TalariaClient;

before(async () => {
  cluster = await startFakeCluster("users", 4);
  client = createClient({ metaServers: [cluster.address], timeoutMs: 3000 });
});
after(async () => {
  await client.close();
  await cluster.close();
});

describe("client data operations", () => {
  it("routes each record to the partition its hash key hashes to", async () => {
    const table = client.table("users");
    for (let i = 0; i < 40; i++) await table.set(`user${i}`, "name", `n${i}`);
    for (let i = 0; i < 40; i++) {
      const p = cluster.partitionOf(`user${i}`);
      assert.equal(
        cluster.replicas[p]?.reads
          .get(Buffer.from(`user${i}`), Buffer.from("name"))
          ?.value.toString(),
        `n${i}`,
      );
      assert.equal((await table.get(`user${i}`, "name"))?.toString(), `n${i}`);
    }
    assert.equal(await table.get("nobody", "name"), undefined);
  });

  it("multi operations, ranges, counts, ttl and deletes", async () => {
    const table = client.table("users");
    await table.multiSet("h", { a: "1", b: "2", c: "3", d: "4" });
    assert.deepEqual(
      (await table.multiGet("h", ["a", "c", "zz"])).kvs.map((kv) => kv.sortKey.toString()),
      ["a", "c"],
    );
    const range = await table.multiGetRange("h", {
      startSortKey: "b",
      stopSortKey: "d",
      stopInclusive: true,
      maxKvCount: 2,
    });
    assert.deepEqual(
      range.kvs.map((kv) => kv.value.toString()),
      ["2", "3"],
    );
    assert.equal(range.incomplete, true);
    const filtered = await table.multiGetRange("h", {
      sortKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: Buffer.from("c") },
    });
    assert.deepEqual(
      filtered.kvs.map((kv) => kv.sortKey.toString()),
      ["c"],
    );
    assert.equal(await table.sortKeyCount("h"), 4);
    await table.set("h", "t", "x", { ttlSeconds: 100 });
    const ttl = await table.ttl("h", "t");
    assert.ok(ttl !== undefined && ttl > 90 && ttl <= 100);
    assert.equal(await table.ttl("h", "a"), -1);
    await table.multiDel("h", ["a", "b"]);
    await table.del("h", "t");
    assert.equal(await table.exist("h", "a"), false);
    assert.equal(await table.sortKeyCount("h"), 2);
    assert.deepEqual(
      (
        await table.batchGet([
          { hashKey: "h", sortKey: "c" },
          { hashKey: "h", sortKey: "a" },
        ])
      ).map((v) => v?.toString()),
      ["3", undefined],
    );
  });

  it("atomic operations", async () => {
    const table = client.table("users");
    assert.equal(await table.incr("counter", "n", 5), 5n);
    assert.equal(await table.incr("counter", "n", -2n), 3n);
    const failed = await table.checkAndSet(
      "cas",
      "k",
      CheckType.VALUE_EXIST,
      "",
      { value: "v" },
      { returnCheckValue: true },
    );
    assert.deepEqual(failed, { succeeded: false, checkValue: { exists: false } });
    const ok = await table.checkAndSet("cas", "k", CheckType.VALUE_NOT_EXIST, "", { value: "v" });
    assert.equal(ok.succeeded, true);
    const mutated = await table.checkAndMutate("cas", "k", CheckType.VALUE_BYTES_EQUAL, "v", [
      { op: "put", sortKey: "k2", value: "w" },
      { op: "delete", sortKey: "k" },
    ]);
    assert.equal(mutated.succeeded, true);
    assert.equal(await table.exist("cas", "k"), false);
    assert.equal((await table.get("cas", "k2"))?.toString(), "w");
  });

  it("propagates server errors with their codes", async () => {
    const table = client.table("users");
    await assert.rejects(table.set("h", "big", Buffer.alloc(2 * 1024 * 1024)), (e) =>
      isTalariaError(e, "ERR_LIMIT_EXCEEDED"),
    );
    await table.set("h", "text", "not a number");
    await assert.rejects(table.incr("h", "text", 1), (e) =>
      isTalariaError(e, "ERR_INVALID_ARGUMENT"),
    );
    await assert.rejects(client.table("missing").get("a", "b"), (e) =>
      isTalariaError(e, "ERR_APP_NOT_EXIST"),
    );
  });

  it("refreshes its configuration and retries when a replica refuses", async () => {
    const table = client.table("users");
    const p = cluster.partitionOf("moving");
    const queries = cluster.queryCount;
    cluster.refuseNext.set(p, 2);
    await table.set("moving", "s", "v");
    assert.ok(cluster.queryCount >= queries + 2, "the configuration was queried again");
    cluster.refuseNext.set(p, 1);
    assert.equal(
      await table.incr("moving", "n", 1),
      1n,
      "refused before execution: safe to retry an incr",
    );
  });
});

describe("client scanners", () => {
  it("a full scan returns every record once, partition by partition in key order", async () => {
    const table = client.table("users");
    for (let i = 0; i < 30; i++) await table.set(`scan${i}`, "s", "v");
    const seen: string[] = [];
    for await (const kv of table.scan({
      batchSize: 7,
      hashKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: Buffer.from("scan") },
    })) {
      seen.push(kv.hashKey.toString());
    }
    assert.equal(seen.length, 30);
    assert.equal(new Set(seen).size, 30);
    const scanners = await table.unorderedScanners(3, {
      hashKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: Buffer.from("scan") },
    });
    assert.equal(scanners.length, 3);
    const parallel = await Promise.all(
      scanners.map(async (scanner) => {
        const keys: string[] = [];
        for await (const kv of scanner) keys.push(kv.hashKey.toString());
        return keys;
      }),
    );
    assert.deepEqual(parallel.flat().sort(), [...seen].sort());
  });

  it("scans one hash key in sort-key order, with bounds", async () => {
    const table = client.table("users");
    await table.multiSet("row", [
      ["1", "a"],
      ["2", "b"],
      ["3", "c"],
    ]);
    await table.set("rox", "1", "other hash key");
    const all: string[] = [];
    for await (const kv of table.scanHashKey("row", { batchSize: 1 }))
      all.push(kv.sortKey.toString());
    assert.deepEqual(all, ["1", "2", "3"]);
    const bounded: string[] = [];
    for await (const kv of table.scanHashKey("row", { startSortKey: "2", stopSortKey: "3" }))
      bounded.push(kv.sortKey.toString());
    assert.deepEqual(bounded, ["2"]);
  });
});
