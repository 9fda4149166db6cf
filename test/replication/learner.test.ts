import assert from "node:assert/strict";
import { it, describe as suite } from "node:test";
import type { UpdateConfigurationRequest } from "../../src/protocol/meta-messages.ts";
import { ReplicaStatus } from "../../src/protocol/partition-config.ts";
import type { ReplicationEvent } from "../../src/replication/core/types.ts";
import {
  config,
  core,
  describe,
  GPID,
  L,
  msg,
  P,
  Pump,
  S1,
  S2,
  testOptions,
  write,
} from "./core-harness.ts";

/** P (primary) and S1 at ballot 1 with five committed writes, and an empty core on L. */
function cluster() {
  const pump = new Pump();
  const primary = pump.add(P, core(P));
  const secondary = pump.add(S1, core(S1));
  const learner = pump.add(L, core(L));
  pump.feed(P, { type: "LEASE", expiresAtMs: 1_000_000 });
  pump.feed(P, { type: "CONFIG", config: config(1, P, [S1]) });
  for (let i = 1; i <= 5; i++) pump.feed(P, write(i));
  assert.equal(primary.report().lastCommittedDecree, 6);
  assert.deepEqual(pump.take("REPLY").length, 5);
  return { pump, primary, secondary, learner };
}

/** P's REMOVE_SECONDARY of `node`, based on `ballot`. */
function removal(ballot: number, node: string): UpdateConfigurationRequest {
  return { gpid: GPID, node: P, ballot, change: { type: "REMOVE_SECONDARY", node } };
}

/** The meta server's refusal of `request`, with its configuration at ballot 1 (P; S1). */
function refusedAtBallot1(request: UpdateConfigurationRequest): ReplicationEvent {
  return { type: "CONFIG_CHANGE_REFUSED", request, config: config(1, P, [S1]) };
}

/** P is told to teach `learner` at ballot 1, which learns everything P's log holds in one read. */
function teachAtBallot1(pump: Pump, learner: string): void {
  pump.feed(P, { type: "LEARNER_PROPOSED", proposal: { gpid: GPID, learner, ballot: 1 } });
  const [read] = pump.take("READ_LOG_FOR_LEARNER");
  const from = read?.action.fromDecree ?? 1;
  const mutations = (pump.logs.get(P) ?? []).slice(from - 1);
  pump.feed(P, { type: "LEARNER_LOG_READ", learner, ballot: 1, mutations });
}

suite("replication core: learner", () => {
  it("teaches a proposed learner from the log, then prepares, then asks to ADD_SECONDARY it", () => {
    const { pump, primary, secondary, learner } = cluster();
    pump.feed(P, {
      type: "LEARNER_PROPOSED",
      proposal: { gpid: primary.gpid, learner: L, ballot: 1 },
    });
    assert.equal(learner.report().status, ReplicaStatus.LEARNER);
    const [read] = pump.take("READ_LOG_FOR_LEARNER");
    assert.ok(read !== undefined);
    assert.deepEqual([read.action.fromDecree, read.action.toDecree], [1, 6]);
    // The runtime reads the first three records (its byte bound), the learner asks for the rest.
    const log = pump.logs.get(P) ?? [];
    pump.feed(P, { type: "LEARNER_LOG_READ", learner: L, ballot: 1, mutations: log.slice(0, 3) });
    assert.equal(learner.report().lastCommittedDecree, 3);
    const [again] = pump.take("READ_LOG_FOR_LEARNER");
    assert.deepEqual([again?.action.fromDecree, again?.action.toDecree], [4, 6]);
    // A write meanwhile commits without the learner.
    pump.feed(P, write(6));
    pump.feed(P, { type: "LEARNER_LOG_READ", learner: L, ballot: 1, mutations: log.slice(3, 7) });
    // Caught up to the commit point: the learner is in the prepares and its ack triggers ADD.
    const [change] = pump.take("REQUEST_CONFIG_CHANGE");
    assert.deepEqual(change?.action.request.change, { type: "ADD_SECONDARY", node: L });
    assert.equal(change?.action.request.ballot, 1);
    assert.equal(learner.report().lastPreparedDecree, primary.report().lastPreparedDecree);

    const next = config(2, P, [S1, L]);
    for (const node of [P, S1, L]) pump.feed(node, { type: "CONFIG", config: next });
    assert.equal(learner.report().status, ReplicaStatus.SECONDARY);
    pump.feed(P, write(7));
    const committed = primary.report().lastCommittedDecree;
    assert.equal(committed, 9); // 6 + write 6 + EMPTY of ballot 2 + write 7
    for (const replica of [secondary, learner])
      assert.equal(replica.report().lastPreparedDecree, 9);
    // The learner applied exactly the primary's history.
    assert.deepEqual(pump.logs.get(L), pump.logs.get(P));
    assert.deepEqual(
      pump.applied.get(L),
      pump.applied.get(P)?.slice(0, pump.applied.get(L)?.length),
    );
  });

  it("sends a checkpoint when the log no longer reaches the learner", () => {
    const { pump, primary, learner } = cluster();
    pump.feed(P, {
      type: "LEARNER_PROPOSED",
      proposal: { gpid: primary.gpid, learner: L, ballot: 1 },
    });
    assert.equal(pump.take("READ_LOG_FOR_LEARNER").length, 1);
    const checkpoint = { node: P, id: "ckpt-5", decree: 5, ballot: 1 };
    pump.feed(P, { type: "LEARNER_CHECKPOINT_READY", learner: L, ballot: 1, checkpoint });
    const [install] = pump.take("INSTALL_CHECKPOINT");
    assert.deepEqual(install?.action.checkpoint, checkpoint);
    pump.feed(L, { type: "CHECKPOINT_INSTALLED", decree: 5, ballot: 1 });
    assert.equal(learner.report().lastCommittedDecree, 5);
    const [read] = pump.take("READ_LOG_FOR_LEARNER");
    assert.deepEqual([read?.action.fromDecree, read?.action.toDecree], [6, 6]);
    pump.feed(P, {
      type: "LEARNER_LOG_READ",
      learner: L,
      ballot: 1,
      mutations: (pump.logs.get(P) ?? []).slice(5),
    });
    assert.equal(pump.take("REQUEST_CONFIG_CHANGE").length, 1);
  });

  it("keeps a learner being added in the commit gate until its own ADD_SECONDARY is refused", () => {
    const { pump, primary } = cluster();
    pump.feed(P, {
      type: "LEARNER_PROPOSED",
      proposal: { gpid: primary.gpid, learner: L, ballot: 1 },
    });
    const log = pump.logs.get(P) ?? [];
    pump.feed(P, { type: "LEARNER_LOG_READ", learner: L, ballot: 1, mutations: log.slice(0, 6) });
    const [add] = pump.take("REQUEST_CONFIG_CHANGE");
    assert.deepEqual(add?.action.request.change, { type: "ADD_SECONDARY", node: L });
    assert.equal(add?.action.request.changeId, 1);
    pump.cores.delete(L); // the learner's acks stop arriving
    pump.feed(P, write(6));
    assert.equal(primary.report().lastCommittedDecree, 6, "the learner gates the commit");
    // A late refusal of an earlier request (based on ballot 0), sent while meta is at ballot 1:
    // it says nothing about the ADD_SECONDARY (seed 7003464), which may still be applied.
    pump.feed(P, refusedAtBallot1(removal(0, S2)));
    // Nor does the refusal of another change at this ballot.
    pump.feed(P, refusedAtBallot1(removal(1, S1)));
    assert.equal(primary.report().lastCommittedDecree, 6, "still gated");
    // Its own refusal at this ballot: not applied, and never will be; the write commits.
    pump.feed(P, refusedAtBallot1(add?.action.request ?? assert.fail("no request")));
    assert.equal(primary.report().lastCommittedDecree, 7);
  });

  it("numbers its changes: a retry repeats the number, and only that number's refusal counts", () => {
    const { pump, primary, learner } = cluster();
    const teach = () => {
      teachAtBallot1(pump, L);
      const [add] = pump.take("REQUEST_CONFIG_CHANGE");
      assert.ok(add !== undefined);
      return add.action.request;
    };
    const first = teach();
    assert.equal(first.changeId, 1);
    // No answer: the primary asks again with the same number.
    pump.nowMs = testOptions.configChangeRetryMs;
    pump.feed(P, { type: "TICK" });
    const retries = pump.take("REQUEST_CONFIG_CHANGE");
    assert.deepEqual(
      retries.map((r) => r.action.request),
      [first],
    );
    // Refused: the learner is abandoned; the meta server proposes it again, it catches up again.
    pump.feed(P, refusedAtBallot1(first));
    assert.equal(learner.report().status, ReplicaStatus.LEARNER);
    const second = teach();
    assert.deepEqual(second.change, first.change);
    assert.equal(second.changeId, 2);
    pump.cores.delete(L);
    pump.feed(P, write(6));
    const committed = primary.report().lastCommittedDecree;
    // A late copy of the first request's refusal: the same change, but not this request.
    pump.feed(P, refusedAtBallot1(first));
    assert.equal(primary.report().lastCommittedDecree, committed, "still gated on the learner");
    pump.feed(P, refusedAtBallot1(second));
    assert.equal(primary.report().lastCommittedDecree, committed + 1);
  });

  it("asks to add a learner that caught up while another change was pending once that one ends", () => {
    // Seed 13002189 (60 s of faults): a learner caught up while a REMOVE_SECONDARY was pending;
    // the REMOVE was refused, no write came after, and the learner's ADD was never asked for.
    const { pump } = cluster();
    pump.add(S2, core(S2));
    teachAtBallot1(pump, L);
    const [first] = pump.take("REQUEST_CONFIG_CHANGE");
    assert.deepEqual(first?.action.request.change, { type: "ADD_SECONDARY", node: L });
    teachAtBallot1(pump, S2);
    assert.deepEqual(pump.take("REQUEST_CONFIG_CHANGE"), [], "one change at a time");
    // L's ADD is refused (and L abandoned); S2, caught up and acking nothing new, is asked for.
    pump.feed(P, refusedAtBallot1(first?.action.request ?? assert.fail("no request")));
    pump.nowMs += 1;
    pump.feed(P, { type: "TICK" });
    const [second] = pump.take("REQUEST_CONFIG_CHANGE");
    assert.deepEqual(second?.action.request.change, { type: "ADD_SECONDARY", node: S2 });
    assert.equal(second?.action.request.changeId, 2);
  });

  it("abandons a learner that stops answering", () => {
    const { pump, primary } = cluster();
    pump.cores.delete(L); // the learner's server is down
    pump.feed(P, {
      type: "LEARNER_PROPOSED",
      proposal: { gpid: primary.gpid, learner: L, ballot: 1 },
    });
    const request = {
      method: "replica.learn_request",
      gpid: primary.gpid,
      ballot: 1,
      lastCommittedDecree: 0,
    } as const;
    // Still taught before the timeout: the request is answered by a log read.
    assert.deepEqual(describe(primary.step(msg(L, request), 1_000)), ["read log for l:1 1..6"]);
    primary.step({ type: "TICK" }, 3_000);
    assert.deepEqual(describe(primary.step(msg(L, request), 3_001)), [
      "send l:1 learn refused NOT_LEARNING",
    ]);
  });
});
