/**
 * Random histories of writes, duplication adds (incremental and full) / modifies / re-syncs,
 * duplication syncs from replica servers (modelled as the replica side must behave: start decree
 * = last acknowledged decree at first sight of a DS_INIT duplication, a prepared checkpoint decree
 * in DS_PREPARE, re-sync progress in DS_APP, then shipping forward), the remote meta calls of full
 * duplication (answered or failed), meta-store outcomes (success, retriable and definite
 * failures, held writes) and meta restarts (a held write may or may not have landed). After every
 * step:
 * - a partition's confirmed decree, in memory and in the store, never goes down;
 * - every committed status change of a duplication is a transition of the table, and a removed
 *   dupid never comes back; a full sync is recorded exactly in DS_PREPARE and DS_APP;
 * - no confirmed decree is above what the partition committed;
 * - an add answered with DS_LOG / DS_PAUSE has start decrees at most the acknowledged decrees at
 *   that moment (no write acknowledged afterwards can be missed);
 * - with no write in flight, restoring from the store gives exactly the committed state.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { TalariaError } from "../../../src/common/errors.ts";
import { isValidTransition } from "../../../src/meta/core/duplication/index.ts";
import { MetaCore, type MetaResult } from "../../../src/meta/core/index.ts";
import {
  type AddDuplicationResponse,
  type DuplicationConfirm,
  DuplicationFailMode,
  DuplicationMethod,
  DuplicationStatus,
  type DuplicationSyncPartition,
  type DuplicationSyncResponse,
} from "../../../src/protocol/index.ts";
import { dupCluster, dupOptions, restart, runRemoteTasks } from "./duplication-harness.ts";

const PARTITIONS = 3;
/** A short progress period so histories see many progress writes (and their throttling). */
const options = { ...dupOptions, progressMinUpdatePeriodMs: 1_000 };
const REMOTES = ["dc2", "dc3"] as const;

type Command =
  | { readonly t: "write"; readonly p: number; readonly n: number }
  | {
      readonly t: "add";
      readonly r: number;
      readonly freezed: boolean;
      readonly waitMs: number;
      readonly full: boolean;
    }
  | { readonly t: "resync"; readonly r: number }
  | { readonly t: "remote"; readonly failMask: number }
  | { readonly t: "modify"; readonly r: number; readonly to: number }
  | { readonly t: "sync"; readonly node: number }
  | { readonly t: "ship"; readonly p: number; readonly n: number }
  | { readonly t: "tick"; readonly ms: number }
  | { readonly t: "flush"; readonly failMask: number; readonly definiteMask: number }
  | { readonly t: "hold"; readonly on: boolean }
  | { readonly t: "restart"; readonly landMask: number };

const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      p: fc.nat(PARTITIONS - 1),
      n: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("add" as const),
      r: fc.nat(1),
      freezed: fc.boolean(),
      waitMs: fc.constantFrom(0, 2_000, 30_000),
      full: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("resync" as const), r: fc.nat(1) }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant("remote" as const), failMask: fc.nat(3) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("modify" as const), r: fc.nat(1), to: fc.nat(5) }),
  },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("sync" as const), node: fc.nat(2) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("ship" as const),
      p: fc.nat(PARTITIONS - 1),
      n: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("tick" as const),
      ms: fc.integer({ min: 0, max: 7_000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("flush" as const),
      failMask: fc.nat(15),
      definiteMask: fc.nat(15),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("hold" as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("restart" as const), landMask: fc.nat(15) }) },
);

/** What one replica server remembers (it keeps it across meta restarts). */
interface ServerModel {
  lastReply: DuplicationSyncResponse | undefined;
  /** `<dupid>/<pidx>` → start decree computed at first sight of the duplication as primary. */
  readonly starts: Map<string, number>;
}

function run(commands: readonly Command[]): void {
  const cluster = dupCluster(PARTITIONS, options);
  let driver = cluster.driver;
  const { appId, nodes } = cluster;
  const committed = Array.from({ length: PARTITIONS }, () => 0);
  /** Per `<dupid>/<pidx>`: the decree up to which the remote acknowledged (the replica's lastDecree). */
  const shipped = new Map<string, number>();
  const servers = nodes.map((): ServerModel => ({ lastReply: undefined, starts: new Map() }));
  const addRequests = new Set<number>();
  const maxConfirmed = new Map<string, number>();
  const maxStored = new Map<string, number>();
  const lastStatus = new Map<number, DuplicationStatus>();
  const removed = new Set<number>();

  const dupOf = (remote: string) =>
    driver.core.durableState().duplications.find((d) => d.remoteClusterName === remote);

  const check = (): void => {
    const state = driver.core.durableState();
    const present = new Set<number>();
    for (const dup of state.duplications) {
      present.add(dup.dupid);
      assert.ok(!removed.has(dup.dupid), `removed dupid ${dup.dupid} came back`);
      const before = lastStatus.get(dup.dupid);
      if (before !== undefined && before !== dup.status) {
        const legal =
          isValidTransition(before, dup.status) ||
          ((before === DuplicationStatus.DS_INIT || before === DuplicationStatus.DS_APP) &&
            dup.status === DuplicationStatus.DS_PAUSE &&
            dup.freezed);
        assert.ok(legal, `${dup.dupid}: ${before} → ${dup.status}`);
      }
      lastStatus.set(dup.dupid, dup.status);
      const copying =
        dup.status === DuplicationStatus.DS_PREPARE || dup.status === DuplicationStatus.DS_APP;
      assert.equal(dup.fullSync !== undefined, copying, `${dup.dupid}: fullSync in ${dup.status}`);
      assert.ok(!dup.prepared || dup.status === DuplicationStatus.DS_PREPARE);
      dup.confirmedDecrees.forEach((decree, p) => {
        const key = `${dup.dupid}/${p}`;
        assert.ok(decree >= (maxConfirmed.get(key) ?? -1), `${key} confirmed went down`);
        assert.ok(decree <= (committed[p] ?? 0), `${key} confirmed above committed`);
        maxConfirmed.set(key, decree);
      });
    }
    for (const [dupid] of lastStatus)
      if (!present.has(dupid)) {
        removed.add(dupid);
        lastStatus.delete(dupid);
      }
    for (const [path, value] of driver.store.records) {
      const match = /\/duplication\/(\d+)\/(\d+)$/.exec(path);
      if (match === null) continue;
      const key = `${match[1]}/${match[2]}`;
      const decree = Number(Buffer.from(value).toString());
      assert.ok(decree >= (maxStored.get(key) ?? -1), `${key} stored went down`);
      maxStored.set(key, decree);
    }
    for (const requestId of [...addRequests]) {
      const reply = driver.replies.get(requestId);
      if (reply === undefined) continue;
      addRequests.delete(requestId);
      if (!reply.ok) continue;
      const added = reply.value as AddDuplicationResponse;
      if (added.status === DuplicationStatus.DS_INIT) continue;
      for (const [p, start] of added.startDecrees.entries())
        assert.ok(start <= (committed[p] ?? 0), "a start decree above the acknowledged decree");
    }
    if (driver.held.length === 0) {
      const restored = MetaCore.restore(driver.store.list(), { duplication: options });
      assert.deepEqual(restored.durableState(), state);
    }
  };

  const syncFrom = (index: number): void => {
    const node = nodes[index] ?? "";
    const server = servers[index] as ServerModel;
    const partitions: DuplicationSyncPartition[] = [];
    const entries = server.lastReply?.apps.find((a) => a.appId === appId)?.duplications ?? [];
    for (let p = 0; p < PARTITIONS; p += 1) {
      const config = driver.config(appId, p);
      if (config.primary !== node || entries.length === 0) continue;
      const confirms = entries.map((entry): DuplicationConfirm => {
        const key = `${entry.dupid}/${p}`;
        const confirmed = entry.confirmedDecrees[p] ?? -1;
        if (entry.status === DuplicationStatus.DS_PREPARE) {
          // The checkpoint covers what is applied (an empty partition commits an empty write).
          committed[p] = Math.max(committed[p] ?? 0, 1);
          const decree = confirmed === -1 ? (committed[p] ?? 1) : confirmed;
          return { dupid: entry.dupid, confirmedDecree: decree, checkpointPrepared: true };
        }
        if (entry.status === DuplicationStatus.DS_APP) {
          return {
            dupid: entry.dupid,
            confirmedDecree: Math.max(confirmed, 0),
            ...(entry.fullSync === "resync"
              ? { resyncProgress: { sentBytes: 1, totalBytes: 1, done: true } }
              : {}),
          };
        }
        if (confirmed === -1) {
          if (!server.starts.has(key)) server.starts.set(key, committed[p] ?? 0);
          return { dupid: entry.dupid, confirmedDecree: server.starts.get(key) ?? 0 };
        }
        const last = Math.max(shipped.get(key) ?? 0, confirmed);
        shipped.set(key, last);
        return { dupid: entry.dupid, confirmedDecree: last };
      });
      partitions.push({
        gpid: config.gpid,
        ballot: config.ballot,
        lastCommittedDecree: committed[p] ?? 0,
        confirms,
      });
    }
    const result = driver.call(DuplicationMethod.SYNC, { node, partitions });
    if (result.ok) server.lastReply = result.value;
  };

  for (const command of commands) {
    switch (command.t) {
      case "write":
        committed[command.p] = (committed[command.p] ?? 0) + command.n;
        break;
      case "add": {
        const requestId = driver.send({
          method: DuplicationMethod.ADD,
          body: {
            appName: "t",
            remoteClusterName: REMOTES[command.r] ?? "dc2",
            freezed: command.freezed,
            waitMs: command.waitMs,
            isDuplicatingCheckpoint: command.full,
          },
        });
        if (!command.full) addRequests.add(requestId);
        break;
      }
      case "resync": {
        const dup = dupOf(REMOTES[command.r] ?? "dc2");
        if (dup !== undefined)
          driver.send({
            method: DuplicationMethod.RESYNC,
            body: { appName: "t", dupid: dup.dupid },
          });
        break;
      }
      case "remote": {
        // The follower table: created at once, every partition serving far past any decree.
        let index = 0;
        runRemoteTasks(driver, (task): MetaResult => {
          index += 1;
          if (((command.failMask >> (index % 2)) & 1) === 1)
            return { ok: false, error: new TalariaError("ERR_TIMEOUT", "injected") };
          if (task.kind === "CREATE_FOLLOWER") return { ok: true, value: undefined };
          return {
            ok: true,
            value: {
              app: {
                appId: 9,
                appName: task.request.appName,
                partitionCount: PARTITIONS,
                replicaCount: 3,
                status: "AVAILABLE",
                envs: {},
                createdAtMs: 0,
              },
              partitions: Array.from({ length: PARTITIONS }, (_, partitionIndex) => ({
                gpid: { appId: 9, partitionIndex },
                ballot: 3,
                primary: "r1:1",
                secondaries: ["r2:1"],
                maxReplicaCount: 3,
                lastCommittedDecree: 1_000_000,
              })),
            },
          };
        });
        break;
      }
      case "modify": {
        const dup = dupOf(REMOTES[command.r] ?? "dc2");
        if (dup === undefined) break;
        const choices = [
          { status: DuplicationStatus.DS_LOG },
          { status: DuplicationStatus.DS_PAUSE },
          { status: DuplicationStatus.DS_REMOVED },
          { failMode: DuplicationFailMode.FAIL_SKIP },
          { failMode: DuplicationFailMode.FAIL_SLOW },
          { status: DuplicationStatus.DS_APP },
        ];
        driver.send({
          method: DuplicationMethod.MODIFY,
          body: { appName: "t", dupid: dup.dupid, ...choices[command.to] },
        });
        break;
      }
      case "sync":
        syncFrom(command.node);
        break;
      case "ship": {
        // The primary's duplicator ships forward, never beyond what is committed.
        for (const dup of driver.core.durableState().duplications) {
          if (dup.status !== DuplicationStatus.DS_LOG) continue;
          const key = `${dup.dupid}/${command.p}`;
          const from = Math.max(shipped.get(key) ?? 0, dup.confirmedDecrees[command.p] ?? 0);
          shipped.set(key, Math.min(committed[command.p] ?? 0, from + command.n));
        }
        break;
      }
      case "tick":
        driver.tick(command.ms);
        break;
      case "hold":
        driver.autoPersist = !command.on;
        if (!command.on) driver.release();
        break;
      case "flush": {
        const held = [...driver.held];
        held.forEach((action, i) => {
          if (((command.failMask >> (i % 4)) & 1) === 0) driver.release((a) => a === action);
          else
            driver.fail(
              action,
              new TalariaError(
                ((command.definiteMask >> (i % 4)) & 1) === 1 ? "ERR_OBJECT_EXIST" : "ERR_TIMEOUT",
                "injected",
              ),
            );
        });
        break;
      }
      case "restart": {
        // Writes in flight may or may not have landed; the new leader restores from the store.
        driver.held.forEach((action, i) => {
          if (((command.landMask >> (i % 4)) & 1) === 1) driver.store.apply(action.writes);
        });
        driver = restart(driver, options);
        addRequests.clear();
        break;
      }
    }
    check();
  }
}

it("random add / modify / sync / restart histories never regress a confirmed decree and keep transitions legal", () => {
  fc.assert(
    fc.property(
      fc.array(arbCommand, { minLength: 10, maxLength: 120, size: "max" }),
      (commands) => {
        run(commands);
      },
    ),
    { numRuns: 200 },
  );
});
