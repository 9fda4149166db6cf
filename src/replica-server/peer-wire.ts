/**
 * Replica-to-replica messages on the wire: mutations travel as mutation-codec bytes, and every
 * field of a received message is validated before the core sees it. A malformed message is an
 * ERR_INVALID_PARAMETERS / ERR_INVALID_DATA for that one request; it never reaches the core.
 */
import type { Mutation } from "../codec/mutation.ts";
import { TalariaError } from "../common/errors.ts";
import {
  fromWireMutation,
  type LearnPayload,
  type PartitionConfiguration,
  PeerRole,
  RefusalReason,
  type ReplicaMessage,
  ReplicaMethod,
  toWireMutation,
} from "../protocol/index.ts";
import * as v from "../protocol/validate.ts";

const MEMBERS_MAX = 16;
/** Mutations in one learn response (its bytes are bounded by the learner batch size). */
const LEARN_MUTATIONS_MAX = 1_000_000;

type Wire = Record<string, unknown>;

export function decodeConfig(value: unknown, field: string): PartitionConfiguration {
  const c = v.object(value, field);
  const primary =
    c.primary === undefined || c.primary === null
      ? undefined
      : v.nodeAddress(c.primary, `${field}.primary`);
  const lastDrops =
    c.lastDrops === undefined || c.lastDrops === null
      ? undefined
      : v.array(c.lastDrops, `${field}.lastDrops`, MEMBERS_MAX, v.nodeAddress);
  return {
    gpid: v.gpid(c.gpid, `${field}.gpid`),
    ballot: v.integer(c.ballot, `${field}.ballot`, 0),
    ...(primary === undefined ? {} : { primary }),
    secondaries: v.array(c.secondaries, `${field}.secondaries`, MEMBERS_MAX, v.nodeAddress),
    maxReplicaCount: v.integer(c.maxReplicaCount, `${field}.maxReplicaCount`, 1),
    lastCommittedDecree: v.integer(c.lastCommittedDecree, `${field}.lastCommittedDecree`, 0),
    ...(lastDrops === undefined ? {} : { lastDrops }),
  };
}

function mutation(value: unknown, field: string): Mutation {
  return fromWireMutation(v.bytes(value, field));
}

function refused(value: unknown): { refused?: RefusalReason } {
  return value === undefined || value === null
    ? {}
    : { refused: v.oneOf(value, "refused", Object.values(RefusalReason)) };
}

function learnPayload(value: unknown): LearnPayload | undefined {
  if (value === undefined || value === null) return undefined;
  const p = v.object(value, "payload");
  switch (p.kind) {
    case "MUTATIONS":
      return {
        kind: "MUTATIONS",
        mutations: v.array(p.mutations, "payload.mutations", LEARN_MUTATIONS_MAX, mutation),
      };
    case "CHECKPOINT": {
      const c = v.object(p.checkpoint, "payload.checkpoint");
      return {
        kind: "CHECKPOINT",
        checkpoint: {
          node: v.nodeAddress(c.node, "payload.checkpoint.node"),
          id: v.string(c.id, "payload.checkpoint.id", 256),
          decree: v.integer(c.decree, "payload.checkpoint.decree", 0),
          ballot: v.integer(c.ballot, "payload.checkpoint.ballot", 0),
        },
      };
    }
    case "CAUGHT_UP":
      return { kind: "CAUGHT_UP" };
    default:
      throw new v.TalariaErrorForField(
        "payload.kind",
        "MUTATIONS, CHECKPOINT or CAUGHT_UP",
        p.kind,
      );
  }
}

/** The wire form of a message (everything but mutations is already plain data). */
export function encodePeerMessage(message: ReplicaMessage): Wire {
  switch (message.method) {
    case ReplicaMethod.PREPARE:
      return { ...message, mutation: toWireMutation(message.mutation) };
    case ReplicaMethod.LEARN_RESPONSE:
      if (message.payload?.kind !== "MUTATIONS") return { ...message };
      return {
        ...message,
        payload: { kind: "MUTATIONS", mutations: message.payload.mutations.map(toWireMutation) },
      };
    default:
      return { ...message };
  }
}

export function isPeerMethod(method: string): method is ReplicaMessage["method"] {
  return (Object.values(ReplicaMethod) as string[]).includes(method);
}

export function decodePeerMessage(method: string, payload: unknown): ReplicaMessage {
  const m = v.object(payload, "message");
  const base = { gpid: v.gpid(m.gpid, "gpid"), ballot: v.integer(m.ballot, "ballot", 0) };
  switch (method) {
    case ReplicaMethod.PREPARE:
      return {
        method,
        ...base,
        config: decodeConfig(m.config, "config"),
        role: v.oneOf(m.role, "role", Object.values(PeerRole)),
        mutation: mutation(m.mutation, "mutation"),
        prevBallot: v.integer(m.prevBallot, "prevBallot", 0),
        committedDecree: v.integer(m.committedDecree, "committedDecree", 0),
      };
    case ReplicaMethod.PREPARE_ACK:
      return {
        method,
        ...base,
        ackedDecree: v.integer(m.ackedDecree, "ackedDecree", 0),
        ...refused(m.refused),
      };
    case ReplicaMethod.GROUP_CHECK: {
      const hold = v.optionalInteger(m.confirmedDecreeForLogHold, "confirmedDecreeForLogHold", 0);
      return {
        method,
        ...base,
        config: decodeConfig(m.config, "config"),
        role: v.oneOf(m.role, "role", Object.values(PeerRole)),
        committedDecree: v.integer(m.committedDecree, "committedDecree", 0),
        ...(hold === undefined ? {} : { confirmedDecreeForLogHold: hold }),
      };
    }
    case ReplicaMethod.GROUP_CHECK_ACK:
      return {
        method,
        ...base,
        status: v.oneOf(m.status, "status", [
          "SECONDARY",
          "LEARNER",
          "INACTIVE",
          "ERROR",
          "PRIMARY",
        ] as const),
        lastCommittedDecree: v.integer(m.lastCommittedDecree, "lastCommittedDecree", 0),
        lastPreparedDecree: v.integer(m.lastPreparedDecree, "lastPreparedDecree", 0),
        ...refused(m.refused),
      };
    case ReplicaMethod.LEARN_REQUEST:
      return {
        method,
        ...base,
        lastCommittedDecree: v.integer(m.lastCommittedDecree, "lastCommittedDecree", 0),
      };
    case ReplicaMethod.LEARN_RESPONSE: {
      const payloadValue = learnPayload(m.payload);
      return {
        method,
        ...base,
        committedDecree: v.integer(m.committedDecree, "committedDecree", 0),
        ...(payloadValue === undefined ? {} : { payload: payloadValue }),
        ...refused(m.refused),
      };
    }
    default:
      throw new TalariaError("ERR_HANDLER_NOT_FOUND", `no replica method ${method}`);
  }
}
