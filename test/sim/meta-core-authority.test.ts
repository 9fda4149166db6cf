/**
 * The simulator's adapter around the real meta core: table creation through CREATE_APP, answers
 * only after the change is persisted, crashes that lose what was in flight, restarts from the
 * store, and fencing of writes a crashed leader sent.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ReplicaReport } from "../../src/protocol/index.ts";
import { ReplicaStatus } from "../../src/protocol/index.ts";
import type { UpdateConfigurationResult } from "../../src/sim/config-authority.ts";
import { EventQueue } from "../../src/sim/event-queue.ts";
import { MetaCoreAuthority } from "../../src/sim/meta-core-authority.ts";
import { Prng } from "../../src/sim/prng.ts";
import { simMetaCoreOptions } from "../../src/sim/simulation.ts";

const nodes = ["n1:1", "n2:1", "n3:1", "n4:1"];

function setup(persistDelayMaxMs: number) {
  const queue = new EventQueue();
  const failures: string[] = [];
  const counters = new Map<string, number>();
  const authority = new MetaCoreAuthority(
    {
      nodes,
      table: { appId: 1, appName: "sim", partitionCount: 2, replicaCount: 3 },
      meta: simMetaCoreOptions,
      persistDelayMaxMs,
      persistTimeoutRate: 0,
      createDeadlineMs: 1_000,
    },
    {
      queue,
      rng: new Prng(7),
      log: () => {},
      count: (what) => counters.set(what, (counters.get(what) ?? 0) + 1),
      fail: (message) => failures.push(message),
    },
  );
  /** Every node beacons, reporting what the authority last told it (healthy replicas). */
  const beaconAll = (): void => {
    for (const node of nodes) {
      const replicas: ReplicaReport[] = authority
        .configurations()
        .filter((c) => c.primary === node || c.secondaries.includes(node))
        .map((c) => ({
          gpid: c.gpid,
          ballot: c.ballot,
          status: c.primary === node ? ReplicaStatus.PRIMARY : ReplicaStatus.SECONDARY,
          lastCommittedDecree: 0,
          lastPreparedDecree: 0,
        }));
      authority.onBeacon({ node, replicas }, queue.nowMs);
    }
  };
  const advance = (ms: number): void => {
    const until = queue.nowMs + ms;
    while (queue.nowMs < until) {
      queue.runUntil(Math.min(until, queue.nowMs + 100));
      beaconAll();
      authority.tick(queue.nowMs);
    }
  };
  return { queue, authority, failures, counters, beaconAll, advance };
}

describe("sim: the real meta core behind ConfigAuthority", () => {
  it("creates the table once every server has beaconed, and answers queries only then", () => {
    const { queue, authority, advance } = setup(20);
    assert.equal(authority.onQueryConfiguration({ appName: "sim" }, queue.nowMs), undefined);
    advance(300);
    const created = authority.onQueryConfiguration({ appName: "sim" }, queue.nowMs);
    assert.equal(created?.app.appId, 1);
    assert.equal(created?.partitions.length, 2);
    assert.ok(created?.partitions.every((c) => c.ballot === 1 && c.secondaries.length === 2));
  });

  it("answers UPDATE_CONFIGURATION only once the change is persisted", () => {
    const { queue, authority, advance } = setup(50);
    advance(300);
    const [config] = authority.configurations();
    assert.ok(config?.primary !== undefined);
    const [removed] = config.secondaries;
    assert.ok(removed !== undefined);
    const results: UpdateConfigurationResult[] = [];
    authority.onUpdateConfiguration(
      {
        gpid: config.gpid,
        node: config.primary,
        ballot: config.ballot,
        change: { type: "REMOVE_SECONDARY", node: removed },
      },
      queue.nowMs,
      (result) => results.push(result),
    );
    assert.equal(results.length, 0, "not before the meta store acknowledged the write");
    queue.runUntil(queue.nowMs + 50);
    assert.equal(results.length, 1);
    const [result] = results;
    assert.ok(result?.ok);
    assert.equal(result.response.config.ballot, config.ballot + 1);
    assert.ok(!result.response.config.secondaries.includes(removed));
  });

  it("loses in-flight answers on a crash, restores from the store, and fences the old leader's writes", () => {
    const { queue, authority, failures, advance } = setup(50);
    advance(300);
    const before = authority.configurations();
    const [config] = before;
    assert.ok(config?.primary !== undefined);
    const results: UpdateConfigurationResult[] = [];
    const request = {
      gpid: config.gpid,
      node: config.primary,
      ballot: config.ballot,
      change: { type: "REMOVE_SECONDARY" as const, node: config.secondaries[0] as string },
    };
    authority.onUpdateConfiguration(request, queue.nowMs, (result) => results.push(result));
    authority.crash();
    assert.equal(authority.up, false);
    assert.equal(authority.onBeacon({ node: "n1:1", replicas: [] }, queue.nowMs), undefined);
    authority.restart();
    queue.runUntil(queue.nowMs + 100);
    assert.equal(results.length, 0, "the answer died with the old leader");
    assert.deepEqual(
      authority.configurations(),
      before,
      "the old leader's write landed after the new leader restored: fenced off",
    );
    assert.deepEqual(failures, [], "the store restores without problems");

    // A write still in flight while no leader is up may land; the next leader restores it.
    authority.onUpdateConfiguration(request, queue.nowMs, (result) => results.push(result));
    authority.crash();
    queue.runUntil(queue.nowMs + 100);
    authority.restart();
    const restored = authority.configurations()[0];
    assert.equal(restored?.ballot, config.ballot + 1);
    assert.equal(results.length, 0);
  });

  it("after a restart waits the grace period before declaring silent servers dead", () => {
    const { queue, authority, advance } = setup(0);
    advance(300);
    const before = authority.configurations();
    authority.crash();
    queue.runUntil(queue.nowMs + 5_000);
    authority.restart();
    // Nobody beacons for almost the grace period: nothing changes.
    for (let t = 0; t < 19; t += 1) {
      queue.runUntil(queue.nowMs + 100);
      authority.tick(queue.nowMs);
    }
    assert.deepEqual(authority.configurations(), before);
    queue.runUntil(queue.nowMs + 300);
    authority.tick(queue.nowMs);
    assert.ok(authority.configurations().every((c) => c.primary === undefined));
  });
});
