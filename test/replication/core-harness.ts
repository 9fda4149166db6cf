/**
 * Helpers for scripted tests of the replication core: build cores and configurations, feed
 * events, and pick actions out of the result. `Pump` wires several cores together (messages
 * delivered in FIFO order, log actions made durable at once) for multi-step flows.
 */
import assert from "node:assert/strict";
import { type Mutation, UpdateKind } from "../../src/codec/mutation.ts";
import type { Gpid, NodeAddress } from "../../src/protocol/ids.ts";
import type { PartitionConfiguration } from "../../src/protocol/partition-config.ts";
import type { ReplicaMessage } from "../../src/protocol/replica-messages.ts";
import {
  defaultReplicationOptions,
  type RecoveredState,
  ReplicaCore,
  type ReplicationAction,
  type ReplicationEvent,
  type ReplicationOptions,
} from "../../src/replication/index.ts";

export const GPID: Gpid = { appId: 1, partitionIndex: 0 };
export const P = "p:1";
export const S1 = "s1:1";
export const S2 = "s2:1";
export const L = "l:1";

export const testOptions: ReplicationOptions = {
  ...defaultReplicationOptions,
  prepareResendIntervalMs: 100,
  prepareTimeoutMs: 500,
  secondaryTimeoutMs: 1_000,
  groupCheckIntervalMs: 200,
  configChangeRetryMs: 1_000,
  learnerTimeoutMs: 2_000,
  learnRetryMs: 300,
};

export function config(
  ballot: number,
  primary: NodeAddress | undefined,
  secondaries: NodeAddress[],
): PartitionConfiguration {
  return {
    gpid: GPID,
    ballot,
    ...(primary === undefined ? {} : { primary }),
    secondaries,
    maxReplicaCount: 3,
    lastCommittedDecree: 0,
  };
}

export function core(
  self: NodeAddress,
  recovered?: RecoveredState,
  options: ReplicationOptions = testOptions,
): ReplicaCore {
  return new ReplicaCore({ self, gpid: GPID, replication: options }, recovered);
}

export function put(key: string, value: string) {
  return {
    kind: UpdateKind.PUT,
    hashKey: Buffer.from(key),
    sortKey: Buffer.alloc(0),
    value: Buffer.from(value),
    expireTs: 0,
  } as const;
}

export function mutation(decree: number, ballot: number, key = `k${decree}`): Mutation {
  return { ballot, decree, timestampUs: decree, updates: [put(key, `v${decree}`)] };
}

export function write(requestId: number, key = `k${requestId}`): ReplicationEvent {
  return { type: "CLIENT_WRITE", requestId, updates: [put(key, `v${requestId}`)], timestampUs: 1 };
}

export function msg(from: NodeAddress, message: ReplicaMessage): ReplicationEvent {
  return { type: "MESSAGE", from, message };
}

export type ActionType = ReplicationAction["type"];

/** A compact, comparable description of actions: what a reader of the script expects. */
export function describe(actions: readonly ReplicationAction[]): string[] {
  return actions.map((action) => {
    switch (action.type) {
      case "APPEND_LOG":
        return `append ${action.mutation.decree}@${action.mutation.ballot}`;
      case "TRUNCATE_LOG":
        return `truncate after ${action.afterDecree}`;
      case "APPLY":
        return `apply ${action.mutation.decree}`;
      case "REPLY":
        return action.result.ok
          ? `reply ${action.requestId} ok ${action.result.decree}`
          : `reply ${action.requestId} ${action.result.code}`;
      case "REQUEST_CONFIG_CHANGE":
        return `config change ${action.request.change.type} ${action.request.change.node} @${action.request.ballot}`;
      case "READ_LOG_FOR_LEARNER":
        return `read log for ${action.learner} ${action.fromDecree}..${action.toDecree}`;
      case "INSTALL_CHECKPOINT":
        return `install checkpoint ${action.checkpoint.decree}`;
      case "PEER_LOG_HOLD":
        return `peer log hold ${action.fromDecree ?? "none"}`;
      case "SEND":
        return `send ${action.to} ${describeMessage(action.message)}`;
      default:
        return assert.fail("unknown action");
    }
  });
}

function describeMessage(message: ReplicaMessage): string {
  switch (message.method) {
    case "replica.prepare":
      return `prepare ${message.mutation.decree}@${message.mutation.ballot} b${message.ballot} c${message.committedDecree}`;
    case "replica.prepare_ack":
      return message.refused === undefined
        ? `ack ${message.ackedDecree} b${message.ballot}`
        : `ack refused ${message.refused} b${message.ballot}`;
    case "replica.group_check":
      return `group check ${message.role} b${message.ballot} c${message.committedDecree}`;
    case "replica.group_check_ack":
      return `group check ack ${message.status} b${message.ballot}`;
    case "replica.learn_request":
      return `learn request c${message.lastCommittedDecree} b${message.ballot}`;
    case "replica.learn_response":
      return message.payload === undefined
        ? `learn refused ${message.refused}`
        : `learn ${message.payload.kind}`;
    default:
      return assert.fail("unknown message");
  }
}

/** The message of the only SEND to `to`. */
export function sentTo(actions: readonly ReplicationAction[], to: NodeAddress): ReplicaMessage[] {
  return actions.flatMap((action) =>
    action.type === "SEND" && action.to === to ? [action.message] : [],
  );
}

export function lastLogSeq(actions: readonly ReplicationAction[]): number {
  let seq = 0;
  for (const action of actions) {
    if (action.type === "APPEND_LOG" || action.type === "TRUNCATE_LOG") seq = action.logSeq;
  }
  assert.ok(seq > 0, "no log action");
  return seq;
}

/**
 * Several cores wired together: SENDs are delivered FIFO, log actions become durable right
 * away; every other action is recorded in `external` for the test to act on.
 */
export class Pump {
  readonly cores = new Map<NodeAddress, ReplicaCore>();
  readonly external: { node: NodeAddress; action: ReplicationAction }[] = [];
  readonly applied = new Map<NodeAddress, number[]>();
  /** Each node's log as its log actions left it. */
  readonly logs = new Map<NodeAddress, Mutation[]>();
  nowMs = 0;
  private readonly queue: { node: NodeAddress; event: ReplicationEvent }[] = [];

  add(node: NodeAddress, replica: ReplicaCore): ReplicaCore {
    this.cores.set(node, replica);
    this.applied.set(node, []);
    this.logs.set(node, []);
    return replica;
  }

  feed(node: NodeAddress, event: ReplicationEvent): void {
    this.queue.push({ node, event });
    this.run();
  }

  /** Takes (and removes) the recorded external actions of one type. */
  take<T extends ActionType>(
    type: T,
  ): { node: NodeAddress; action: Extract<ReplicationAction, { type: T }> }[] {
    const taken: { node: NodeAddress; action: Extract<ReplicationAction, { type: T }> }[] = [];
    for (let i = 0; i < this.external.length; ) {
      const entry = this.external[i];
      if (entry !== undefined && entry.action.type === type) {
        taken.push(entry as { node: NodeAddress; action: Extract<ReplicationAction, { type: T }> });
        this.external.splice(i, 1);
      } else i++;
    }
    return taken;
  }

  private run(): void {
    for (let steps = 0; this.queue.length > 0; steps++) {
      assert.ok(steps < 100_000, "pump does not settle");
      const next = this.queue.shift();
      if (next === undefined) return;
      const replica = this.cores.get(next.node);
      if (replica === undefined) continue;
      const actions = replica.step(next.event, this.nowMs);
      let durableSeq = 0;
      for (const action of actions) {
        switch (action.type) {
          case "APPEND_LOG":
            this.logs.get(next.node)?.push(action.mutation);
            durableSeq = action.logSeq;
            break;
          case "TRUNCATE_LOG": {
            const log = this.logs.get(next.node) ?? [];
            this.logs.set(
              next.node,
              log.filter((m) => m.decree <= action.afterDecree),
            );
            durableSeq = action.logSeq;
            break;
          }
          case "SEND":
            this.queue.push({
              node: action.to,
              event: { type: "MESSAGE", from: next.node, message: action.message },
            });
            break;
          case "APPLY":
            this.applied.get(next.node)?.push(action.mutation.decree);
            break;
          default:
            this.external.push({ node: next.node, action });
        }
      }
      if (durableSeq > 0)
        this.queue.push({ node: next.node, event: { type: "LOG_DURABLE", logSeq: durableSeq } });
    }
  }
}
