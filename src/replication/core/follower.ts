/**
 * The secondary and learner side of replication: accepting prepares into the log, acknowledging
 * them, following the primary's commit point, and learning (catching up from the primary's log
 * or a checkpoint).
 *
 * Invariants:
 *  - matchedDecree: this replica's log equals the primary's through matchedDecree under the
 *    current ballot (reset to the committed decree whenever the ballot changes). An entry is
 *    accepted only where the log agrees with the primary's just before it: its predecessor is
 *    committed, or carries the ballot the primary says its own predecessor carries
 *    (log matching: equal (decree, ballot) ⇒ equal logs up to there).
 *  - An ack names min(matchedDecree, lastDurableDecree): nothing is acked before it is durable
 *    and equal to the primary's log, and within one ballot an acked entry is never truncated
 *    (truncation happens only above matchedDecree).
 *  - Only entries that conflict with the primary's (same decree, different ballot), and
 *    everything after them, are truncated; never a committed one.
 *  - A SECONDARY is a member of the configuration, so its log holds every committed mutation
 *    (membership invariant, see docs/replication.md): it adopts the primary's committed decree
 *    directly, and fails (ERROR) if its log is shorter. A LEARNER commits only what it matched.
 *  - Bounded: at most prepareBufferMax buffered prepares, one learn request in flight.
 */

import type { Mutation } from "../../codec/mutation.ts";
import { assert, unreachable } from "../../common/assert.ts";
import { ReplicaStatus } from "../../protocol/partition-config.ts";
import {
  type GroupCheck,
  type LearnResponse,
  type Prepare,
  ReplicaMethod,
} from "../../protocol/replica-messages.ts";
import type { CoreContext } from "./core-context.ts";

type LearnPhase =
  /** Nothing asked yet (or the last answer said to ask again). */
  | "IDLE"
  | "REQUESTED"
  /** Learned mutations are being made durable; ask for more once they are. */
  | "AWAITING_DURABLE"
  | "INSTALLING_CHECKPOINT"
  /** The primary streams prepares to us. */
  | "CAUGHT_UP";

export class FollowerRole {
  private matchedDecree: number;
  private readonly buffer = new Map<number, Prepare>();
  /** Acks are cumulative: only an advance (or a duplicate prepare) is worth a message. */
  private lastAckSent: number;
  private learnPhase: LearnPhase = "IDLE";
  private learnPhaseAtMs = 0;

  constructor(private readonly core: CoreContext) {
    this.matchedDecree = core.lastCommittedDecree;
    this.lastAckSent = this.ackable;
  }

  /**
   * A new ballot or role: forget what was matched under the old one. A checkpoint install the
   * runtime is performing stays pending: its result must still be taken in.
   */
  reset(): void {
    this.matchedDecree = this.core.lastCommittedDecree;
    this.buffer.clear();
    this.lastAckSent = this.ackable;
    if (this.learnPhase !== "INSTALLING_CHECKPOINT") this.learnPhase = "IDLE";
  }

  get matched(): number {
    return this.matchedDecree;
  }

  private get ackable(): number {
    return Math.min(this.matchedDecree, this.core.log.lastDurableDecree);
  }

  onPrepare(prepare: Prepare): void {
    // The runtime is about to replace storage and empty the log: nothing may be appended now.
    if (this.learnPhase === "INSTALLING_CHECKPOINT") return;
    this.adoptCommitted(prepare.committedDecree);
    if (this.core.status === ReplicaStatus.ERROR) return;
    const decree = prepare.mutation.decree;
    if (decree <= this.matchedDecree || decree <= this.core.lastCommittedDecree) {
      this.checkDuplicate(prepare.mutation);
      this.sendAck(true);
      return;
    }
    if (this.prefixMatches(decree, prepare.prevBallot)) {
      this.accept(prepare.mutation);
      this.drainBuffer();
    } else if (this.buffer.size < this.core.options.prepareBufferMax) {
      this.buffer.set(decree, prepare);
    }
    this.sendAck(false);
  }

  onGroupCheck(check: GroupCheck): void {
    this.adoptCommitted(check.committedDecree);
    this.core.adoptPeerLogHold(check.confirmedDecreeForLogHold);
    const status = this.core.status;
    this.core.send(this.primary(), {
      method: ReplicaMethod.GROUP_CHECK_ACK,
      gpid: this.core.gpid,
      ballot: this.core.ballot,
      status,
      lastCommittedDecree: this.core.lastCommittedDecree,
      lastPreparedDecree: this.core.log.lastPreparedDecree,
    });
    if (status === ReplicaStatus.LEARNER) this.maybeRequestLearn(true);
  }

  onDurable(): void {
    this.sendAck(false);
    if (this.learnPhase === "AWAITING_DURABLE") this.maybeRequestLearn(false);
  }

  onTick(): void {
    if (this.core.status !== ReplicaStatus.LEARNER) return;
    if (
      this.learnPhase === "REQUESTED" &&
      this.core.nowMs - this.learnPhaseAtMs >= this.core.options.learnRetryMs
    ) {
      this.learnPhase = "IDLE";
    }
    if (this.learnPhase === "IDLE") this.maybeRequestLearn(false);
  }

  onLearnResponse(response: LearnResponse): void {
    if (this.core.status !== ReplicaStatus.LEARNER || this.learnPhase !== "REQUESTED") return;
    const payload = response.payload;
    if (payload === undefined) {
      // NOT_LEARNING: the primary dropped us; ask again when it checks on us.
      this.learnPhase = "IDLE";
      return;
    }
    switch (payload.kind) {
      case "MUTATIONS":
        this.learnMutations(payload.mutations);
        return;
      case "CHECKPOINT":
        if (payload.checkpoint.decree <= this.core.lastCommittedDecree) {
          this.setLearnPhase("IDLE");
          return;
        }
        this.setLearnPhase("INSTALLING_CHECKPOINT");
        this.core.emit({ type: "INSTALL_CHECKPOINT", checkpoint: payload.checkpoint });
        return;
      case "CAUGHT_UP":
        this.setLearnPhase("CAUGHT_UP");
        return;
      default:
        unreachable(payload, "learn payload");
    }
  }

  /** The runtime replaced storage with the checkpoint; the core's log state follows. */
  onCheckpointInstalled(): void {
    assert(this.learnPhase === "INSTALLING_CHECKPOINT", "checkpoint installed unasked");
    this.matchedDecree = this.core.lastCommittedDecree;
    this.buffer.clear();
    this.setLearnPhase("IDLE");
    if (this.core.status === ReplicaStatus.LEARNER) this.maybeRequestLearn(false);
  }

  onCheckpointInstallFailed(): void {
    if (this.learnPhase === "INSTALLING_CHECKPOINT") this.setLearnPhase("IDLE");
  }

  get installingCheckpoint(): boolean {
    return this.learnPhase === "INSTALLING_CHECKPOINT";
  }

  // -------------------------------------------------------------------------------------------

  private primary(): string {
    const primary = this.core.config().primary;
    assert(primary !== undefined, "a follower's configuration names a primary");
    return primary;
  }

  private adoptCommitted(primaryCommitted: number): void {
    let target: number;
    if (this.core.status === ReplicaStatus.SECONDARY) {
      if (primaryCommitted > this.core.log.lastPreparedDecree) {
        this.core.fail(
          `the primary committed ${primaryCommitted} but this member's log ends at ${this.core.log.lastPreparedDecree}`,
        );
        return;
      }
      target = primaryCommitted;
    } else {
      target = Math.min(primaryCommitted, this.matchedDecree);
    }
    if (target <= this.core.lastCommittedDecree) return;
    this.core.advanceCommitted(target);
    this.matchedDecree = Math.max(this.matchedDecree, target);
    this.core.applyCommitted();
  }

  private prefixMatches(decree: number, prevBallot: number): boolean {
    if (decree - 1 <= this.core.lastCommittedDecree) return true;
    return prevBallot !== 0 && this.core.log.ballotAt(decree - 1) === prevBallot;
  }

  /** Logs `mutation` at its decree (prefix already matched), truncating a conflicting tail. */
  private accept(mutation: Mutation): void {
    const log = this.core.log;
    const decree = mutation.decree;
    const existing = log.get(decree);
    if (existing !== undefined) {
      if (existing.ballot === mutation.ballot) {
        this.matchedDecree = decree;
        return;
      }
      if (decree <= this.core.lastCommittedDecree) {
        this.core.fail(`a prepare conflicts with committed decree ${decree}`);
        return;
      }
      this.core.emit({
        type: "TRUNCATE_LOG",
        logSeq: log.truncateAfter(decree - 1),
        afterDecree: decree - 1,
      });
    }
    this.core.emit({ type: "APPEND_LOG", logSeq: log.append(mutation), mutation });
    this.matchedDecree = decree;
  }

  private checkDuplicate(mutation: Mutation): void {
    if (mutation.decree <= this.core.lastCommittedDecree) return;
    const held = this.core.log.get(mutation.decree);
    if (held !== undefined && held.ballot !== mutation.ballot) {
      this.core.fail(`prepare for matched decree ${mutation.decree} carries another mutation`);
    }
  }

  private drainBuffer(): void {
    for (const decree of [...this.buffer.keys()]) {
      if (decree <= this.matchedDecree) this.buffer.delete(decree);
    }
    for (;;) {
      const next = this.buffer.get(this.matchedDecree + 1);
      if (next === undefined || !this.prefixMatches(next.mutation.decree, next.prevBallot)) return;
      this.buffer.delete(next.mutation.decree);
      this.accept(next.mutation);
      if (this.core.status === ReplicaStatus.ERROR) return;
    }
  }

  private sendAck(force: boolean): void {
    const status = this.core.status;
    if (status !== ReplicaStatus.SECONDARY && status !== ReplicaStatus.LEARNER) return;
    const acked = this.ackable;
    if (!force && acked <= this.lastAckSent) return;
    this.lastAckSent = Math.max(this.lastAckSent, acked);
    this.core.send(this.primary(), {
      method: ReplicaMethod.PREPARE_ACK,
      gpid: this.core.gpid,
      ballot: this.core.ballot,
      ackedDecree: acked,
    });
  }

  private learnMutations(mutations: readonly Mutation[]): void {
    for (const mutation of mutations) {
      if (mutation.decree <= this.core.lastCommittedDecree) continue;
      if (mutation.decree !== this.core.lastCommittedDecree + 1) break;
      this.accept(mutation);
      if (this.core.status === ReplicaStatus.ERROR) return;
      // Learned mutations are committed at the primary (it only sends committed ones).
      this.core.advanceCommitted(mutation.decree);
    }
    this.matchedDecree = Math.max(this.matchedDecree, this.core.lastCommittedDecree);
    this.core.applyCommitted();
    this.setLearnPhase("AWAITING_DURABLE");
    this.maybeRequestLearn(false);
  }

  /** Sends a learn request unless one is in flight or learned data is not durable yet. */
  private maybeRequestLearn(onGroupCheck: boolean): void {
    switch (this.learnPhase) {
      case "IDLE":
        break;
      case "AWAITING_DURABLE":
        if (this.core.log.lastDurableDecree < this.core.lastCommittedDecree) return;
        break;
      case "CAUGHT_UP":
        // Ask again at each group check: the answer is cheap, and it tells us if the primary
        // dropped and re-proposed us in the meantime.
        if (!onGroupCheck) return;
        break;
      case "REQUESTED":
      case "INSTALLING_CHECKPOINT":
        return;
      default:
        unreachable(this.learnPhase, "learn phase");
    }
    this.setLearnPhase("REQUESTED");
    this.core.send(this.primary(), {
      method: ReplicaMethod.LEARN_REQUEST,
      gpid: this.core.gpid,
      ballot: this.core.ballot,
      lastCommittedDecree: this.core.lastCommittedDecree,
    });
  }

  private setLearnPhase(phase: LearnPhase): void {
    this.learnPhase = phase;
    this.learnPhaseAtMs = this.core.nowMs;
  }
}
