/**
 * One or two tables created and dropped (hold periods 0–3 s), then random histories of creates,
 * drops, recalls (of dropped or already removed tables), ticks, beacons, meta-store outcomes
 * (success, retriable and definite failures) and meta-server crashes (each change in flight either
 * landed or not; the new leader's clock up to 5 s behind). Replica servers report every table ever
 * created, hosted and stored, and beacon after every step. After every step:
 * - a table named in a beacon reply's `removedAppIds` (its replicas are garbage) has its removal
 *   record in the store and is never available again — not by recall, not after a restart;
 * - it was dropped when first named.
 * At the end, with the store healthy and time past every hold period, every dropped table is
 * removed and named: nothing is kept forever.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { MetaCore } from "../../../src/meta/core/index.ts";
import { AppStatus, MetaMethod, ReplicaStatus } from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

type Command =
  | { readonly t: "create"; readonly name: number }
  | { readonly t: "drop"; readonly name: number; readonly reserveSeconds: number }
  /** Recalls the `pick`-th of the dropped or already named tables (any table if none). */
  | { readonly t: "recall"; readonly pick: number; readonly rename: boolean }
  | { readonly t: "tick"; readonly ms: number }
  | { readonly t: "beacons" }
  | { readonly t: "flush"; readonly failMask: number; readonly definiteMask: number }
  | { readonly t: "crash"; readonly landedMask: number; readonly skewMs: number };

const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant("create" as const), name: fc.nat(2) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("drop" as const),
      name: fc.nat(2),
      reserveSeconds: fc.integer({ min: 0, max: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("recall" as const),
      pick: fc.nat(7),
      rename: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("tick" as const),
      ms: fc.integer({ min: 0, max: 4000 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ t: "beacons" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("flush" as const),
      failMask: fc.nat(15),
      definiteMask: fc.nat(15),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("crash" as const),
      landedMask: fc.nat(15),
      skewMs: fc.integer({ min: 0, max: 5000 }),
    }),
  },
);

const NODES = nodes(3);

/** `reserves`: tables t0, t1 … are created first and dropped with these hold periods (s). */
function run(reserves: readonly number[], commands: readonly Command[]): void {
  let driver = Driver.create({ holdSecondsForDroppedApp: 2 });
  const named = new Set<number>();

  const beacons = (): void => {
    const ids = Array.from({ length: driver.core.durableState().nextAppId - 1 }, (_, i) => i + 1);
    for (const node of NODES) {
      const replicas = ids.map((appId) => ({
        gpid: { appId, partitionIndex: 0 },
        ballot: 1,
        status: ReplicaStatus.INACTIVE,
        lastCommittedDecree: 0,
        lastPreparedDecree: 0,
      }));
      const reply = driver.core.beacon({ node, replicas, storedAppIds: ids }, driver.nowMs);
      for (const appId of reply.removedAppIds ?? []) {
        if (!named.has(appId)) {
          const app = driver.core.durableState().apps.find((a) => a.appId === appId);
          assert.ok(app === undefined || app.status === AppStatus.DROPPED, `${appId} named alive`);
        }
        named.add(appId);
      }
    }
  };
  const check = (): void => {
    const state = driver.core.durableState();
    for (const appId of named) {
      assert.ok(
        driver.store.records.has(`/talaria/removed_apps/${appId}`),
        `app ${appId} named removed without its record in the store`,
      );
      const app = state.apps.find((a) => a.appId === appId);
      assert.notEqual(app?.status, AppStatus.AVAILABLE, `app ${appId} available after removal`);
    }
  };
  const flushAll = (): void => {
    while (driver.held.length > 0) driver.release();
  };

  beacons();
  for (const [i, reserveSeconds] of reserves.entries()) {
    driver.createApp(`t${i}`, 1, 3);
    driver.ok(MetaMethod.DROP_APP, { appName: `t${i}`, reserveSeconds });
  }
  driver.autoPersist = false;
  beacons();
  for (const command of commands) {
    switch (command.t) {
      case "create":
        driver.send({
          method: MetaMethod.CREATE_APP,
          body: { appName: `t${command.name}`, partitionCount: 1, replicaCount: 3 },
        });
        break;
      case "drop":
        driver.send({
          method: MetaMethod.DROP_APP,
          body: { appName: `t${command.name}`, reserveSeconds: command.reserveSeconds },
        });
        break;
      case "recall": {
        const dropped = driver.core
          .durableState()
          .apps.filter((a) => a.status === AppStatus.DROPPED)
          .map((a) => a.appId);
        const candidates = [...new Set([...dropped, ...named])].sort((a, b) => a - b);
        const appId = candidates[command.pick % Math.max(1, candidates.length)] ?? command.pick + 1;
        driver.send({
          method: MetaMethod.RECALL_APP,
          body: { appId, ...(command.rename ? { newAppName: `r${appId}` } : {}) },
        });
        flushAll();
        break;
      }
      case "tick":
        driver.tick(command.ms);
        break;
      case "beacons":
        beacons();
        break;
      case "flush":
        driver.settleHeld(command.failMask, command.definiteMask);
        break;
      case "crash": {
        // Each change in flight either reached the store or not; the rest is lost with the leader.
        for (const [i, action] of driver.held.entries())
          if (((command.landedMask >> i) & 1) === 1) driver.store.apply(action.writes);
        const store = driver.store;
        driver = new Driver(MetaCore.restore(store.list()), driver.nowMs - command.skewMs);
        for (const [path, value] of store.records) driver.store.records.set(path, value);
        driver.autoPersist = false;
        break;
      }
    }
    // Servers beacon all the time: every step is followed by a round of beacons.
    beacons();
    check();
  }

  // Liveness: a healthy store and time past every hold period remove every dropped table.
  for (let round = 0; round < 8; round += 1) {
    flushAll();
    driver.tick(2_500);
    flushAll();
    beacons();
    check();
  }
  const state = driver.core.durableState();
  assert.deepEqual(
    state.apps.filter((a) => a.status === AppStatus.DROPPED).map((a) => a.appId),
    [],
    "a dropped table outlived its hold period",
  );
  for (const removed of state.removedApps)
    assert.ok(named.has(removed.appId), `removed app ${removed.appId} never named`);
}

it("meta core property: only tables removed for good are named as garbage, and all of them are", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 2 }),
      fc.array(arbCommand, { minLength: 1, maxLength: 30 }),
      (reserves, commands) => run(reserves, commands),
    ),
    { numRuns: 500 },
  );
});
