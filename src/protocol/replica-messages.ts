/**
 * Messages between the replicas of one partition (protocol v1): two-phase commit (prepare / ack),
 * group check, and learning. Every message names its gpid and the sender's ballot; a receiver
 * whose ballot is larger refuses it and answers with its own ballot so the sender learns it is
 * stale.
 *
 * All messages are one-way (the core is message driven); RPC method names are the wire names.
 * In-core messages carry `Mutation` objects; on the wire a mutation travels as the bytes of
 * `encodeMutation` (see `toWireMutation` / `fromWireMutation`), so the replication core never
 * depends on the wire codec and the plog record and the prepare carry the same bytes.
 *
 * A mutation's identity is `(decree, mutation.ballot)`: `mutation.ballot` is the ballot of the
 * primary that created it and never changes when a later primary prepares it again.
 */
import type { Mutation } from "../codec/mutation.ts";
import { decodeMutation, encodeMutation } from "../codec/mutation-codec.ts";
import type { Gpid, NodeAddress } from "./ids.ts";
import type { PartitionConfiguration } from "./partition-config.ts";

export const ReplicaMethod = {
  PREPARE: "replica.prepare",
  PREPARE_ACK: "replica.prepare_ack",
  GROUP_CHECK: "replica.group_check",
  GROUP_CHECK_ACK: "replica.group_check_ack",
  LEARN_REQUEST: "replica.learn_request",
  LEARN_RESPONSE: "replica.learn_response",
} as const;
export type ReplicaMethod = (typeof ReplicaMethod)[keyof typeof ReplicaMethod];

/** The role a primary asks the receiver to take for this ballot. */
export const PeerRole = {
  SECONDARY: "SECONDARY",
  LEARNER: "LEARNER",
} as const;
export type PeerRole = (typeof PeerRole)[keyof typeof PeerRole];

/** Why a replica refused a message. */
export const RefusalReason = {
  /** The message carries a smaller ballot than the receiver's; `ballot` is the receiver's. */
  STALE_BALLOT: "STALE_BALLOT",
  /** The primary is not teaching this learner (abandoned, or never proposed). */
  NOT_LEARNING: "NOT_LEARNING",
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

/** Primary → secondary or learner: log this mutation. */
export interface Prepare {
  readonly method: typeof ReplicaMethod.PREPARE;
  readonly gpid: Gpid;
  readonly ballot: number;
  /** The sender's configuration (ballot = `ballot`), so a receiver that missed it can adopt it. */
  readonly config: PartitionConfiguration;
  readonly role: PeerRole;
  readonly mutation: Mutation;
  /**
   * `mutation.ballot` of the primary's entry at `mutation.decree - 1`, 0 when the primary no
   * longer knows it (the receiver then relies on `committedDecree`). Used for the log-matching
   * check: an entry is accepted only where the receiver's log agrees with the primary's before it.
   */
  readonly prevBallot: number;
  /** The primary's last committed decree. */
  readonly committedDecree: number;
}

/**
 * Secondary or learner → primary: cumulative acknowledgement. `ackedDecree` is the largest decree
 * through which the sender's log is durable and equal to the primary's under `ballot`.
 */
export interface PrepareAck {
  readonly method: typeof ReplicaMethod.PREPARE_ACK;
  readonly gpid: Gpid;
  readonly ballot: number;
  readonly ackedDecree: number;
  readonly refused?: RefusalReason;
}

/** Primary → secondaries and learners, every group-check interval. */
export interface GroupCheck {
  readonly method: typeof ReplicaMethod.GROUP_CHECK;
  readonly gpid: Gpid;
  readonly ballot: number;
  readonly config: PartitionConfiguration;
  readonly role: PeerRole;
  readonly committedDecree: number;
  /** Reserved for duplication: the decree below which the log may not be garbage-collected. */
  readonly confirmedDecreeForLogHold?: number;
}

export interface GroupCheckAck {
  readonly method: typeof ReplicaMethod.GROUP_CHECK_ACK;
  readonly gpid: Gpid;
  readonly ballot: number;
  /** The status the sender took (ERROR tells the primary to drop it). */
  readonly status: "SECONDARY" | "LEARNER" | "INACTIVE" | "ERROR" | "PRIMARY";
  readonly lastCommittedDecree: number;
  readonly lastPreparedDecree: number;
  readonly refused?: RefusalReason;
}

/** Learner → primary: send me what follows my last committed decree. */
export interface LearnRequest {
  readonly method: typeof ReplicaMethod.LEARN_REQUEST;
  readonly gpid: Gpid;
  readonly ballot: number;
  readonly lastCommittedDecree: number;
}

/** Where a learner installs a checkpoint from; the transfer is the runtimes' business. */
export interface CheckpointRef {
  /** The node holding the checkpoint. */
  readonly node: NodeAddress;
  /** Opaque id the holder understands (a directory name, a snapshot id). */
  readonly id: string;
  /** The last decree the checkpoint contains. */
  readonly decree: number;
  /** `mutation.ballot` of the entry at `decree` (0 if unknown). */
  readonly ballot: number;
}

export type LearnPayload =
  /** Committed mutations, in order, starting right after the learner's committed decree. */
  | { readonly kind: "MUTATIONS"; readonly mutations: readonly Mutation[] }
  /** The log no longer reaches the learner: install this checkpoint, then ask again. */
  | { readonly kind: "CHECKPOINT"; readonly checkpoint: CheckpointRef }
  /** The learner is close enough: from now on it receives prepares. */
  | { readonly kind: "CAUGHT_UP" };

export interface LearnResponse {
  readonly method: typeof ReplicaMethod.LEARN_RESPONSE;
  readonly gpid: Gpid;
  readonly ballot: number;
  /** The primary's last committed decree when it answered. */
  readonly committedDecree: number;
  /** Absent exactly when the request was refused. */
  readonly payload?: LearnPayload;
  readonly refused?: RefusalReason;
}

export type ReplicaMessage =
  | Prepare
  | PrepareAck
  | GroupCheck
  | GroupCheckAck
  | LearnRequest
  | LearnResponse;

/** The wire form of a mutation: the mutation codec's bytes. */
export function toWireMutation(mutation: Mutation): Buffer {
  return encodeMutation(mutation);
}

/** Throws ERR_INVALID_DATA / ERR_INVALID_VERSION on malformed bytes (drop the message). */
export function fromWireMutation(bytes: Uint8Array): Mutation {
  return decodeMutation(bytes);
}
