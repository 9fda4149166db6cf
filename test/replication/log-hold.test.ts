/**
 * Duplication's log hold travels from the primary to every member in its group checks (ref §3.5),
 * so a secondary that becomes primary still holds the log its duplications have not shipped.
 */
import assert from "node:assert/strict";
import { it, describe as suite } from "node:test";
import type { ReplicationAction } from "../../src/replication/index.ts";
import { config, core, describe, msg, P, Pump, S1, S2, sentTo } from "./core-harness.ts";

function holds(actions: readonly ReplicationAction[]): (number | undefined)[] {
  return actions.flatMap((a) => (a.type === "PEER_LOG_HOLD" ? [a.fromDecree] : []));
}

suite("replication core: duplication log hold in group checks", () => {
  it("a primary sends its hold in every group check, and none when it has none", () => {
    const primary = core(P);
    const start = primary.step({ type: "CONFIG", config: config(1, P, [S1, S2]) }, 0);
    for (const message of sentTo(start, S1)) {
      assert.equal(message.method, "replica.group_check");
      assert.equal("confirmedDecreeForLogHold" in message, false);
    }
    primary.step({ type: "LOG_HOLD", fromDecree: 42 }, 1);
    const checks = primary.step({ type: "TICK" }, 10_000);
    const sent = [...sentTo(checks, S1), ...sentTo(checks, S2)].filter(
      (m) => m.method === "replica.group_check",
    );
    assert.equal(sent.length, 2);
    for (const message of sent) {
      assert.equal(
        message.method === "replica.group_check" && message.confirmedDecreeForLogHold,
        42,
      );
    }
    primary.step({ type: "LOG_HOLD", fromDecree: undefined }, 10_001);
    const released = primary.step({ type: "TICK" }, 20_000);
    for (const message of sentTo(released, S1))
      assert.equal("confirmedDecreeForLogHold" in message, false);
  });

  it("a secondary adopts the primary's hold, reports each change once, and drops it when promoted", () => {
    const pump = new Pump();
    const primary = pump.add(P, core(P));
    pump.add(S1, core(S1));
    pump.feed(S1, { type: "CONFIG", config: config(1, P, [S1]) });
    pump.feed(P, { type: "LEASE", expiresAtMs: 1_000_000 });
    pump.feed(P, { type: "CONFIG", config: config(1, P, [S1]) });
    assert.deepEqual(pump.take("PEER_LOG_HOLD"), []);

    primary.step({ type: "LOG_HOLD", fromDecree: 7 }, 0);
    pump.nowMs = 5_000;
    pump.feed(P, { type: "TICK" });
    assert.deepEqual(
      pump.take("PEER_LOG_HOLD").map((e) => [e.node, e.action.fromDecree]),
      [[S1, 7]],
    );
    // The same hold again: nothing new to report.
    pump.nowMs = 10_000;
    pump.feed(P, { type: "TICK" });
    assert.deepEqual(pump.take("PEER_LOG_HOLD"), []);
    // Released on the primary: the secondary releases too.
    primary.step({ type: "LOG_HOLD", fromDecree: undefined }, 10_000);
    pump.nowMs = 15_000;
    pump.feed(P, { type: "TICK" });
    assert.deepEqual(
      pump.take("PEER_LOG_HOLD").map((e) => [e.node, e.action.fromDecree]),
      [[S1, undefined]],
    );
  });

  it("a promoted secondary forgets the old primary's hold", () => {
    const secondary = core(S1);
    secondary.step({ type: "CONFIG", config: config(1, P, [S1]) }, 0);
    const check = secondary.step(
      msg(P, {
        method: "replica.group_check",
        gpid: config(1, P, [S1]).gpid,
        ballot: 1,
        config: config(1, P, [S1]),
        role: "SECONDARY",
        committedDecree: 0,
        confirmedDecreeForLogHold: 3,
      }),
      1,
    );
    assert.deepEqual(holds(check), [3]);
    const promoted = secondary.step({ type: "CONFIG", config: config(2, S1, []) }, 2);
    assert.deepEqual(holds(promoted), [undefined]);
    assert.ok(describe(promoted).includes("peer log hold none"));
  });
});
