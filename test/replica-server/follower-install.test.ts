import assert from "node:assert/strict";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { silentLogger } from "../../src/common/logger.ts";
import { ReplicaStatus } from "../../src/protocol/index.ts";
import type { WriteRequest } from "../../src/replica/index.ts";
import {
  FollowerCopy,
  MasterClient,
  resolveFollowerCopyLimits,
  systemBucketDeps,
  TokenBucket,
} from "../../src/replica-server/follower/index.ts";
import { RpcClient } from "../../src/rpc/index.ts";
import {
  FakeMaster,
  MASTER_BALLOT,
  type MasterCheckpoint,
  makeMasterCheckpoint,
  recordKey,
  recordValue,
  tempRoot,
} from "./fake-master.ts";
import { A, config, D, dump, GPID, PartitionCluster } from "./partition-cluster.ts";

const RECORDS = 120;
const VALUE_BYTES = 1000;

const set = (key: string, value: string): WriteRequest => ({
  op: "set",
  hashKey: Buffer.from(key),
  sortKey: Buffer.from(""),
  value: Buffer.from(value),
  expireTs: 0,
});

async function masterCheckpoint(): Promise<MasterCheckpoint> {
  const { root, remove } = await tempRoot("talaria-follower-install-");
  after(remove);
  return makeMasterCheckpoint(root, RECORDS, VALUE_BYTES);
}

/** Copies the master checkpoint into `dir` with the real follower copy over loopback RPC. */
async function copyInto(dir: string, checkpoint: MasterCheckpoint): Promise<number> {
  const master = await FakeMaster.start("orders", 1, checkpoint);
  const transport = new RpcClient({ name: "follower install test" });
  try {
    const ref = { cluster: "alpha", metas: [master.address], appName: "orders" };
    const copy = new FollowerCopy(
      { gpid: GPID, dir, master: ref, partitionCount: 1 },
      {
        client: new MasterClient(ref, () => transport, 10_000),
        bucket: new TokenBucket(0, 1, systemBucketDeps),
        limits: resolveFollowerCopyLimits({ followerCopyChunkBytes: 32 * 1024 }),
        logger: silentLogger,
        nowMs: () => performance.now(),
        sleep: async () => {},
      },
    );
    const installed = await copy.run(new AbortController().signal);
    return installed.decree;
  } finally {
    await transport.close();
    await master.close();
  }
}

describe("a follower replica installed from the master's checkpoint", () => {
  it("opens as primary at the follower's small ballot and continues the master's decrees", async () => {
    const checkpoint = await masterCheckpoint();
    assert.ok(MASTER_BALLOT > 1);
    const cluster = await PartitionCluster.create();
    const decree = await copyInto(cluster.dir(A), checkpoint);
    assert.equal(decree, checkpoint.decree);

    const primary = await cluster.open(A);
    assert.equal(primary.lastAppliedDecree, decree);
    assert.equal(primary.lastAppliedBallot, 0, "the master's ballot is not the follower's");
    cluster.feedConfig(config(1, A, []));
    cluster.grantLease(A);
    assert.equal(primary.snapshot().status, ReplicaStatus.PRIMARY);
    assert.equal(primary.snapshot().ballot, 1);
    await cluster.eventually(
      () => primary.snapshot().primaryActive && primary.refusal("read") === undefined,
      "the follower primary is active",
    );

    // The activation mutation takes decree + 1; the first write decree + 2.
    const written = await primary.write(set("follower-write", "1"));
    assert.equal(written.decree, decree + 2);
    for (const i of [0, RECORDS - 1]) {
      const { hashKey, sortKey } = recordKey(i);
      const got = primary.reads.get(Buffer.from(hashKey), Buffer.from(sortKey));
      assert.deepEqual(got?.value, recordValue(i, VALUE_BYTES));
    }
    assert.equal(
      primary.reads.get(Buffer.from("follower-write"), Buffer.from(""))?.value.toString(),
      "1",
    );

    // Secondaries learn from the follower primary as usual (here by checkpoint: its log starts
    // after the master's decree).
    await cluster.open(D);
    primary.step({ type: "LEARNER_PROPOSED", proposal: { gpid: GPID, learner: D, ballot: 1 } });
    await cluster.eventually(
      () => cluster.configRequests.some((r) => r.change.type === "ADD_SECONDARY"),
      "the primary asks to add D",
    );
    assert.equal(cluster.checkpointFetches.length, 1);
    cluster.feedConfig(config(2, A, [D]));
    await primary.write(set("after-learn", "1"));
    await cluster.eventually(
      () => cluster.get(D).lastAppliedDecree === primary.lastAppliedDecree,
      "D applied everything",
    );
    assert.deepEqual(dump(cluster.get(D)), dump(primary));

    // And after a restart the follower replica reopens from its own files.
    await cluster.close(A);
    const reopened = await cluster.open(A);
    assert.ok(reopened.lastAppliedDecree >= decree + 3);
  });

  it("would refuse to be primary if the master's ballot were kept (why the install resets it)", async () => {
    const checkpoint = await masterCheckpoint();
    const cluster = await PartitionCluster.create();
    const dir = cluster.dir(A);
    await mkdir(join(dir, "data"), { recursive: true });
    await copyFile(join(checkpoint.dir, "data.mdb"), join(dir, "data", "data.mdb"));
    await writeFile(
      join(dir, "CURRENT"),
      `${JSON.stringify({ version: 1, dataDir: "data", logResetDecree: checkpoint.decree })}\n`,
    );
    const replica = await cluster.open(A);
    assert.equal(replica.lastAppliedBallot, MASTER_BALLOT);
    cluster.feedConfig(config(1, A, []));
    assert.equal(replica.snapshot().status, ReplicaStatus.INACTIVE);
  });
});
