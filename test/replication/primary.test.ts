import assert from "node:assert/strict";
import { it, describe as suite } from "node:test";
import { ReplicaStatus } from "../../src/protocol/partition-config.ts";
import {
  config,
  core,
  describe,
  GPID,
  lastLogSeq,
  msg,
  P,
  S1,
  S2,
  testOptions,
  write,
} from "./core-harness.ts";

/** A primary at ballot 1 with secondaries S1, S2, activated and leased. */
function activePrimary(options = testOptions) {
  const primary = core(P, undefined, options);
  const start = primary.step({ type: "CONFIG", config: config(1, P, [S1, S2]) }, 0);
  assert.deepEqual(describe(start), [
    "append 1@1",
    "send s1:1 group check SECONDARY b1 c0",
    "send s2:1 group check SECONDARY b1 c0",
  ]);
  primary.step({ type: "LEASE", expiresAtMs: 10_000 }, 0);
  const activated = primary.step({ type: "LOG_DURABLE", logSeq: lastLogSeq(start) }, 1);
  assert.deepEqual(describe(activated), [
    "send s1:1 prepare 1@1 b1 c0",
    "send s2:1 prepare 1@1 b1 c0",
  ]);
  return primary;
}

function ack(decree: number, ballot = 1) {
  return { method: "replica.prepare_ack", gpid: GPID, ballot, ackedDecree: decree } as const;
}

suite("replication core: primary", () => {
  it("prepares a write to every secondary and commits only after its log and all acks", () => {
    const primary = activePrimary();
    const assigned = primary.step(write(7), 2);
    assert.deepEqual(describe(assigned), [
      "append 2@1",
      "send s1:1 prepare 2@1 b1 c0",
      "send s2:1 prepare 2@1 b1 c0",
    ]);
    assert.deepEqual(describe(primary.step(msg(S1, ack(2)), 3)), []);
    assert.deepEqual(describe(primary.step({ type: "LOG_DURABLE", logSeq: 2 }, 4)), []);
    assert.equal(primary.report().lastCommittedDecree, 0);
    // The last ack commits the EMPTY gate and the write; the reply follows the apply.
    assert.deepEqual(describe(primary.step(msg(S2, ack(2)), 5)), [
      "apply 1",
      "apply 2",
      "reply 7 ok 2",
    ]);
    assert.equal(primary.report().lastCommittedDecree, 2);
    // The commit point travels on the next prepare.
    assert.deepEqual(describe(primary.step(write(8), 6)), [
      "append 3@1",
      "send s1:1 prepare 3@1 b1 c2",
      "send s2:1 prepare 3@1 b1 c2",
    ]);
  });

  it("needs its own log durable even when every secondary acked", () => {
    const primary = activePrimary();
    primary.step(write(1), 2);
    primary.step(msg(S1, ack(2)), 3);
    assert.deepEqual(describe(primary.step(msg(S2, ack(2)), 3)), ["apply 1"]);
    assert.deepEqual(describe(primary.step({ type: "LOG_DURABLE", logSeq: 2 }, 4)), [
      "apply 2",
      "reply 1 ok 2",
    ]);
  });

  it("queues writes beyond the prepare window and refuses beyond the queue with ERR_BUSY", () => {
    const primary = activePrimary({ ...testOptions, prepareWindowMax: 2, writeQueueMax: 1 });
    // EMPTY (decree 1) is uncommitted, so one more write fills the window of 2.
    assert.equal(describe(primary.step(write(1), 2))[0], "append 2@1");
    assert.deepEqual(describe(primary.step(write(2), 2)), []);
    assert.deepEqual(describe(primary.step(write(3), 2)), ["reply 3 ERR_BUSY"]);
    primary.step({ type: "LOG_DURABLE", logSeq: 2 }, 3);
    primary.step(msg(S1, ack(2)), 3);
    const drained = describe(primary.step(msg(S2, ack(2)), 3));
    assert.deepEqual(drained, [
      "apply 1",
      "apply 2",
      "reply 1 ok 2",
      "append 3@1",
      "send s1:1 prepare 3@1 b1 c2",
      "send s2:1 prepare 3@1 b1 c2",
    ]);
  });

  it("resends unacked prepares, then asks the meta server to remove a silent secondary", () => {
    const primary = activePrimary();
    primary.step(write(1), 10);
    primary.step({ type: "LOG_DURABLE", logSeq: 2 }, 10);
    primary.step(msg(S1, ack(2)), 20);
    const resend = describe(primary.step({ type: "TICK" }, 120));
    assert.deepEqual(resend, ["send s2:1 prepare 1@1 b1 c0", "send s2:1 prepare 2@1 b1 c0"]);
    primary.step(msg(S1, { ...ack(2), method: "replica.prepare_ack" }), 300);
    const timeout = describe(primary.step({ type: "TICK" }, 510));
    assert.ok(timeout.includes("config change REMOVE_SECONDARY s2:1 @1"), timeout.join("\n"));
    // One change at a time: the next tick does not ask again.
    assert.ok(!describe(primary.step({ type: "TICK" }, 520)).some((a) => a.startsWith("config")));
    // The meta server removes S2 (ballot 2): the primary takes the ballot (EMPTY gate), then
    // prepares the uncommitted tail to S1 alone and commits with its ack.
    const retaken = primary.step({ type: "CONFIG", config: config(2, P, [S1]) }, 600);
    assert.deepEqual(describe(retaken), ["append 3@2", "send s1:1 group check SECONDARY b2 c0"]);
    assert.deepEqual(
      describe(primary.step({ type: "LOG_DURABLE", logSeq: lastLogSeq(retaken) }, 601)),
      ["send s1:1 prepare 1@1 b2 c0", "send s1:1 prepare 2@1 b2 c0", "send s1:1 prepare 3@2 b2 c0"],
    );
    assert.deepEqual(describe(primary.step(msg(S1, ack(3, 2)), 602)), [
      "apply 1",
      "apply 2",
      "reply 1 ok 2",
      "apply 3",
    ]);
  });

  it("stops taking writes when its lease expires", () => {
    const primary = activePrimary();
    assert.equal(describe(primary.step(write(1), 9_999))[0], "append 2@1");
    assert.deepEqual(describe(primary.step(write(2), 10_000)), ["reply 2 ERR_INVALID_STATE"]);
    assert.equal(primary.canServeReads(10_000), false);
    primary.step({ type: "LEASE", expiresAtMs: 20_000 }, 10_001);
    assert.equal(primary.canServeReads(10_001), true);
    assert.equal(describe(primary.step(write(3), 10_002))[0], "append 3@1");
  });

  it("steps down when a secondary answers with a larger ballot, failing pending writes", () => {
    const primary = activePrimary();
    primary.step(write(1), 2);
    const refused = {
      method: "replica.prepare_ack",
      gpid: GPID,
      ballot: 5,
      ackedDecree: 0,
      refused: "STALE_BALLOT",
    } as const;
    assert.deepEqual(describe(primary.step(msg(S1, refused), 3)), ["reply 1 ERR_INVALID_STATE"]);
    assert.equal(primary.report().status, ReplicaStatus.INACTIVE);
    assert.equal(primary.report().ballot, 5);
    assert.deepEqual(describe(primary.step(write(2), 4)), ["reply 2 ERR_INVALID_STATE"]);
  });

  it("refuses messages of a smaller ballot with its own", () => {
    const primary = activePrimary();
    primary.step({ type: "CONFIG", config: config(2, P, [S1, S2]) }, 2);
    const stalePrepare = {
      method: "replica.prepare",
      gpid: GPID,
      ballot: 1,
      config: config(1, S1, [P]),
      role: "SECONDARY",
      mutation: { ballot: 1, decree: 9, timestampUs: 1, updates: [] },
      prevBallot: 1,
      committedDecree: 0,
    } as const;
    assert.deepEqual(describe(primary.step(msg(S1, stalePrepare), 3)), [
      "send s1:1 ack refused STALE_BALLOT b2",
    ]);
  });

  it("refuses to be primary again at a ballot it may have prepared under before a restart", () => {
    const recovered = {
      lastAppliedDecree: 4,
      lastAppliedBallot: 3,
      entries: [{ ballot: 3, decree: 5, timestampUs: 5, updates: [] }],
      maxLogBallot: 3,
    };
    const restarted = core(P, recovered);
    assert.deepEqual(
      describe(restarted.step({ type: "CONFIG", config: config(3, P, [S1]) }, 0)),
      [],
    );
    assert.deepEqual(restarted.report(), {
      gpid: GPID,
      ballot: 3,
      status: ReplicaStatus.INACTIVE,
      lastCommittedDecree: 4,
      lastPreparedDecree: 5,
    });
    // The meta server sees an INACTIVE primary and moves to ballot 4, which is safe to take.
    assert.deepEqual(describe(restarted.step({ type: "CONFIG", config: config(4, P, [S1]) }, 1)), [
      "append 6@4",
      "send s1:1 group check SECONDARY b4 c4",
    ]);
    assert.equal(restarted.report().status, ReplicaStatus.PRIMARY);
    // Once its gate is durable it re-prepares its uncommitted entry with its original ballot,
    // then the gate, and commits them when the secondary has them.
    assert.deepEqual(describe(restarted.step({ type: "LOG_DURABLE", logSeq: 1 }, 2)), [
      "send s1:1 prepare 5@3 b4 c4",
      "send s1:1 prepare 6@4 b4 c4",
    ]);
    const acked = { method: "replica.prepare_ack", gpid: GPID, ballot: 4, ackedDecree: 6 } as const;
    assert.deepEqual(describe(restarted.step(msg(S1, acked), 3)), ["apply 5", "apply 6"]);
  });
});
