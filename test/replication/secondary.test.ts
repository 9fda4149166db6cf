import assert from "node:assert/strict";
import { it, describe as suite } from "node:test";
import type { Mutation } from "../../src/codec/mutation.ts";
import { ReplicaStatus } from "../../src/protocol/partition-config.ts";
import type { Prepare } from "../../src/protocol/replica-messages.ts";
import { config, core, describe, GPID, msg, mutation, P, S1, S2 } from "./core-harness.ts";

function prepare(
  m: Mutation,
  options: { ballot?: number; prevBallot?: number; committed?: number; primary?: string } = {},
): Prepare {
  const ballot = options.ballot ?? 1;
  const primary = options.primary ?? P;
  return {
    method: "replica.prepare",
    gpid: GPID,
    ballot,
    config: config(
      ballot,
      primary,
      [S1, S2, P].filter((n) => n !== primary),
    ),
    role: "SECONDARY",
    mutation: m,
    prevBallot: options.prevBallot ?? (m.decree === 1 ? 0 : 1),
    committedDecree: options.committed ?? 0,
  };
}

suite("replication core: secondary", () => {
  it("acks a prepare only once it is durable, and applies what the primary committed", () => {
    const secondary = core(S1);
    assert.deepEqual(describe(secondary.step(msg(P, prepare(mutation(1, 1))), 0)), ["append 1@1"]);
    assert.equal(secondary.report().status, ReplicaStatus.SECONDARY);
    assert.deepEqual(describe(secondary.step({ type: "LOG_DURABLE", logSeq: 1 }, 1)), [
      "send p:1 ack 1 b1",
    ]);
    assert.deepEqual(
      describe(secondary.step(msg(P, prepare(mutation(2, 1), { committed: 1 })), 2)),
      ["apply 1", "append 2@1"],
    );
    const check = {
      method: "replica.group_check",
      gpid: GPID,
      ballot: 1,
      config: config(1, P, [S1, S2]),
      role: "SECONDARY",
      committedDecree: 2,
    } as const;
    // Committed but not durable here yet: it is applied once durable.
    assert.deepEqual(describe(secondary.step(msg(P, check), 3)), [
      "send p:1 group check ack SECONDARY b1",
    ]);
    assert.deepEqual(describe(secondary.step({ type: "LOG_DURABLE", logSeq: 2 }, 4)), [
      "apply 2",
      "send p:1 ack 2 b1",
    ]);
  });

  it("buffers out-of-order prepares and acks duplicates without logging them again", () => {
    const secondary = core(S1);
    assert.deepEqual(describe(secondary.step(msg(P, prepare(mutation(3, 1))), 0)), []);
    assert.deepEqual(describe(secondary.step(msg(P, prepare(mutation(2, 1))), 0)), []);
    assert.deepEqual(describe(secondary.step(msg(P, prepare(mutation(1, 1))), 0)), [
      "append 1@1",
      "append 2@1",
      "append 3@1",
    ]);
    assert.deepEqual(describe(secondary.step({ type: "LOG_DURABLE", logSeq: 3 }, 1)), [
      "send p:1 ack 3 b1",
    ]);
    assert.deepEqual(describe(secondary.step(msg(P, prepare(mutation(2, 1))), 2)), [
      "send p:1 ack 3 b1",
    ]);
  });

  it("truncates an unacknowledged tail that conflicts with a new primary's log", () => {
    // S2 logged decrees 1..3 under ballot 1; decree 3 reached only S2 before the primary died.
    const secondary = core(S2);
    for (const decree of [1, 2, 3]) secondary.step(msg(P, prepare(mutation(decree, 1))), 0);
    secondary.step({ type: "LOG_DURABLE", logSeq: 3 }, 0);
    // S1 is promoted at ballot 2 with the log 1..2 (committed 1): it re-prepares 2 with its
    // original ballot, then its EMPTY gate 3@2.
    const reprepare = prepare(mutation(2, 1), { ballot: 2, committed: 1, primary: S1 });
    assert.deepEqual(describe(secondary.step(msg(S1, reprepare), 1)), [
      "apply 1",
      "send s1:1 ack 2 b2",
    ]);
    const gate: Mutation = { ballot: 2, decree: 3, timestampUs: 9, updates: [{ kind: 6 }] };
    const gatePrepare = prepare(gate, { ballot: 2, committed: 1, primary: S1, prevBallot: 1 });
    assert.deepEqual(describe(secondary.step(msg(S1, gatePrepare), 2)), [
      "truncate after 2",
      "append 3@2",
    ]);
    assert.deepEqual(describe(secondary.step({ type: "LOG_DURABLE", logSeq: 5 }, 3)), [
      "send s1:1 ack 3 b2",
    ]);
  });

  it("does not accept an entry whose predecessor disagrees with the primary's", () => {
    const secondary = core(S2);
    secondary.step(msg(P, prepare(mutation(1, 1))), 0);
    secondary.step(msg(P, prepare(mutation(2, 1))), 0);
    secondary.step({ type: "LOG_DURABLE", logSeq: 2 }, 0);
    // New primary at ballot 3 whose decree 2 came from ballot 2: decree 3 must wait for it.
    const third = prepare(mutation(3, 3), { ballot: 3, primary: S1, prevBallot: 2, committed: 1 });
    assert.deepEqual(describe(secondary.step(msg(S1, third), 1)), [
      "apply 1",
      "send s1:1 ack 1 b3",
    ]);
    const second = prepare(mutation(2, 2), { ballot: 3, primary: S1, prevBallot: 1, committed: 1 });
    assert.deepEqual(describe(secondary.step(msg(S1, second), 2)), [
      "truncate after 1",
      "append 2@2",
      "append 3@3",
    ]);
  });

  it("fails (ERROR) when the primary committed decrees its log does not hold", () => {
    const secondary = core(S1);
    secondary.step(msg(P, prepare(mutation(1, 1))), 0);
    assert.deepEqual(
      describe(secondary.step(msg(P, prepare(mutation(2, 1), { committed: 5 })), 1)),
      [],
    );
    assert.equal(secondary.report().status, ReplicaStatus.ERROR);
    assert.match(secondary.snapshot().errorReason ?? "", /committed 5/);
    assert.deepEqual(
      describe(
        secondary.step({ type: "CLIENT_WRITE", requestId: 1, updates: [], timestampUs: 1 }, 2),
      ),
      ["reply 1 ERR_INVALID_STATE"],
    );
  });
});
