/**
 * Many seeds of the deterministic simulation (src/sim): faults, failovers, re-replication, meta
 * server crashes, and the checkers, with the real meta core deciding configurations (and a smaller
 * sweep with the in-sim stand-in, for comparison). A failure names its seed; replay it with
 * `npm run sim -- --seed N --verbose` (add `--meta simple` for the stand-in).
 *
 * SIM_SEEDS / SIM_SIMPLE_SEEDS / SIM_FIRST_SEED override the sweep sizes and start;
 * SIM_LONG_SEEDS / SIM_LONG_FIRST_SEED the sweep with 60 s of faults (`npm run sim -- --steps 60000`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runSimulation, type SimMetaKind } from "../../src/sim/index.ts";

const FIRST_SEED = Number(process.env.SIM_FIRST_SEED ?? 1);
const SEED_COUNT = Number(process.env.SIM_SEEDS ?? 600);
const SIMPLE_SEED_COUNT = Number(process.env.SIM_SIMPLE_SEEDS ?? 100);
const LONG_FIRST_SEED = Number(process.env.SIM_LONG_FIRST_SEED ?? 7_000_000);
const LONG_SEED_COUNT = Number(process.env.SIM_LONG_SEEDS ?? 120);
const LONG_ACTIVE_MS = 60_000;

function sweep(
  meta: SimMetaKind,
  count: number,
  first = FIRST_SEED,
  activeMs?: number,
): Map<string, number> {
  const totals = new Map<string, number>();
  for (let seed = first; seed < first + count; seed++) {
    const result = runSimulation({ seed, meta, ...(activeMs === undefined ? {} : { activeMs }) });
    const flag = `${meta === "core" ? "" : ` --meta ${meta}`}${activeMs === undefined ? "" : ` --steps ${activeMs}`}`;
    assert.ok(
      result.ok,
      `seed=${seed}: ${result.failure}\nreplay: npm run sim -- --seed ${seed}${flag} --verbose`,
    );
    for (const [name, value] of Object.entries(result.stats))
      totals.set(name, (totals.get(name) ?? 0) + value);
    totals.set(
      "changedConfigs",
      (totals.get("changedConfigs") ?? 0) + ((result.stats.maxBallot ?? 1) > 1 ? 1 : 0),
    );
  }
  return totals;
}

describe("replication simulation", () => {
  it(`keeps every acknowledged write and converges with the real meta core, for ${SEED_COUNT} seeds`, () => {
    const totals = sweep("core", SEED_COUNT);
    const total = (name: string): number => totals.get(name) ?? 0;
    // The sweep is only worth something if it wrote a lot and changed configurations often...
    assert.ok(
      total("acknowledged") > SEED_COUNT * 50,
      `only ${total("acknowledged")} acknowledged writes`,
    );
    assert.ok(
      total("changedConfigs") > SEED_COUNT / 2,
      `only ${total("changedConfigs")} runs changed a configuration`,
    );
    // ...and went through every path of the meta core that the replication core depends on.
    for (const [name, min] of [
      ["metaDEAD_PRIMARY_PROMOTED", SEED_COUNT / 2],
      ["metaPRIMARY_NOT_SERVING", SEED_COUNT / 4],
      ["metaDEAD_SECONDARY", SEED_COUNT / 10],
      ["metaLAST_PRIMARY_RETURNED", SEED_COUNT / 40],
      ["metaBALANCE_PRIMARY", SEED_COUNT / 4],
      ["metaUPDATE_CONFIGURATION", SEED_COUNT],
      ["metaCrashes", SEED_COUNT / 10],
      ["metaPersistTimeouts", SEED_COUNT / 40],
      ["checkpointInstalls", SEED_COUNT / 2],
    ] as const)
      assert.ok(total(name) >= min, `${name}: ${total(name)} < ${min} in ${SEED_COUNT} seeds`);
  });

  it(`also holds with the in-sim stand-in meta server, for ${SIMPLE_SEED_COUNT} seeds`, () => {
    const totals = sweep("simple", SIMPLE_SEED_COUNT);
    assert.ok((totals.get("acknowledged") ?? 0) > SIMPLE_SEED_COUNT * 50);
  });

  it(`holds through 60 s of faults (a third of the runs restart meta several times), for ${LONG_SEED_COUNT} seeds`, () => {
    const totals = sweep("core", LONG_SEED_COUNT, LONG_FIRST_SEED, LONG_ACTIVE_MS);
    const total = (name: string): number => totals.get(name) ?? 0;
    assert.ok(
      total("acknowledged") > LONG_SEED_COUNT * 200,
      `${total("acknowledged")} acknowledged`,
    );
    assert.ok(total("metaCrashes") >= LONG_SEED_COUNT, `${total("metaCrashes")} meta crashes`);
    assert.ok(total("crashes") >= LONG_SEED_COUNT * 5, `${total("crashes")} crashes`);
  });

  it("does not take a late refusal of an earlier change for the refusal of an ADD_SECONDARY", () => {
    // Seed 7003464 (60 s of faults): a duplicated REMOVE_SECONDARY based on ballot 13 was refused
    // with meta's ballot-14 configuration while the primary, at 14, waited on an ADD_SECONDARY; it
    // stopped gating commits on the learner, which then became a secondary missing two of them.
    const result = runSimulation({ seed: 7_003_464, activeMs: 60_000 });
    assert.ok(result.ok, result.failure);
  });

  it("does not apply a copy of an ADD_SECONDARY that meta refused (the change fence)", () => {
    // Seed 7008477 (60 s of faults): ADD_SECONDARY of n2 at ballot 8 was refused (n2 not alive),
    // the primary stopped gating on it, and a later copy of the same request was accepted once n2
    // was back: a secondary missing three committed decrees.
    const result = runSimulation({ seed: 7_008_477, activeMs: 60_000 });
    assert.ok(result.ok, result.failure);
  });

  it("asks to add a learner that caught up while another change was pending (a meta restart's refusal)", () => {
    // Seed 13002189 (60 s of faults): after the last meta restart the primary's REMOVE_SECONDARY
    // was refused (the change fence, unknown after the restart) while a learner had caught up;
    // no write came after, so no ack asked for its ADD_SECONDARY: 2 of 3 replicas at the end.
    const result = runSimulation({ seed: 13_002_189, activeMs: 60_000 });
    assert.ok(result.ok, result.failure);
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
