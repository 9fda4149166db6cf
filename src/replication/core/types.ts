/**
 * The replication core's inputs (events) and outputs (actions).
 *
 * `ReplicaCore.step(event, nowMs)` runs one transition to completion and returns the actions the
 * runtime must perform. THE ORDER OF ACTIONS IS THE CONTRACT (as etcd raft's Ready):
 *
 *  1. APPEND_LOG / TRUNCATE_LOG are performed on the private log strictly in `logSeq` order. A
 *     later log action's durability implies every earlier one's (a truncation included).
 *     Durability is reported back with LOG_DURABLE { logSeq }: every log action with a smaller or
 *     equal logSeq is durable. The core never acks, commits or applies an entry before that.
 *  2. SEND may go out at once: the core only emits a message whose preconditions hold (a
 *     secondary's PrepareAck is emitted after LOG_DURABLE, not after APPEND_LOG).
 *  3. APPLY actions are applied to storage in the order emitted (decree order, no gaps).
 *  4. A REPLY is sent only after every APPLY emitted before it has been applied (read-your-writes
 *     on the primary).
 *  5. READ_LOG_FOR_LEARNER and INSTALL_CHECKPOINT are asynchronous; their results come back as
 *     events. INSTALL_CHECKPOINT is performed after every earlier action of the same core, and it
 *     replaces storage and empties the log (the next append is `checkpoint.decree + 1`).
 */
import type { Mutation, Update } from "../../codec/mutation.ts";
import type { ErrorCode } from "../../common/errors.ts";
import type { NodeAddress } from "../../protocol/ids.ts";
import type { LearnerProposal, UpdateConfigurationRequest } from "../../protocol/meta-messages.ts";
import type { PartitionConfiguration, ReplicaStatus } from "../../protocol/partition-config.ts";
import type { CheckpointRef, ReplicaMessage } from "../../protocol/replica-messages.ts";

export type ReplicationEvent =
  /** Drives timers (group check, resends, timeouts); send one every few tens of milliseconds. */
  | { readonly type: "TICK" }
  /**
   * A client write, already validated and with atomic operations resolved into plain updates.
   * `timestampUs` comes from the runtime's hybrid clock.
   */
  | {
      readonly type: "CLIENT_WRITE";
      readonly requestId: number;
      readonly updates: readonly Update[];
      readonly timestampUs: number;
    }
  /** Every log action with `logSeq` ≤ this one is durable. */
  | { readonly type: "LOG_DURABLE"; readonly logSeq: number }
  | { readonly type: "MESSAGE"; readonly from: NodeAddress; readonly message: ReplicaMessage }
  /** A configuration from the meta server (beacon reply or UPDATE_CONFIGURATION response). */
  | { readonly type: "CONFIG"; readonly config: PartitionConfiguration }
  /**
   * The meta server refused `request` (the one this answers: a refusal can arrive late, for an
   * earlier request or a retried copy); `config` is its current one when it said so.
   */
  | {
      readonly type: "CONFIG_CHANGE_REFUSED";
      readonly request: UpdateConfigurationRequest;
      readonly config?: PartitionConfiguration;
    }
  | { readonly type: "LEARNER_PROPOSED"; readonly proposal: LearnerProposal }
  /** The server's lease (from its last acknowledged beacon) ends at this time. */
  | { readonly type: "LEASE"; readonly expiresAtMs: number }
  /** Result of READ_LOG_FOR_LEARNER: committed mutations from `fromDecree`, in order. */
  | {
      readonly type: "LEARNER_LOG_READ";
      readonly learner: NodeAddress;
      readonly ballot: number;
      readonly mutations: readonly Mutation[];
    }
  /** Result of READ_LOG_FOR_LEARNER when the log no longer reaches `fromDecree`. */
  | {
      readonly type: "LEARNER_CHECKPOINT_READY";
      readonly learner: NodeAddress;
      readonly ballot: number;
      readonly checkpoint: CheckpointRef;
    }
  /** Result of INSTALL_CHECKPOINT: storage holds the checkpoint, the log is empty after it. */
  | { readonly type: "CHECKPOINT_INSTALLED"; readonly decree: number; readonly ballot: number }
  | { readonly type: "CHECKPOINT_INSTALL_FAILED" }
  /**
   * This replica's duplication log hold (no record from `fromDecree` on may be collected;
   * undefined: none). A primary sends it to every member in its group checks.
   */
  | { readonly type: "LOG_HOLD"; readonly fromDecree: number | undefined };

export type ReplyResult =
  | { readonly ok: true; readonly decree: number }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export type ReplicationAction =
  | { readonly type: "APPEND_LOG"; readonly logSeq: number; readonly mutation: Mutation }
  /** Remove every log record with a decree above `afterDecree` (never a committed one). */
  | { readonly type: "TRUNCATE_LOG"; readonly logSeq: number; readonly afterDecree: number }
  | { readonly type: "APPLY"; readonly mutation: Mutation }
  | { readonly type: "SEND"; readonly to: NodeAddress; readonly message: ReplicaMessage }
  | { readonly type: "REPLY"; readonly requestId: number; readonly result: ReplyResult }
  | { readonly type: "REQUEST_CONFIG_CHANGE"; readonly request: UpdateConfigurationRequest }
  /**
   * Read committed mutations `fromDecree..toDecree` (at most `bytesMax` encoded bytes, at least
   * one mutation) from the durable log and feed LEARNER_LOG_READ; if the log no longer holds
   * `fromDecree`, make or reuse a checkpoint and feed LEARNER_CHECKPOINT_READY.
   */
  | {
      readonly type: "READ_LOG_FOR_LEARNER";
      readonly learner: NodeAddress;
      readonly ballot: number;
      readonly fromDecree: number;
      readonly toDecree: number;
      readonly bytesMax: number;
    }
  | { readonly type: "INSTALL_CHECKPOINT"; readonly checkpoint: CheckpointRef }
  /**
   * The primary's log hold changed, as its group checks say (undefined: none, or this replica is
   * primary itself now). The runtime keeps its log from `fromDecree` on, so a member that becomes
   * primary still has what duplication has not shipped.
   */
  | { readonly type: "PEER_LOG_HOLD"; readonly fromDecree: number | undefined };

/**
 * What a replica's runtime rebuilds from disk when it (re)starts, or all zeros for a new replica.
 * The core starts INACTIVE and waits for a configuration.
 */
export interface RecoveredState {
  /** Storage's last applied decree; everything up to it is committed. */
  readonly lastAppliedDecree: number;
  /** `mutation.ballot` of the entry at lastAppliedDecree (0 when unknown or none). */
  readonly lastAppliedBallot: number;
  /** Every durable log record after lastAppliedDecree, in decree order, without gaps. */
  readonly entries: readonly Mutation[];
  /**
   * The largest `mutation.ballot` in the durable log (ballots never decrease along the log, so
   * the last record's is enough). The replica never becomes primary at a ballot ≤ this one: it
   * might have prepared mutations under it before the restart.
   */
  readonly maxLogBallot: number;
}

export const emptyRecoveredState: RecoveredState = {
  lastAppliedDecree: 0,
  lastAppliedBallot: 0,
  entries: [],
  maxLogBallot: 0,
};

/** A read-only view for metrics, tests and the simulator's checkers. */
export interface ReplicaCoreSnapshot {
  readonly status: ReplicaStatus;
  readonly ballot: number;
  /** True once a primary's first mutation of its ballot is durable and it prepares. */
  readonly primaryActive: boolean;
  readonly lastCommittedDecree: number;
  readonly lastPreparedDecree: number;
  readonly lastDurableDecree: number;
  readonly lastAppliedDecree: number;
  readonly errorReason?: string;
}
