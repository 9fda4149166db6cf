import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { epochNowSeconds } from "../../src/codec/value-schema.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import type { WriteRequest } from "../../src/replica/index.ts";
import { Replica } from "../../src/replica/index.ts";
import { AppEnvPolicy } from "../../src/replica-server/app-env-policy.ts";
import { DropRequest } from "../../src/rpc/index.ts";
import { b, set, tempDir } from "../replica/replica-fixture.ts";

const put = (bytes: number): WriteRequest => ({
  op: "set",
  hashKey: b("h"),
  sortKey: b("s"),
  value: Buffer.alloc(bytes),
  expireTs: 0,
});

describe("table env policy", () => {
  it("deny: reconfig refuses with ERR_INVALID_STATE, timeout drops, ops select reads or writes", () => {
    const reconfig = new AppEnvPolicy({ "replica.deny_client_request": "reconfig*write" }, 4);
    assert.throws(
      () => reconfig.checkDeny("write"),
      (e) => isTalariaError(e, "ERR_INVALID_STATE") && e.details.beforeExecution === true,
    );
    reconfig.checkDeny("read");
    const timeout = new AppEnvPolicy({ "replica.deny_client_request": "timeout*all" }, 4);
    assert.throws(
      () => timeout.checkDeny("read"),
      (e) => e instanceof DropRequest,
    );
    assert.throws(
      () => timeout.checkDeny("write"),
      (e) => e instanceof DropRequest,
    );
  });

  it("write throttling by count: per partition units/count + 1, reject wins over delay, windows of one second", () => {
    // 8 per table over 4 partitions → 3 per partition.
    const policy = new AppEnvPolicy({ "replica.write_throttling": "8*delay*100,12*reject*50" }, 4);
    const t = 1_000_000;
    assert.deepEqual(
      [1, 2, 3].map(() => policy.admitWrite(put(1), t).waitMs),
      [0, 0, 0],
    );
    assert.equal(policy.admitWrite(put(1), t).waitMs, 100, "over the delay threshold");
    const rejecting = new AppEnvPolicy({ "replica.write_throttling": "4*reject*50" }, 4);
    rejecting.admitWrite(put(1), t);
    rejecting.admitWrite(put(1), t);
    const refused = rejecting.admitWrite(put(1), t);
    assert.ok(refused.reject !== undefined && isTalariaError(refused.reject, "ERR_BUSY"));
    assert.equal(refused.waitMs, 50);
    assert.equal(
      rejecting.admitWrite(put(1), t + 1000).reject,
      undefined,
      "a new second starts over",
    );
  });

  it("write throttling by size counts request bytes", () => {
    // 4000 bytes per table over 2 partitions → 2001 per partition.
    const policy = new AppEnvPolicy({ "replica.write_throttling_by_size": "4000*reject*10" }, 2);
    const t = 5_000_000;
    assert.equal(policy.admitWrite(put(1500), t).reject, undefined);
    const second = policy.admitWrite(put(1500), t);
    assert.ok(
      second.reject !== undefined && isTalariaError(second.reject, "ERR_BUSY"),
      "3000+ bytes is over 2001",
    );
    assert.equal(
      policy.admitWrite(put(400), t).reject,
      undefined,
      "a refused request is not counted",
    );
  });

  it("default_ttl gives writes without an expiry the table's TTL", () => {
    const policy = new AppEnvPolicy({ default_ttl: "3600" }, 1);
    const nowMs = 1_800_000_000_000;
    const withTtl = policy.withDefaultTtl(put(1), nowMs);
    assert.ok(withTtl.op === "set");
    assert.equal(withTtl.expireTs, epochNowSeconds(nowMs) + 3600);
    const explicit: WriteRequest = { ...put(1), expireTs: 42 } as WriteRequest;
    assert.equal((policy.withDefaultTtl(explicit, nowMs) as { expireTs: number }).expireTs, 42);
  });
});

it("the checkpoint timer's step makes every applied decree durable in storage", async () => {
  const replica = await Replica.open({ dir: tempDir(), clusterId: 1, sweepIntervalMs: 0 });
  for (let i = 0; i < 5; i++) await replica.write(set("h", `${i}`, "v"));
  const durable = await replica.flushStorage();
  assert.ok(durable >= replica.lastAppliedDecree);
  assert.ok(replica.logGcBoundDecree() > replica.lastAppliedDecree, "the plog GC bound follows");
  await replica.close();
});
