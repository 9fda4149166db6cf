/**
 * The primary side of replication: decree assignment, two-phase commit, timeouts, group checks
 * and configuration-change requests. Teaching learners lives in learner-teacher.ts.
 *
 * Invariants:
 *  - Activation: on taking a ballot the primary first logs an EMPTY mutation of that ballot and
 *    sends no prepare until it is durable. So a replica that restarts never re-creates a
 *    (decree, ballot) it may already have sent: it refuses to be primary at a ballot ≤ the
 *    largest ballot in its durable log (RecoveredState.maxLogBallot).
 *  - Every write gets the next decree and the current ballot, and is prepared to every peer
 *    (secondaries of the current configuration, plus learners being caught up by prepares).
 *  - Decree d commits only when the primary's own log is durable through d and every peer has
 *    acked d under the current ballot; commits advance in order and never regress.
 *  - A REPLY for a write follows the APPLY of its decree.
 *  - Bounded: at most prepareWindowMax uncommitted decrees, writeQueueMax queued writes,
 *    resendBatchMax prepares per peer per resend, one configuration change in flight.
 *  - While a configuration change is pending, peers stay exactly as the current configuration
 *    (plus learners) says; only a new configuration (a larger ballot) changes them.
 */
import { type Mutation, type Update, UpdateKind } from "../../codec/mutation.ts";
import type { ErrorCode } from "../../common/errors.ts";
import type { NodeAddress } from "../../protocol/ids.ts";
import type {
  ConfigurationChange,
  UpdateConfigurationRequest,
} from "../../protocol/meta-messages.ts";
import {
  type GroupCheckAck,
  PeerRole,
  type PrepareAck,
  ReplicaMethod,
} from "../../protocol/replica-messages.ts";
import type { CoreContext } from "./core-context.ts";
import { LearnerTeacher } from "./learner-teacher.ts";

/** What the primary knows of one peer under the current ballot. */
export interface PeerProgress {
  readonly role: PeerRole;
  /** Largest cumulative ack received under the current ballot. */
  acked: number;
  /** When the ack last advanced, or when the peer last went from idle to outstanding. */
  progressAtMs: number;
  resendAtMs: number;
  lastHeardMs: number;
}

interface QueuedWrite {
  readonly requestId: number;
  readonly updates: readonly Update[];
  readonly timestampUs: number;
}

interface PendingChange {
  readonly change: ConfigurationChange;
  /** Its number (UpdateConfigurationRequest.changeId): retries repeat it. */
  readonly changeId: number;
  requestedAtMs: number;
}

export class PrimaryRole {
  private gateDecree = 0;
  private active = false;
  readonly peers = new Map<NodeAddress, PeerProgress>();
  private readonly writes = new Map<number, number>();
  private queue: QueuedWrite[] = [];
  private pendingChange: PendingChange | undefined;
  /** The last change number used (never reused by this role: meta fences lower ones). */
  private lastChangeId = 0;
  private nextGroupCheckAtMs = 0;
  readonly learners: LearnerTeacher;

  constructor(private readonly core: CoreContext) {
    this.learners = new LearnerTeacher(core, this);
  }

  get isActive(): boolean {
    return this.active;
  }

  get pendingAdd(): NodeAddress | undefined {
    const change = this.pendingChange?.change;
    return change?.type === "ADD_SECONDARY" ? change.node : undefined;
  }

  /** Takes the current ballot: log the EMPTY gate mutation; prepares wait until it is durable. */
  activate(): void {
    const core = this.core;
    const log = core.log;
    this.active = false;
    this.pendingChange = undefined;
    this.learners.abandonAll();
    this.peers.clear();
    for (const secondary of core.config().secondaries) {
      this.peers.set(secondary, this.newPeer(PeerRole.SECONDARY, core.lastCommittedDecree));
    }
    const gate: Mutation = {
      ballot: core.ballot,
      decree: log.lastPreparedDecree + 1,
      timestampUs: Math.max(core.nowMs * 1000, log.lastTimestampUs + 1),
      updates: [{ kind: UpdateKind.EMPTY }],
    };
    this.gateDecree = gate.decree;
    core.emit({ type: "APPEND_LOG", logSeq: log.append(gate), mutation: gate });
    this.sendGroupChecks();
  }

  newPeer(role: PeerRole, acked: number): PeerProgress {
    const now = this.core.nowMs;
    return { role, acked, progressAtMs: now, resendAtMs: now, lastHeardMs: now };
  }

  /** No longer primary: every write waiting for an answer learns it may not have happened. */
  stepDown(reason: string): void {
    for (const requestId of this.writes.values())
      this.replyError(requestId, "ERR_INVALID_STATE", reason);
    for (const write of this.queue) this.replyError(write.requestId, "ERR_INVALID_STATE", reason);
    this.writes.clear();
    this.queue = [];
    this.learners.abandonAll();
  }

  onClientWrite(requestId: number, updates: readonly Update[], timestampUs: number): void {
    if (!this.leaseValid()) {
      this.replyError(requestId, "ERR_INVALID_STATE", "the primary's lease has expired");
      return;
    }
    if (!this.canAssign() || this.queue.length > 0) {
      if (this.queue.length >= this.core.options.writeQueueMax) {
        this.replyError(requestId, "ERR_BUSY", "too many writes waiting for the prepare window");
        return;
      }
      this.queue.push({ requestId, updates, timestampUs });
      return;
    }
    this.assign({ requestId, updates, timestampUs });
  }

  onDurable(): void {
    if (!this.active && this.core.log.lastDurableDecree >= this.gateDecree) {
      this.active = true;
      const now = this.core.nowMs;
      const last = this.core.log.lastPreparedDecree;
      for (const [node, peer] of this.peers) {
        // Timeouts count from now: waiting for our own disk is not the peer's fault.
        peer.progressAtMs = now;
        peer.resendAtMs = now + this.core.options.prepareResendIntervalMs;
        this.sendRange(node, peer, peer.acked, last);
      }
      this.drainQueue();
    }
    this.tryCommit();
  }

  onPrepareAck(from: NodeAddress, ack: PrepareAck): void {
    const peer = this.peers.get(from);
    if (peer === undefined) return;
    peer.lastHeardMs = this.core.nowMs;
    const acked = Math.min(ack.ackedDecree, this.core.log.lastPreparedDecree);
    if (acked > peer.acked) {
      peer.acked = acked;
      peer.progressAtMs = this.core.nowMs;
      peer.resendAtMs = this.core.nowMs + this.core.options.prepareResendIntervalMs;
    }
    if (peer.role === PeerRole.LEARNER) this.learners.onLearnerAck(from, peer.acked);
    this.tryCommit();
  }

  onGroupCheckAck(from: NodeAddress, ack: GroupCheckAck): void {
    const peer = this.peers.get(from);
    if (peer !== undefined) peer.lastHeardMs = this.core.nowMs;
    this.learners.onHeard(from);
    if (ack.status === "ERROR" && peer?.role === PeerRole.SECONDARY) this.peerFailed(from);
  }

  onTick(): void {
    const core = this.core;
    const now = core.nowMs;
    if (!this.leaseValid() && this.queue.length > 0) {
      for (const write of this.queue) {
        this.replyError(write.requestId, "ERR_INVALID_STATE", "the primary's lease has expired");
      }
      this.queue = [];
    }
    if (now >= this.nextGroupCheckAtMs) this.sendGroupChecks();
    if (this.active) {
      const last = core.log.lastPreparedDecree;
      const options = core.options;
      for (const [node, peer] of [...this.peers]) {
        if (peer.acked < last && now >= peer.resendAtMs) {
          const through = Math.min(last, peer.acked + options.resendBatchMax);
          this.sendRange(node, peer, peer.acked, through);
          peer.resendAtMs = now + options.prepareResendIntervalMs;
        }
        const stalled = peer.acked < last && now - peer.progressAtMs >= options.prepareTimeoutMs;
        const silent = now - peer.lastHeardMs >= options.secondaryTimeoutMs;
        if (stalled || silent) this.peerFailed(node);
      }
    }
    this.learners.onTick();
    const pending = this.pendingChange;
    if (pending !== undefined && now - pending.requestedAtMs >= core.options.configChangeRetryMs) {
      pending.requestedAtMs = now;
      this.emitChangeRequest(pending);
    }
  }

  /**
   * The meta server refused `refused` at our own ballot: it was not applied, and (the change
   * fence, meta's config-update.ts) no copy of it will be. Only the pending change's own refusal
   * ends it: a late refusal of an earlier request says nothing about it. (Every request this
   * role sends is numbered, so the number tells them apart.)
   */
  onChangeRefusedAtCurrentBallot(refused: UpdateConfigurationRequest): void {
    const pending = this.pendingChange;
    if (pending === undefined || refused.changeId !== pending.changeId) return;
    const change = pending.change;
    this.pendingChange = undefined;
    if (change.type === "ADD_SECONDARY") this.learners.abandon(change.node);
    this.tryCommit();
  }

  requestChange(change: ConfigurationChange): boolean {
    if (this.pendingChange !== undefined) return false;
    this.lastChangeId++;
    this.pendingChange = { change, changeId: this.lastChangeId, requestedAtMs: this.core.nowMs };
    this.emitChangeRequest(this.pendingChange);
    return true;
  }

  /** Called after the APPLY of `decree` was emitted. */
  afterApply(decree: number): void {
    const requestId = this.writes.get(decree);
    if (requestId === undefined) return;
    this.writes.delete(decree);
    this.core.emit({ type: "REPLY", requestId, result: { ok: true, decree } });
  }

  /** Sends prepares for `(afterDecree, throughDecree]` to one peer. */
  sendRange(
    node: NodeAddress,
    peer: PeerProgress,
    afterDecree: number,
    throughDecree: number,
  ): void {
    if (!this.active) return;
    const count = throughDecree - afterDecree;
    for (const mutation of this.core.log.range(afterDecree, throughDecree, count)) {
      this.sendPrepare(node, peer.role, mutation);
    }
  }

  tryCommit(): void {
    if (!this.active) return;
    const core = this.core;
    let commit = Math.min(core.log.lastDurableDecree, core.log.lastPreparedDecree);
    for (const peer of this.peers.values()) commit = Math.min(commit, peer.acked);
    if (commit <= core.lastCommittedDecree) return;
    core.advanceCommitted(commit);
    core.applyCommitted();
    this.drainQueue();
  }

  // -------------------------------------------------------------------------------------------

  private leaseValid(): boolean {
    return this.core.nowMs < this.core.leaseExpiresAtMs;
  }

  private canAssign(): boolean {
    const core = this.core;
    return (
      this.active &&
      core.log.lastPreparedDecree - core.lastCommittedDecree < core.options.prepareWindowMax
    );
  }

  private drainQueue(): void {
    while (this.queue.length > 0 && this.canAssign() && this.leaseValid()) {
      const write = this.queue.shift();
      if (write !== undefined) this.assign(write);
    }
  }

  private assign(write: QueuedWrite): void {
    const core = this.core;
    const previousLast = core.log.lastPreparedDecree;
    const mutation: Mutation = {
      ballot: core.ballot,
      decree: previousLast + 1,
      timestampUs: write.timestampUs,
      updates: write.updates,
    };
    core.emit({ type: "APPEND_LOG", logSeq: core.log.append(mutation), mutation });
    this.writes.set(mutation.decree, write.requestId);
    for (const [node, peer] of this.peers) {
      if (peer.acked >= previousLast) {
        // The peer was idle: its timeout starts now, not when it last made progress.
        peer.progressAtMs = core.nowMs;
        peer.resendAtMs = core.nowMs + core.options.prepareResendIntervalMs;
      }
      this.sendPrepare(node, peer.role, mutation);
    }
  }

  private sendPrepare(node: NodeAddress, role: PeerRole, mutation: Mutation): void {
    const core = this.core;
    core.send(node, {
      method: ReplicaMethod.PREPARE,
      gpid: core.gpid,
      ballot: core.ballot,
      config: core.config(),
      role,
      mutation,
      prevBallot: core.log.ballotAt(mutation.decree - 1),
      committedDecree: core.lastCommittedDecree,
    });
  }

  private sendGroupChecks(): void {
    const core = this.core;
    this.nextGroupCheckAtMs = core.nowMs + core.options.groupCheckIntervalMs;
    for (const secondary of core.config().secondaries)
      this.sendGroupCheck(secondary, PeerRole.SECONDARY);
    for (const learner of this.learners.nodes()) this.sendGroupCheck(learner, PeerRole.LEARNER);
  }

  sendGroupCheck(node: NodeAddress, role: PeerRole): void {
    const core = this.core;
    core.send(node, {
      method: ReplicaMethod.GROUP_CHECK,
      gpid: core.gpid,
      ballot: core.ballot,
      config: core.config(),
      role,
      committedDecree: core.lastCommittedDecree,
      ...(core.logHoldDecree === undefined
        ? {}
        : { confirmedDecreeForLogHold: core.logHoldDecree }),
    });
  }

  private peerFailed(node: NodeAddress): void {
    const peer = this.peers.get(node);
    if (peer === undefined) return;
    if (peer.role === PeerRole.SECONDARY) {
      this.requestChange({ type: "REMOVE_SECONDARY", node });
      return;
    }
    // A learner being added still gates commits until the meta server answers: the change may
    // already be applied, and then it must hold every committed decree.
    if (this.pendingAdd === node) return;
    this.learners.abandon(node);
    this.tryCommit();
  }

  private emitChangeRequest({ change, changeId }: PendingChange): void {
    const core = this.core;
    core.emit({
      type: "REQUEST_CONFIG_CHANGE",
      request: { gpid: core.gpid, node: core.self, ballot: core.ballot, change, changeId },
    });
  }

  private replyError(requestId: number, code: ErrorCode, message: string): void {
    this.core.emit({ type: "REPLY", requestId, result: { ok: false, code, message } });
  }
}
