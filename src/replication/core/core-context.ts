/**
 * What the role handlers (primary, follower) may see and do of the core that hosts them. The
 * core owns ballot, configuration, status and the committed decree; roles change them only
 * through these methods, so the invariants live in one place (replica-core.ts).
 */
import type { Gpid, NodeAddress } from "../../protocol/ids.ts";
import type { PartitionConfiguration, ReplicaStatus } from "../../protocol/partition-config.ts";
import type { ReplicaMessage } from "../../protocol/replica-messages.ts";
import type { ReplicationOptions } from "./options.ts";
import type { PrepareList } from "./prepare-list.ts";
import type { ReplicationAction } from "./types.ts";

export interface CoreContext {
  readonly self: NodeAddress;
  readonly gpid: Gpid;
  readonly options: ReplicationOptions;
  readonly log: PrepareList;
  readonly nowMs: number;
  readonly ballot: number;
  readonly status: ReplicaStatus;
  readonly lastCommittedDecree: number;
  readonly leaseExpiresAtMs: number;
  /** This replica's own duplication log hold (LOG_HOLD), which a primary sends in group checks. */
  readonly logHoldDecree: number | undefined;
  /** The configuration of the current ballot (defined whenever a role handler runs). */
  config(): PartitionConfiguration;
  emit(action: ReplicationAction): void;
  /** Records the primary's log hold from a group check (emits PEER_LOG_HOLD when it changes). */
  adoptPeerLogHold(fromDecree: number | undefined): void;
  send(to: NodeAddress, message: ReplicaMessage): void;
  /** Moves the commit point forward (never back, never past the last prepared decree). */
  advanceCommitted(decree: number): void;
  /** Emits APPLY for every committed and durable entry not applied yet. */
  applyCommitted(): void;
  /** The replica found its state inconsistent: it stops taking part (status ERROR). */
  fail(reason: string): void;
}
