/**
 * The PacificA replication core of one partition replica: a pure state machine. Events in
 * (`step(event, nowMs)`), actions out; no I/O, no clock, no randomness, no await. See types.ts
 * for the order contract of actions and docs/replication.md for the protocol and its proof.
 *
 * Invariants (this file owns ballot, configuration, status and the commit point):
 *  - The ballot never decreases. A configuration is adopted only if its ballot is ≥ ours (equal
 *    only when we have none yet); a message with a smaller ballot is refused with ours.
 *  - The status follows the adopted configuration: PRIMARY if it names us primary (and the
 *    ballot is above the restart floor), SECONDARY if it lists us, LEARNER if the primary of our
 *    ballot teaches us, INACTIVE otherwise; ERROR is final.
 *  - lastAppliedDecree ≤ lastCommittedDecree ≤ lastPreparedDecree; the committed decree never
 *    decreases (except that installing a checkpoint moves everything to the checkpoint's decree,
 *    which is larger).
 *  - APPLY is emitted only for committed, durable entries, in decree order, each once.
 *  - Safety: a write is acknowledged only after every member of the configuration logged it
 *    durably, and the meta server only ever promotes a member of the latest configuration, so
 *    every new primary holds every acknowledged write; a replica truncates only entries that
 *    conflict with its primary's log, which are therefore unacknowledged; commits never regress.
 */
import { assert, unreachable } from "../../common/assert.ts";
import type { Gpid, NodeAddress } from "../../protocol/ids.ts";
import { sameGpid } from "../../protocol/ids.ts";
import {
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../../protocol/partition-config.ts";
import {
  PeerRole,
  RefusalReason,
  type ReplicaMessage,
  ReplicaMethod,
} from "../../protocol/replica-messages.ts";
import type { CoreContext } from "./core-context.ts";
import { FollowerRole } from "./follower.ts";
import { defaultReplicationOptions, type ReplicationOptions } from "./options.ts";
import { PrepareList } from "./prepare-list.ts";
import { PrimaryRole } from "./primary.ts";
import {
  emptyRecoveredState,
  type RecoveredState,
  type ReplicaCoreSnapshot,
  type ReplicationAction,
  type ReplicationEvent,
} from "./types.ts";

export interface ReplicaCoreOptions {
  /** This replica server's address. */
  readonly self: NodeAddress;
  readonly gpid: Gpid;
  readonly replication?: ReplicationOptions;
}

export class ReplicaCore implements CoreContext {
  readonly self: NodeAddress;
  readonly gpid: Gpid;
  readonly options: ReplicationOptions;
  readonly log: PrepareList;
  private statusValue: ReplicaStatus = ReplicaStatus.INACTIVE;
  private ballotValue: number;
  private configValue: PartitionConfiguration | undefined;
  private committed: number;
  /** Never primary at a ballot ≤ this one (see RecoveredState.maxLogBallot). */
  private readonly primaryBallotFloor: number;
  private leaseEndMs = 0;
  /** This replica's duplication log hold (LOG_HOLD), sent to members while primary. */
  private ownLogHold: number | undefined;
  /** The primary's log hold as its latest group check said (PEER_LOG_HOLD on change). */
  private peerLogHold: number | undefined;
  private now = 0;
  private out: ReplicationAction[] = [];
  private primary: PrimaryRole | undefined;
  private readonly follower: FollowerRole;
  private errorReason: string | undefined;

  constructor(options: ReplicaCoreOptions, recovered: RecoveredState = emptyRecoveredState) {
    this.self = options.self;
    this.gpid = options.gpid;
    this.options = options.replication ?? defaultReplicationOptions;
    this.log = new PrepareList(
      recovered.lastAppliedDecree,
      recovered.lastAppliedBallot,
      recovered.entries,
    );
    this.committed = recovered.lastAppliedDecree;
    this.primaryBallotFloor = Math.max(recovered.maxLogBallot, recovered.lastAppliedBallot);
    this.ballotValue = this.primaryBallotFloor;
    this.follower = new FollowerRole(this);
  }

  // ---- CoreContext --------------------------------------------------------------------------

  get nowMs(): number {
    return this.now;
  }
  get ballot(): number {
    return this.ballotValue;
  }
  get status(): ReplicaStatus {
    return this.statusValue;
  }
  get lastCommittedDecree(): number {
    return this.committed;
  }
  get leaseExpiresAtMs(): number {
    return this.leaseEndMs;
  }
  get logHoldDecree(): number | undefined {
    return this.ownLogHold;
  }

  adoptPeerLogHold(fromDecree: number | undefined): void {
    if (fromDecree === this.peerLogHold) return;
    this.peerLogHold = fromDecree;
    this.emit({ type: "PEER_LOG_HOLD", fromDecree });
  }

  config(): PartitionConfiguration {
    assert(this.configValue !== undefined, "no configuration adopted");
    return this.configValue;
  }

  emit(action: ReplicationAction): void {
    this.out.push(action);
  }

  send(to: NodeAddress, message: ReplicaMessage): void {
    this.out.push({ type: "SEND", to, message });
  }

  advanceCommitted(decree: number): void {
    assert(decree >= this.committed, "the commit point never moves back");
    assert(decree <= this.log.lastPreparedDecree, "committing a decree that is not in the log");
    this.committed = decree;
  }

  applyCommitted(): void {
    const through = Math.min(this.committed, this.log.lastDurableDecree);
    for (const mutation of this.log.takeForApply(through)) {
      this.emit({ type: "APPLY", mutation });
      this.primary?.afterApply(mutation.decree);
    }
  }

  fail(reason: string): void {
    if (this.statusValue === ReplicaStatus.ERROR) return;
    this.primary?.stepDown(`replica failed: ${reason}`);
    this.primary = undefined;
    this.errorReason = reason;
    this.statusValue = ReplicaStatus.ERROR;
  }

  // ---- public face ---------------------------------------------------------------------------

  /** Runs one event to completion and returns the actions to perform, in order. */
  step(event: ReplicationEvent, nowMs: number): ReplicationAction[] {
    assert(nowMs >= this.now, "time moves forward");
    this.now = nowMs;
    if (this.statusValue === ReplicaStatus.ERROR) {
      if (event.type === "CLIENT_WRITE") this.refuseWrite(event.requestId);
    } else {
      this.dispatch(event);
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  report(): ReplicaReport {
    return {
      gpid: this.gpid,
      ballot: this.ballotValue,
      status: this.statusValue,
      lastCommittedDecree: this.committed,
      lastPreparedDecree: this.log.lastPreparedDecree,
    };
  }

  snapshot(): ReplicaCoreSnapshot {
    return {
      status: this.statusValue,
      ballot: this.ballotValue,
      primaryActive: this.primary?.isActive ?? false,
      lastCommittedDecree: this.committed,
      lastPreparedDecree: this.log.lastPreparedDecree,
      lastDurableDecree: this.log.lastDurableDecree,
      lastAppliedDecree: this.log.lastAppliedDecree,
      ...(this.errorReason === undefined ? {} : { errorReason: this.errorReason }),
    };
  }

  /** Reads may be served only by an active primary whose lease holds. */
  canServeReads(nowMs: number): boolean {
    return (this.primary?.isActive ?? false) && nowMs < this.leaseEndMs;
  }

  // ---- transitions ---------------------------------------------------------------------------

  private dispatch(event: ReplicationEvent): void {
    switch (event.type) {
      case "TICK":
        if (this.primary !== undefined) this.primary.onTick();
        else this.follower.onTick();
        return;
      case "CLIENT_WRITE":
        if (this.primary === undefined) this.refuseWrite(event.requestId);
        else this.primary.onClientWrite(event.requestId, event.updates, event.timestampUs);
        return;
      case "LOG_DURABLE":
        if (!this.log.markDurable(event.logSeq)) return;
        this.applyCommitted();
        if (this.primary !== undefined) this.primary.onDurable();
        else this.follower.onDurable();
        return;
      case "MESSAGE":
        this.onMessage(event.from, event.message);
        return;
      case "CONFIG":
        this.adoptConfig(event.config, undefined);
        return;
      case "CONFIG_CHANGE_REFUSED":
        if (event.config === undefined) return;
        // Meta still at the ballot the request was based on: that request was not applied. Only
        // the pending change's own refusal says anything about it (seed 7003464: a late refusal
        // of an earlier REMOVE_SECONDARY, at the new ballot, ended an ADD_SECONDARY's gate).
        if (event.config.ballot === this.ballotValue) {
          if (event.request.ballot === this.ballotValue)
            this.primary?.onChangeRefusedAtCurrentBallot(event.request);
        } else this.adoptConfig(event.config, undefined);
        return;
      case "LEARNER_PROPOSED":
        this.primary?.learners.onProposed(event.proposal.learner, event.proposal.ballot);
        return;
      case "LEASE":
        this.leaseEndMs = Math.max(this.leaseEndMs, event.expiresAtMs);
        return;
      case "LEARNER_LOG_READ":
        this.primary?.learners.onLogRead(event.learner, event.ballot, event.mutations);
        return;
      case "LEARNER_CHECKPOINT_READY":
        this.primary?.learners.onCheckpointReady(event.learner, event.ballot, event.checkpoint);
        return;
      case "CHECKPOINT_INSTALLED":
        this.onCheckpointInstalled(event.decree, event.ballot);
        return;
      case "CHECKPOINT_INSTALL_FAILED":
        this.follower.onCheckpointInstallFailed();
        return;
      case "LOG_HOLD":
        this.ownLogHold = event.fromDecree;
        return;
      default:
        unreachable(event, "replication event");
    }
  }

  private onMessage(from: NodeAddress, message: ReplicaMessage): void {
    assert(sameGpid(message.gpid, this.gpid), "message routed to the wrong replica");
    if (message.ballot < this.ballotValue) {
      this.refuseStale(from, message);
      return;
    }
    if (message.ballot > this.ballotValue) {
      switch (message.method) {
        case ReplicaMethod.PREPARE:
        case ReplicaMethod.GROUP_CHECK:
          this.adoptConfig(message.config, message.role);
          break;
        case ReplicaMethod.PREPARE_ACK:
        case ReplicaMethod.GROUP_CHECK_ACK:
        case ReplicaMethod.LEARN_REQUEST:
        case ReplicaMethod.LEARN_RESPONSE:
          // Someone has seen a newer configuration than ours: we are stale.
          this.becomeStale(message.ballot);
          return;
        default:
          unreachable(message, "replica message");
      }
    }
    this.onCurrentBallotMessage(from, message);
  }

  private onCurrentBallotMessage(from: NodeAddress, message: ReplicaMessage): void {
    switch (message.method) {
      case ReplicaMethod.PREPARE:
      case ReplicaMethod.GROUP_CHECK: {
        if (this.configValue === undefined || message.role === PeerRole.LEARNER) {
          this.adoptConfig(message.config, message.role);
        }
        const status = this.statusValue;
        if (status !== ReplicaStatus.SECONDARY && status !== ReplicaStatus.LEARNER) return;
        if (this.configValue?.primary !== from) return;
        if (message.method === ReplicaMethod.PREPARE) this.follower.onPrepare(message);
        else this.follower.onGroupCheck(message);
        return;
      }
      case ReplicaMethod.PREPARE_ACK:
        if (message.refused === undefined) this.primary?.onPrepareAck(from, message);
        return;
      case ReplicaMethod.GROUP_CHECK_ACK:
        if (message.refused === undefined) this.primary?.onGroupCheckAck(from, message);
        return;
      case ReplicaMethod.LEARN_REQUEST:
        this.primary?.learners.onLearnRequest(from, message);
        return;
      case ReplicaMethod.LEARN_RESPONSE:
        if (this.configValue?.primary === from) this.follower.onLearnResponse(message);
        return;
      default:
        unreachable(message, "replica message");
    }
  }

  private refuseStale(to: NodeAddress, message: ReplicaMessage): void {
    const ballot = this.ballotValue;
    const refused = RefusalReason.STALE_BALLOT;
    const gpid = this.gpid;
    switch (message.method) {
      case ReplicaMethod.PREPARE:
        this.send(to, { method: ReplicaMethod.PREPARE_ACK, gpid, ballot, ackedDecree: 0, refused });
        return;
      case ReplicaMethod.GROUP_CHECK:
        this.send(to, {
          method: ReplicaMethod.GROUP_CHECK_ACK,
          gpid,
          ballot,
          status: this.statusValue,
          lastCommittedDecree: this.committed,
          lastPreparedDecree: this.log.lastPreparedDecree,
          refused,
        });
        return;
      case ReplicaMethod.LEARN_REQUEST:
        this.send(to, {
          method: ReplicaMethod.LEARN_RESPONSE,
          gpid,
          ballot,
          committedDecree: this.committed,
          refused,
        });
        return;
      case ReplicaMethod.PREPARE_ACK:
      case ReplicaMethod.GROUP_CHECK_ACK:
      case ReplicaMethod.LEARN_RESPONSE:
        return; // late answers to an older ballot
      default:
        unreachable(message, "replica message");
    }
  }

  /**
   * Adopts `config` if it is newer (or the first one at our ballot) and takes the status it
   * implies. `roleHint` is the role a primary's message asks for (LEARNER is not in configs).
   */
  private adoptConfig(config: PartitionConfiguration, roleHint: PeerRole | undefined): void {
    assert(sameGpid(config.gpid, this.gpid), "configuration of another partition");
    if (config.ballot < this.ballotValue) return;
    if (config.ballot === this.ballotValue && this.configValue !== undefined) {
      const isMember = config.primary === this.self || config.secondaries.includes(this.self);
      if (
        roleHint === PeerRole.LEARNER &&
        this.statusValue === ReplicaStatus.INACTIVE &&
        !isMember
      ) {
        this.takeStatus(ReplicaStatus.LEARNER);
      }
      return;
    }
    this.ballotValue = config.ballot;
    this.configValue = config;
    if (config.primary === this.self) {
      // A restarted replica may have prepared under this ballot before it crashed.
      this.takeStatus(
        config.ballot > this.primaryBallotFloor ? ReplicaStatus.PRIMARY : ReplicaStatus.INACTIVE,
      );
    } else if (config.secondaries.includes(this.self)) {
      this.takeStatus(ReplicaStatus.SECONDARY);
    } else if (roleHint === PeerRole.LEARNER && config.primary !== undefined) {
      this.takeStatus(ReplicaStatus.LEARNER);
    } else {
      this.takeStatus(ReplicaStatus.INACTIVE);
    }
  }

  /** Enters `status` for the (new) current ballot. */
  private takeStatus(status: ReplicaStatus): void {
    this.statusValue = status;
    switch (status) {
      case ReplicaStatus.PRIMARY:
        if (this.primary === undefined) this.primary = new PrimaryRole(this);
        // Its own duplications decide its hold now (the server's duplication sync sets it).
        this.adoptPeerLogHold(undefined);
        this.primary.activate();
        return;
      case ReplicaStatus.SECONDARY:
      case ReplicaStatus.LEARNER:
      case ReplicaStatus.INACTIVE:
        if (this.primary !== undefined) {
          this.primary.stepDown(`no longer primary at ballot ${this.ballotValue}`);
          this.primary = undefined;
        }
        this.follower.reset();
        return;
      case ReplicaStatus.ERROR:
        assert(false, "ERROR is entered through fail()");
        return;
      default:
        unreachable(status, "replica status");
    }
  }

  /** A peer told us of a larger ballot whose configuration we have not seen yet. */
  private becomeStale(ballot: number): void {
    this.ballotValue = ballot;
    this.configValue = undefined;
    this.takeStatus(ReplicaStatus.INACTIVE);
  }

  private onCheckpointInstalled(decree: number, ballot: number): void {
    assert(this.follower.installingCheckpoint, "checkpoint installed unasked");
    assert(decree > this.committed, "a checkpoint moves the replica forward");
    this.log.resetTo(decree, ballot);
    this.committed = decree;
    this.follower.onCheckpointInstalled();
  }

  private refuseWrite(requestId: number): void {
    this.emit({
      type: "REPLY",
      requestId,
      result: {
        ok: false,
        code: "ERR_INVALID_STATE",
        message: `replica is ${this.statusValue}, not an active primary`,
      },
    });
  }
}
