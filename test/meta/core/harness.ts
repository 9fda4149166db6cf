/**
 * Drives a MetaCore the way the meta server runtime will: persist actions go to a fake in-memory
 * meta store (applied atomically, then `persisted` is fed back) unless the test holds them, and
 * replies are collected by request id. Time is manual.
 */
import assert from "node:assert/strict";
import { TalariaError } from "../../../src/common/errors.ts";
import {
  type MetaAction,
  MetaCore,
  type MetaCoreOptionsInput,
  type MetaMethodName,
  type MetaMethodTypes,
  type MetaRecord,
  type MetaRequest,
  type MetaResult,
  type MetaStoreWrite,
} from "../../../src/meta/core/index.ts";
import {
  type BeaconResponse,
  gpidKey,
  MetaMethod,
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../../../src/protocol/index.ts";

export class FakeMetaStore {
  readonly records = new Map<string, Uint8Array>();

  apply(writes: readonly MetaStoreWrite[]): void {
    for (const write of writes) {
      if (write.op === "set") this.records.set(write.path, write.data);
      else
        for (const path of [...this.records.keys()])
          if (path === write.path || path.startsWith(`${write.path}/`)) this.records.delete(path);
    }
  }

  list(): MetaRecord[] {
    return [...this.records].map(([path, value]) => ({ path, value }));
  }
}

type PersistAction = Extract<MetaAction, { type: "persist" }>;

export class Driver {
  readonly store = new FakeMetaStore();
  readonly replies = new Map<number, MetaResult>();
  /** Persist actions the test chose to hold (when `autoPersist` is false). */
  readonly held: PersistAction[] = [];
  /** Every persist action emitted, in order. */
  readonly persists: PersistAction[] = [];
  autoPersist = true;
  nowMs: number;
  private nextRequestId = 1;

  constructor(
    public core: MetaCore,
    startMs = 1_000_000,
  ) {
    this.nowMs = startMs;
  }

  static create(options: MetaCoreOptionsInput = {}, deps = {}): Driver {
    return new Driver(MetaCore.create(options, deps));
  }

  handle(actions: readonly MetaAction[]): void {
    for (const action of actions) {
      if (action.type === "reply") {
        assert.ok(!this.replies.has(action.requestId), `two replies to ${action.requestId}`);
        this.replies.set(action.requestId, action.result);
        continue;
      }
      this.persists.push(action);
      if (!this.autoPersist) {
        this.held.push(action);
        continue;
      }
      this.store.apply(action.writes);
      this.handle(this.core.step({ type: "persisted", nowMs: this.nowMs, opId: action.opId }));
    }
  }

  /** Completes held persists (all, or those passing `filter`) successfully, in order. */
  release(filter: (action: PersistAction) => boolean = () => true): void {
    const chosen = this.held.filter(filter);
    for (const action of chosen) {
      this.held.splice(this.held.indexOf(action), 1);
      this.store.apply(action.writes);
      this.handle(this.core.step({ type: "persisted", nowMs: this.nowMs, opId: action.opId }));
    }
  }

  /**
   * Settles every held persist: bit i of `failMask` fails the i-th (retriably, or definitely when
   * bit i of `definiteMask` is set too), the others succeed. Persists started meanwhile stay held.
   */
  settleHeld(failMask: number, definiteMask: number): void {
    for (const [i, action] of [...this.held].entries()) {
      if (((failMask >> i) & 1) === 0) {
        this.release((a) => a === action);
        continue;
      }
      const definite = ((definiteMask >> i) & 1) === 1;
      this.fail(
        action,
        new TalariaError(definite ? "ERR_OBJECT_EXIST" : "ERR_TIMEOUT", "injected"),
      );
    }
  }

  fail(action: PersistAction, error: unknown): void {
    this.held.splice(this.held.indexOf(action), 1);
    this.handle(
      this.core.step({ type: "persistFailed", nowMs: this.nowMs, opId: action.opId, error }),
    );
  }

  send(request: MetaRequest): number {
    const requestId = this.nextRequestId;
    this.nextRequestId += 1;
    this.handle(this.core.step({ type: "request", nowMs: this.nowMs, requestId, request }));
    return requestId;
  }

  /** Sends a request and returns its reply (which must have arrived). */
  call<M extends MetaMethodName>(
    method: M,
    body: MetaMethodTypes[M]["request"],
  ): MetaResult<MetaMethodTypes[M]["response"]> {
    const requestId = this.send({ method, body } as MetaRequest);
    const result = this.replies.get(requestId);
    assert.ok(result !== undefined, `no reply yet to ${method}`);
    return result as MetaResult<MetaMethodTypes[M]["response"]>;
  }

  ok<M extends MetaMethodName>(
    method: M,
    body: MetaMethodTypes[M]["request"],
  ): MetaMethodTypes[M]["response"] {
    const result = this.call(method, body);
    if (!result.ok) assert.fail(`${method} failed: ${result.error.message}`);
    return result.value;
  }

  errorCode<M extends MetaMethodName>(method: M, body: MetaMethodTypes[M]["request"]): string {
    const result = this.call(method, body);
    assert.ok(!result.ok, `${method} unexpectedly succeeded`);
    return result.error.code;
  }

  tick(advanceMs = 0): void {
    this.nowMs += advanceMs;
    this.handle(this.core.tick(this.nowMs));
  }

  beacon(node: string, replicas: readonly ReplicaReport[] = []): BeaconResponse {
    return this.core.beacon({ node, replicas }, this.nowMs);
  }

  /** Beacons from each node, reporting every replica it is a member of at the given decree. */
  beaconAll(nodes: readonly string[], decree = 0): void {
    for (const node of nodes) this.beacon(node, memberReports(this.core, node, decree));
  }

  /** Creates a table and returns its configurations. */
  createApp(
    appName: string,
    partitionCount: number,
    replicaCount: number,
  ): PartitionConfiguration[] {
    return [
      ...this.ok(MetaMethod.CREATE_APP, { appName, partitionCount, replicaCount }).partitions,
    ];
  }

  config(appId: number, partitionIndex: number): PartitionConfiguration {
    const config = this.core
      .durableState()
      .partitions.find((c) => c.gpid.appId === appId && c.gpid.partitionIndex === partitionIndex);
    assert.ok(config !== undefined, `no partition ${appId}.${partitionIndex}`);
    return config;
  }
}

/** Reports for every available partition `node` is a member of, as a healthy replica would. */
export function memberReports(
  core: MetaCore,
  node: string,
  decree: number | ((key: string) => number) = 0,
): ReplicaReport[] {
  const { apps, partitions } = core.durableState();
  const available = new Set(apps.filter((a) => a.status === "AVAILABLE").map((a) => a.appId));
  return partitions
    .filter((c) => available.has(c.gpid.appId))
    .filter((c) => c.primary === node || c.secondaries.includes(node))
    .map((c) => {
      const d = typeof decree === "number" ? decree : decree(gpidKey(c.gpid));
      return {
        gpid: c.gpid,
        ballot: c.ballot,
        status: c.primary === node ? ReplicaStatus.PRIMARY : ReplicaStatus.SECONDARY,
        lastCommittedDecree: d,
        lastPreparedDecree: d,
      };
    });
}

export function nodes(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node${i + 1}:34801`);
}
