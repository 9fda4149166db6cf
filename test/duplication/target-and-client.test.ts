/** The receiving side's cluster-id check, and Table.duplicate routed by partition index. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import type { DuplicableUpdate, DuplicateEntry } from "../../src/codec/mutation.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { defaultConfig } from "../../src/config/index.ts";
import {
  checkDuplicateRequest,
  duplicateReceiverPolicy,
  entryPartitionIndex,
} from "../../src/duplication/index.ts";
import { type FakeCluster, startFakeCluster } from "../client/fake-cluster.ts";
import { keysInPartition, put } from "./core-driver.ts";

const entry = (clusterId: number, hashKey = "k"): DuplicateEntry => ({
  timestampUs: 1_700_000_000_000_000,
  clusterId,
  update: put(hashKey, "s") as DuplicableUpdate,
});

describe("target: checkDuplicateRequest", () => {
  const policy = duplicateReceiverPolicy(
    defaultConfig({
      replication: { clusterName: "dc1" },
      duplicationGroup: { dc1: 1, dc2: 2, dc3: 3 },
    }),
  );

  it("accepts entries from the other clusters of the duplication group", () => {
    assert.equal(policy.selfClusterId, 1);
    checkDuplicateRequest({ entries: [entry(2), entry(3)] }, policy);
  });

  it("refuses the receiver's own cluster id and ids outside the group, before execution", () => {
    for (const [id, reason] of [
      [1, "self"],
      [9, "unconfigured"],
    ] as const) {
      assert.throws(
        () => checkDuplicateRequest({ entries: [entry(2), entry(id)] }, policy, "5.1"),
        (error) =>
          isTalariaError(error, "ERR_DUP_CLUSTER_ID_REFUSED") &&
          error.details.reason === reason &&
          error.details.clusterId === id &&
          error.details.beforeExecution === true &&
          error.message.includes("5.1") &&
          !error.retriable,
      );
    }
  });

  it("accepts any other id with dup_ignore_other_cluster_ids, never its own", () => {
    const lax = { ...policy, ignoreOtherClusterIds: true };
    checkDuplicateRequest({ entries: [entry(9)] }, lax);
    assert.throws(() => checkDuplicateRequest({ entries: [entry(1)] }, lax));
  });
});

describe("client: Table.duplicate", () => {
  let cluster: FakeCluster;
  let client: TalariaClient;
  before(async () => {
    cluster = await startFakeCluster("dst", 3);
    client = createClient({ metaServers: [cluster.address], timeoutMs: 2000 });
  });
  after(async () => {
    await client.close();
    await cluster.close();
  });

  it("writes entries to the partition given by index, with their source timetags", async () => {
    const table = client.table("dst");
    const keys = keysInPartition("dup", 2, 3, 3);
    const entries = keys.map((k) => entry(2, k));
    for (const e of entries) assert.equal(entryPartitionIndex(e.update, 3), 2);
    cluster.refuseNext.set(2, 2); // not primary twice: retried like a put
    const result = await table.duplicate(2, entries, { partitionCount: 3 });
    assert.equal(result.staleEntriesSkipped, 0);
    for (const k of keys) assert.equal((await table.get(k, "s"))?.toString(), `v-${k}/s`);
    // Again: the same timetags; idempotent.
    await table.duplicate(2, entries, { partitionCount: 3 });
  });

  it("refuses, without sending, entries routed by another partition count", async () => {
    const table = client.table("dst");
    await assert.rejects(
      table.duplicate(0, [entry(2)], { partitionCount: 4 }),
      (error) =>
        isTalariaError(error, "ERR_INCONSISTENT_STATE") &&
        error.details.partitionCount === 3 &&
        error.details.expectedPartitionCount === 4,
    );
    await assert.rejects(table.duplicate(5, [entry(2)]), (error) =>
      isTalariaError(error, "ERR_INVALID_PARAMETERS"),
    );
  });

  it("surfaces the receiver's refusal of a key outside the partition", async () => {
    const table = client.table("dst");
    const [elsewhere] = keysInPartition("x", 1, 3, 1);
    await assert.rejects(
      table.duplicate(0, [entry(2, elsewhere)], { partitionCount: 3, timeoutMs: 500 }),
      (error) => isTalariaError(error, "ERR_INVALID_PARAMETERS"),
    );
  });
});
