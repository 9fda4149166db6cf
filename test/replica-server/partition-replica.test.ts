import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import { ReplicaStatus } from "../../src/protocol/partition-config.ts";
import type { LogOpener, ReplicaLog, WriteRequest } from "../../src/replica/index.ts";
import { A, B, C, config, PartitionCluster } from "./partition-cluster.ts";

const b = (s: string): Buffer => Buffer.from(s);
const set = (key: string, value: string): WriteRequest => ({
  op: "set",
  hashKey: b(key),
  sortKey: b(""),
  value: b(value),
  expireTs: 0,
});
const incr = (key: string): WriteRequest => ({
  op: "incr",
  hashKey: b(key),
  sortKey: b(""),
  increment: 1n,
  expireTs: 0,
});
const refusedBeforeExecution = (error: unknown) =>
  isTalariaError(error, "ERR_INVALID_STATE") && error.details.beforeExecution === true;

async function startGroup(cluster: PartitionCluster, leaseMs: number, openLog?: LogOpener) {
  await cluster.open(A, {}, openLog === undefined ? {} : { openLog });
  for (const node of [B, C]) await cluster.open(node);
  cluster.feedConfig(config(1, A, [B, C]));
  const primary = cluster.get(A);
  primary.step({ type: "LEASE", expiresAtMs: primary.nowMs() + leaseMs });
  await cluster.eventually(() => primary.refusal("read") === undefined, "A serves", {
    freezeTime: true,
  });
  return primary;
}

/** A private log whose appends fail once `failing` is set, as a dying disk would. */
class FailingLog implements ReplicaLog {
  failing = false;
  constructor(private readonly log: PrivateLog) {}
  get lastDecree() {
    return this.log.lastDecree;
  }
  get durableDecree() {
    return this.log.durableDecree;
  }
  get firstDecree() {
    return this.log.firstDecree;
  }
  get stats() {
    return this.log.stats;
  }
  append(decree: number, payload: Buffer) {
    if (this.failing) return Promise.reject(new Error("EIO: injected"));
    return this.log.append(decree, payload);
  }
  truncateAfter(decree: number) {
    return this.log.truncateAfter(decree);
  }
  resetTo(decree: number) {
    return this.log.resetTo(decree);
  }
  read(...args: Parameters<PrivateLog["read"]>) {
    return this.log.read(...args);
  }
  replay(...args: Parameters<PrivateLog["replay"]>) {
    return this.log.replay(...args);
  }
  gc(belowDecree: number) {
    return this.log.gc(belowDecree);
  }
  bytesFrom(decree: number) {
    return this.log.bytesFrom(decree);
  }
  close() {
    return this.log.close();
  }
}

describe("PartitionReplica: client writes and reads on a replicated partition", () => {
  it("evaluates an atomic operation only once every earlier write is committed and applied", async () => {
    const cluster = await PartitionCluster.create();
    const primary = await startGroup(cluster, 3_600_000);
    cluster.hold(C);
    const first = primary.write(set("n", "5"));
    const increment = primary.write(incr("n"));
    const later = primary.write(set("z", "1"));
    const firstDecree = primary.lastPreparedDecree;
    await cluster.settle();
    // The incr waits for "n" = 5 to be applied, and the write after it waits for the incr.
    assert.equal(primary.lastPreparedDecree, firstDecree);
    cluster.release(C);
    const [a, i, z] = await Promise.all([first, increment, later]);
    assert.equal(i.newValue, 6n, "evaluated against the applied n = 5");
    assert.deepEqual(
      [a.decree, i.decree, z.decree],
      [firstDecree, firstDecree + 1, firstDecree + 2],
    );
    assert.equal(primary.reads.get(b("n"), b(""))?.value.toString(), "6");
  });

  it("serves reads and takes writes only while the primary's lease holds", async () => {
    const cluster = await PartitionCluster.create();
    const primary = await startGroup(cluster, 10_000);
    await primary.write(set("k", "v"));
    assert.equal(primary.reads.get(b("k"), b(""))?.value.toString(), "v");

    cluster.advance(10_000);
    assert.match(primary.refusal("read") ?? "", /lease/);
    assert.throws(() => primary.reads.get(b("k"), b("")), refusedBeforeExecution);
    await assert.rejects(primary.write(set("k", "w")), refusedBeforeExecution);
    await assert.rejects(primary.write(incr("c")), refusedBeforeExecution);

    primary.step({ type: "LEASE", expiresAtMs: primary.nowMs() + 10_000 });
    assert.equal(primary.reads.get(b("k"), b(""))?.value.toString(), "v");
    await primary.write(set("k", "w"));
    assert.equal(primary.reads.get(b("k"), b(""))?.value.toString(), "w");
  });

  it("a secondary refuses client writes, atomic or not, before executing them", async () => {
    const cluster = await PartitionCluster.create();
    await startGroup(cluster, 3_600_000);
    const secondary = cluster.get(B);
    await assert.rejects(secondary.write(set("k", "v")), refusedBeforeExecution);
    await assert.rejects(secondary.write(incr("c")), refusedBeforeExecution);
    assert.equal(secondary.report().status, ReplicaStatus.SECONDARY);
  });

  it("stops for good after a private log failure and reports ERROR", async () => {
    const cluster = await PartitionCluster.create();
    let log: FailingLog | undefined;
    const primary = await startGroup(cluster, 3_600_000, async (options) => {
      log = new FailingLog(await PrivateLog.open(options));
      return log;
    });
    await primary.write(set("k", "v"));
    assert.ok(log !== undefined);
    log.failing = true;
    await assert.rejects(primary.write(set("k", "w")), (error) =>
      isTalariaError(error, "ERR_INVALID_STATE"),
    );
    log.failing = false;
    await assert.rejects(primary.write(set("k", "x")), refusedBeforeExecution);
    assert.equal(primary.report().status, ReplicaStatus.ERROR);
    assert.equal(primary.refusal("read"), "replica failed");
  });
});
