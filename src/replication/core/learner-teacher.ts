/**
 * The primary's side of learning: adding a replica proposed by the meta server.
 *
 *   LEARNING   the learner asks (LearnRequest with its committed decree); the primary answers
 *              with committed mutations read from its log (bounded bytes) or, when the log no
 *              longer reaches that far, a checkpoint. Repeat.
 *   PREPARING  once the learner's committed decree reaches the primary's, it becomes a prepare
 *              peer: it receives every uncommitted entry and every new write, and its acks gate
 *              commits like a secondary's. When it has acked everything the primary had
 *              prepared at that moment, the primary asks the meta server to ADD_SECONDARY it.
 *
 * Invariants:
 *  - A learner being added gates commits from the moment it joins the prepares until the meta
 *    server's answer is known (a new configuration, or a refusal at the current ballot). So when
 *    the configuration that lists it arrives, it holds every committed mutation — the
 *    membership invariant the secondary side relies on.
 *  - At most learnersMax learners, one log read in flight per learner; learners are abandoned
 *    (forgotten, not told) on timeout and on any ballot change; the meta server re-proposes.
 */

import type { Mutation } from "../../codec/mutation.ts";
import type { NodeAddress } from "../../protocol/ids.ts";
import type {
  CheckpointRef,
  LearnRequest,
  LearnResponse,
} from "../../protocol/replica-messages.ts";
import { PeerRole, RefusalReason, ReplicaMethod } from "../../protocol/replica-messages.ts";
import type { CoreContext } from "./core-context.ts";
import type { PrimaryRole } from "./primary.ts";

interface Learner {
  phase: "LEARNING" | "PREPARING";
  lastHeardMs: number;
  readInFlight: boolean;
  /** PREPARING: the ADD_SECONDARY request goes out once this decree is acked. */
  catchUpDecree: number;
}

export class LearnerTeacher {
  private readonly learners = new Map<NodeAddress, Learner>();

  constructor(
    private readonly core: CoreContext,
    private readonly primary: PrimaryRole,
  ) {}

  nodes(): IterableIterator<NodeAddress> {
    return this.learners.keys();
  }

  has(node: NodeAddress): boolean {
    return this.learners.has(node);
  }

  onProposed(node: NodeAddress, ballot: number): void {
    const core = this.core;
    const config = core.config();
    if (!this.primary.isActive || ballot !== core.ballot) return;
    if (node === core.self || config.secondaries.includes(node) || this.learners.has(node)) return;
    if (this.learners.size >= core.options.learnersMax) return;
    this.learners.set(node, {
      phase: "LEARNING",
      lastHeardMs: core.nowMs,
      readInFlight: false,
      catchUpDecree: 0,
    });
    this.primary.sendGroupCheck(node, PeerRole.LEARNER);
  }

  onLearnRequest(from: NodeAddress, request: LearnRequest): void {
    const core = this.core;
    const learner = this.learners.get(from);
    if (learner === undefined) {
      this.respond(from, undefined, RefusalReason.NOT_LEARNING);
      return;
    }
    learner.lastHeardMs = core.nowMs;
    if (learner.phase === "PREPARING") {
      this.respond(from, { kind: "CAUGHT_UP" });
      return;
    }
    const learnerCommitted = request.lastCommittedDecree;
    if (learnerCommitted >= core.lastCommittedDecree) {
      if (learnerCommitted > core.log.lastPreparedDecree) {
        // Impossible for a replica of this partition (every committed decree is in our log).
        this.abandon(from);
        return;
      }
      this.startPreparing(from, learner, learnerCommitted);
      this.respond(from, { kind: "CAUGHT_UP" });
      return;
    }
    if (learner.readInFlight) return;
    learner.readInFlight = true;
    core.emit({
      type: "READ_LOG_FOR_LEARNER",
      learner: from,
      ballot: core.ballot,
      fromDecree: learnerCommitted + 1,
      toDecree: core.lastCommittedDecree,
      bytesMax: core.options.learnBatchBytesMax,
    });
  }

  onLogRead(node: NodeAddress, ballot: number, mutations: readonly Mutation[]): void {
    const learner = this.learningWithRead(node, ballot);
    if (learner === undefined) return;
    this.respond(node, { kind: "MUTATIONS", mutations });
  }

  onCheckpointReady(node: NodeAddress, ballot: number, checkpoint: CheckpointRef): void {
    const learner = this.learningWithRead(node, ballot);
    if (learner === undefined) return;
    this.respond(node, { kind: "CHECKPOINT", checkpoint });
  }

  onLearnerAck(node: NodeAddress, acked: number): void {
    const learner = this.learners.get(node);
    if (learner === undefined) return;
    learner.lastHeardMs = this.core.nowMs;
    this.askToAdd(node, learner, acked);
  }

  onHeard(node: NodeAddress): void {
    const learner = this.learners.get(node);
    if (learner !== undefined) learner.lastHeardMs = this.core.nowMs;
  }

  /**
   * LEARNING learners time out here; PREPARING ones through the primary's peer timeouts. A
   * PREPARING learner that caught up while another change was pending is asked for here once that
   * change ends: with no new write it acks nothing more (seed 13002189 --steps 60000).
   */
  onTick(): void {
    const now = this.core.nowMs;
    for (const [node, learner] of [...this.learners]) {
      if (learner.phase === "PREPARING") {
        const acked = this.primary.peers.get(node)?.acked;
        if (acked !== undefined) this.askToAdd(node, learner, acked);
      } else if (now - learner.lastHeardMs >= this.core.options.learnerTimeoutMs) {
        this.abandon(node);
      }
    }
  }

  abandon(node: NodeAddress): void {
    this.learners.delete(node);
    const peer = this.primary.peers.get(node);
    if (peer?.role === PeerRole.LEARNER) this.primary.peers.delete(node);
  }

  abandonAll(): void {
    for (const node of [...this.learners.keys()]) this.abandon(node);
  }

  // -------------------------------------------------------------------------------------------

  /**
   * ADD_SECONDARY once a PREPARING learner acked its catch-up decree. `requestChange` does nothing
   * while a change (this one included) is pending: one change at a time.
   */
  private askToAdd(node: NodeAddress, learner: Learner, acked: number): void {
    if (learner.phase !== "PREPARING" || acked < learner.catchUpDecree) return;
    this.primary.requestChange({ type: "ADD_SECONDARY", node });
  }

  private startPreparing(node: NodeAddress, learner: Learner, learnerCommitted: number): void {
    const core = this.core;
    learner.phase = "PREPARING";
    learner.catchUpDecree = core.log.lastPreparedDecree;
    const peer = this.primary.newPeer(PeerRole.LEARNER, learnerCommitted);
    this.primary.peers.set(node, peer);
    this.primary.sendRange(node, peer, learnerCommitted, core.log.lastPreparedDecree);
    // Nothing uncommitted to send: the learner already holds everything.
    this.onLearnerAck(node, peer.acked);
  }

  private learningWithRead(node: NodeAddress, ballot: number): Learner | undefined {
    const learner = this.learners.get(node);
    if (learner === undefined || ballot !== this.core.ballot || learner.phase !== "LEARNING") {
      return undefined;
    }
    if (!learner.readInFlight) return undefined;
    learner.readInFlight = false;
    return learner;
  }

  private respond(
    to: NodeAddress,
    payload: LearnResponse["payload"],
    refused?: RefusalReason,
  ): void {
    const core = this.core;
    core.send(to, {
      method: ReplicaMethod.LEARN_RESPONSE,
      gpid: core.gpid,
      ballot: core.ballot,
      committedDecree: core.lastCommittedDecree,
      ...(payload === undefined ? {} : { payload }),
      ...(refused === undefined ? {} : { refused }),
    });
  }
}
