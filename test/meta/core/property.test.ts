/**
 * Random histories of beacons, ticks, node deaths, returns and quick restarts (a restarted primary
 * refuses its ballot), writes, learner additions, secondary removals and meta-store outcomes
 * (success, retriable failure, definite failure) over 3–6 nodes. After every step:
 * - one (gpid, ballot) never names two different member sets, and ballots only increase, by one
 *   per committed change;
 * - a new primary was a member of the previous configuration, or — when that had no primary —
 *   the last node dropped from it;
 * - the primary holds every write ever committed in the partition (a small replica model: a write
 *   commits only when every member of the configuration is up, PacificA style; a learner copies
 *   its primary when it is added);
 * - the meta store holds exactly the committed state (restore round trip).
 * Replicas a beacon reply names stale are deleted from their node, as a server does after its hold
 * period: if one was still needed, a later promotion finds a primary lacking committed writes.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { MetaCore } from "../../../src/meta/core/index.ts";
import {
  gpidKey,
  MetaMethod,
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

type Command =
  | { readonly t: "tick"; readonly ms: number }
  | { readonly t: "beacons" }
  | { readonly t: "kill"; readonly n: number }
  | { readonly t: "revive"; readonly n: number }
  /** The node restarts at once: its replicas are INACTIVE and refuse to be primary at their ballot. */
  | { readonly t: "restart"; readonly n: number }
  | { readonly t: "write"; readonly p: number }
  | { readonly t: "learn"; readonly stale: boolean }
  | { readonly t: "remove"; readonly p: number }
  | { readonly t: "flush"; readonly failMask: number; readonly definiteMask: number };

const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("tick" as const),
      ms: fc.integer({ min: 0, max: 6_000 }),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ t: "beacons" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("kill" as const), n: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("revive" as const), n: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("restart" as const), n: fc.nat(5) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("write" as const), p: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("learn" as const), stale: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("remove" as const), p: fc.nat(3) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("flush" as const),
      failMask: fc.nat(15),
      definiteMask: fc.nat(15),
    }),
  },
);

/** A replica as the model sees it; `floor`: never primary at a ballot ≤ it (set by a restart). */
interface Replica {
  decree: number;
  ballot: number;
  status: ReplicaReport["status"];
  floor?: number;
}

class Model {
  readonly up: Map<string, boolean>;
  /** Per node, per gpid key: the decree it holds and the config it last learned. */
  readonly data = new Map<string, Map<string, Replica>>();
  readonly committed = new Map<string, number>();

  constructor(readonly nodes: readonly string[]) {
    this.up = new Map(nodes.map((n) => [n, true]));
    for (const n of nodes) this.data.set(n, new Map());
  }

  decree(node: string, key: string): number {
    return this.data.get(node)?.get(key)?.decree ?? -1;
  }

  setDecree(node: string, key: string, decree: number): void {
    const replicas = this.data.get(node) as Map<string, Replica>;
    const current = replicas.get(key) ?? { decree: 0, ballot: 0, status: ReplicaStatus.LEARNER };
    replicas.set(key, { ...current, decree });
  }

  reports(node: string): ReplicaReport[] {
    return [...(this.data.get(node) ?? new Map())].map(([key, r]) => {
      const [appId, partitionIndex] = key.split(".").map(Number) as [number, number];
      return {
        gpid: { appId, partitionIndex },
        ballot: r.ballot,
        status: r.status,
        lastCommittedDecree: r.decree,
        lastPreparedDecree: r.decree,
      };
    });
  }

  learn(node: string, configs: readonly PartitionConfiguration[]): void {
    const replicas = this.data.get(node) as Map<string, Replica>;
    const listed = new Set<string>();
    for (const c of configs) {
      const key = gpidKey(c.gpid);
      listed.add(key);
      const current = replicas.get(key) ?? {
        decree: 0,
        ballot: 0,
        status: ReplicaStatus.SECONDARY,
      };
      const refuses = c.primary === node && c.ballot <= (current.floor ?? 0);
      replicas.set(key, {
        ...current,
        ballot: c.ballot,
        status: refuses
          ? ReplicaStatus.INACTIVE
          : c.primary === node
            ? ReplicaStatus.PRIMARY
            : ReplicaStatus.SECONDARY,
      });
    }
    for (const [key, r] of replicas)
      if (!listed.has(key)) replicas.set(key, { ...r, status: ReplicaStatus.INACTIVE });
  }
}

function members(config: PartitionConfiguration): string[] {
  return config.primary === undefined
    ? [...config.secondaries]
    : [config.primary, ...config.secondaries];
}

/** Persist kinds emitted over all runs (the runs must reach the rules they are meant to test). */
const persistKinds = new Map<string, number>();
/** Stale replicas named (and deleted) over all runs. */
let staleDeleted = 0;

function run(
  nodeCount: number,
  partitionCount: number,
  replicaCount: number,
  commands: readonly Command[],
): void {
  const all = nodes(nodeCount);
  const model = new Model(all);
  const driver = Driver.create({
    learnerProposalsPerNodeMax: 2,
    persistRetryDelayMs: 500,
    persistRetryDelayMaxMs: 2_000,
  });
  driver.beaconAll(all);
  driver.createApp("t", partitionCount, replicaCount);
  for (const c of driver.core.durableState().partitions)
    for (const n of members(c)) model.setDecree(n, gpidKey(c.gpid), 0);
  for (const n of all) model.learn(n, driver.beacon(n).configs);
  driver.autoPersist = false;

  const seen = new Map<string, Map<number, string>>();
  let previous = new Map(driver.core.durableState().partitions.map((c) => [gpidKey(c.gpid), c]));
  const pendingAdds = new Map<number, { learner: string; primary: string; key: string }>();

  const check = (step: number): void => {
    const state = driver.core.durableState();
    for (const config of state.partitions) {
      const key = gpidKey(config.gpid);
      const ballots = seen.get(key) ?? new Map<number, string>();
      seen.set(key, ballots);
      const set = members(config).join(",");
      assert.equal(
        ballots.get(config.ballot) ?? set,
        set,
        `step ${step}: ${key} ballot ${config.ballot} has two member sets`,
      );
      ballots.set(config.ballot, set);
      const before = previous.get(key) as PartitionConfiguration;
      if (config.ballot !== before.ballot) {
        assert.equal(config.ballot, before.ballot + 1, `step ${step}: ${key} ballot jumped`);
        if (config.primary !== undefined && config.primary !== before.primary) {
          const allowed =
            before.primary === undefined ? [before.lastDrops?.at(-1)] : members(before);
          assert.ok(
            allowed.includes(config.primary),
            `step ${step}: ${key} promoted ${config.primary}, not allowed by ${JSON.stringify(before)}`,
          );
        }
      } else assert.deepEqual(config, before, `step ${step}: ${key} changed without a new ballot`);
      if (config.primary !== undefined)
        assert.ok(
          model.decree(config.primary, key) >= (model.committed.get(key) ?? 0),
          `step ${step}: ${key} primary ${config.primary} lacks committed writes`,
        );
    }
    previous = new Map(state.partitions.map((c) => [gpidKey(c.gpid), c]));
    assert.deepEqual(
      MetaCore.restore(driver.store.list()).durableState(),
      state,
      `step ${step}: store differs`,
    );
  };

  const afterReplies = (): void => {
    for (const [requestId, add] of pendingAdds) {
      const result = driver.replies.get(requestId);
      if (result === undefined) continue;
      pendingAdds.delete(requestId);
      // The learner caught up from its primary while the change was persisted.
      if (result.ok) model.setDecree(add.learner, add.key, model.decree(add.primary, add.key));
    }
  };

  const persistsSeen = driver.persists.length;
  commands.forEach((command, step) => {
    switch (command.t) {
      case "tick":
        driver.tick(command.ms);
        break;
      case "beacons":
        for (const n of all) {
          if (!model.up.get(n)) continue;
          const reply = driver.beacon(n, model.reports(n));
          for (const gpid of reply.staleReplicas ?? []) {
            model.data.get(n)?.delete(gpidKey(gpid));
            staleDeleted += 1;
          }
          model.learn(n, reply.configs);
        }
        break;
      case "kill":
        model.up.set(all[command.n % nodeCount] as string, false);
        break;
      case "restart": {
        const replicas = model.data.get(all[command.n % nodeCount] as string);
        for (const [key, r] of replicas ?? [])
          replicas?.set(key, { ...r, status: ReplicaStatus.INACTIVE, floor: r.ballot });
        break;
      }
      case "revive":
        model.up.set(all[command.n % nodeCount] as string, true);
        break;
      case "write": {
        const config = driver.core.durableState().partitions[
          command.p % partitionCount
        ] as PartitionConfiguration;
        const key = gpidKey(config.gpid);
        if (config.primary === undefined || !members(config).every((n) => model.up.get(n))) break;
        const primaryStatus = model.data.get(config.primary)?.get(key)?.status;
        if (primaryStatus !== ReplicaStatus.PRIMARY) break;
        const decree = model.decree(config.primary, key) + 1;
        for (const n of members(config)) model.setDecree(n, key, decree);
        model.committed.set(key, decree);
        break;
      }
      case "learn":
        for (const proposal of driver.core.learnerProposals()) {
          const key = gpidKey(proposal.gpid);
          const config = driver.config(proposal.gpid.appId, proposal.gpid.partitionIndex);
          const primary = config.primary as string;
          if (!model.up.get(primary) || !model.up.get(proposal.learner)) continue;
          const requestId = driver.send({
            method: MetaMethod.UPDATE_CONFIGURATION,
            body: {
              gpid: proposal.gpid,
              node: primary,
              ballot: command.stale ? config.ballot - 1 : config.ballot,
              change: { type: "ADD_SECONDARY", node: proposal.learner },
            },
          });
          pendingAdds.set(requestId, { learner: proposal.learner, primary, key });
        }
        break;
      case "remove": {
        const config = driver.core.durableState().partitions[
          command.p % partitionCount
        ] as PartitionConfiguration;
        const down = config.secondaries.find((n) => !model.up.get(n));
        if (config.primary === undefined || !model.up.get(config.primary) || down === undefined)
          break;
        driver.send({
          method: MetaMethod.UPDATE_CONFIGURATION,
          body: {
            gpid: config.gpid,
            node: config.primary,
            ballot: config.ballot,
            change: { type: "REMOVE_SECONDARY", node: down },
          },
        });
        break;
      }
      case "flush":
        driver.settleHeld(command.failMask, command.definiteMask);
        break;
    }
    afterReplies();
    check(step);
  });
  for (const action of driver.persists.slice(persistsSeen))
    persistKinds.set(action.kind, (persistKinds.get(action.kind) ?? 0) + 1);
}

it("meta core property: ballots, promotions, committed writes and persistence stay consistent", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 6 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 3 }),
      fc.array(arbCommand, { minLength: 1, maxLength: 150, size: "max" }),
      (nodeCount, partitionCount, replicaCount, commands) =>
        run(nodeCount, partitionCount, replicaCount, commands),
    ),
    { numRuns: 150 },
  );
  assert.ok(
    (persistKinds.get("PRIMARY_NOT_SERVING") ?? 0) > 0,
    `no run replaced a refusing primary: ${JSON.stringify([...persistKinds])}`,
  );
  assert.ok(staleDeleted > 0, "no run deleted a stale replica");
});
