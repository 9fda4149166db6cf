/**
 * Many seeds of the deterministic simulation (src/sim): faults, failovers, re-replication, and
 * the checkers. A failure names its seed; replay it with
 * `node --import tsx src/sim/cli.ts --seed N --verbose`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runSimulation } from "../../src/sim/index.ts";

const FIRST_SEED = Number(process.env.SIM_FIRST_SEED ?? 1);
const SEED_COUNT = Number(process.env.SIM_SEEDS ?? 120);

describe("replication simulation", () => {
  it(`keeps every acknowledged write and converges, for ${SEED_COUNT} seeds`, () => {
    let acknowledged = 0;
    let failovers = 0;
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEED_COUNT; seed++) {
      const result = runSimulation({ seed });
      assert.ok(
        result.ok,
        `seed=${seed}: ${result.failure}\nreplay: node --import tsx src/sim/cli.ts --seed ${seed} --verbose`,
      );
      acknowledged += result.stats.acknowledged ?? 0;
      failovers += (result.stats.maxBallot ?? 1) > 1 ? 1 : 0;
    }
    // The sweep is only worth something if it wrote a lot and changed configurations often.
    assert.ok(acknowledged > SEED_COUNT * 50, `only ${acknowledged} acknowledged writes`);
    assert.ok(failovers > SEED_COUNT / 2, `only ${failovers} runs changed a configuration`);
  });

  it("is deterministic: one seed replays identically", () => {
    const a = runSimulation({ seed: 4242 });
    const b = runSimulation({ seed: 4242 });
    assert.deepEqual(a, b);
    const c = runSimulation({ seed: 4243 });
    assert.notDeepEqual(a.stats, c.stats);
  });

  it("catches a harness that acknowledges prepares before the secondaries logged them", () => {
    const caught: string[] = [];
    for (let seed = 1; seed <= 10; seed++) {
      const result = runSimulation({ seed, bugs: { ackBeforeLogged: true } });
      if (!result.ok) caught.push(`seed=${seed}: ${result.failure}`);
    }
    assert.ok(caught.length > 0, "the injected bug went unnoticed");
  });

  it("catches a meta server that promotes a replica outside the configuration", () => {
    const caught: string[] = [];
    for (let seed = 1; seed <= 30 && caught.length === 0; seed++) {
      const result = runSimulation({ seed, bugs: { promoteNonMembers: true } });
      if (!result.ok) caught.push(`seed=${seed}: ${result.failure}`);
    }
    assert.ok(caught.length > 0, "the injected bug went unnoticed");
  });
});
