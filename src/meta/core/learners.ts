/**
 * Re-replication: which node each under-replicated partition's primary should teach. Proposals are
 * volatile (a new meta leader recomputes them) and sticky: a partition keeps its learner until the
 * learner becomes a member, dies, or `learnerProposalTimeoutMs` passes (then another node is
 * tried), so a primary is not told to teach a different node on every beacon.
 *
 * Invariants: at most one proposal per partition; a proposal names a serving node outside the
 * configuration of a partition that has a serving primary and fewer members than its replica
 * count; at most `learnerProposalsPerNodeMax` proposals name one node. The ballot sent with a
 * proposal is always the partition's current one. A duplication follower being created gets no
 * learner before its primary serves the copied checkpoint (follower-app.ts).
 */
import type { LearnerProposal, NodeAddress, PartitionConfiguration } from "../../protocol/index.ts";
import { AppStatus, gpidKey, parseGpid, ReplicaStatus } from "../../protocol/index.ts";
import { awaitsFollowerCopy } from "./follower-app.ts";
import { chooseLearner } from "./placement.ts";
import { type ClusterState, membersOf, nodeLoads } from "./state.ts";

interface Proposal {
  readonly learner: NodeAddress;
  readonly proposedAtMs: number;
}

export interface LearnerSettings {
  readonly learnerProposalsPerNodeMax: number;
  readonly learnerProposalTimeoutMs: number;
}

export class LearnerProposals {
  private readonly proposals = new Map<string, Proposal>();

  constructor(private readonly settings: LearnerSettings) {}

  /** Drops proposals that no longer hold and proposes learners for partitions that need one. */
  refresh(state: ClusterState, nowMs: number, isBusy: (key: string) => boolean): void {
    const timedOut = new Map<string, NodeAddress>();
    for (const [key, proposal] of this.proposals) {
      const config = findAvailablePartition(state, key);
      const stale =
        config === undefined ||
        !needsLearner(state, config) ||
        membersOf(config).includes(proposal.learner) ||
        !state.isServing(proposal.learner);
      const expired = nowMs - proposal.proposedAtMs > this.settings.learnerProposalTimeoutMs;
      if (stale || expired) this.proposals.delete(key);
      if (!stale && expired) timedOut.set(key, proposal.learner);
    }
    const perNode = new Map<NodeAddress, number>();
    for (const { learner } of this.proposals.values())
      perNode.set(learner, (perNode.get(learner) ?? 0) + 1);
    const loads = nodeLoads(state);
    const serving = state.servingNodes();
    for (const config of state.availablePartitions()) {
      const key = gpidKey(config.gpid);
      if (this.proposals.has(key) || isBusy(key) || !needsLearner(state, config)) continue;
      const excluded = timedOut.get(key);
      const holdsReplica = (node: NodeAddress): boolean => {
        const report = state.report(node, key);
        return report !== undefined && report.status !== ReplicaStatus.ERROR;
      };
      const candidates = {
        loads,
        proposalsPerNode: perNode,
        proposalsPerNodeMax: this.settings.learnerProposalsPerNodeMax,
        holdsReplica,
      };
      const learner =
        chooseLearner(config, {
          ...candidates,
          nodes: serving.filter((node) => node !== excluded),
        }) ?? chooseLearner(config, { ...candidates, nodes: serving });
      if (learner === undefined) continue;
      this.proposals.set(key, { learner, proposedAtMs: nowMs });
      perNode.set(learner, (perNode.get(learner) ?? 0) + 1);
    }
  }

  /** Proposals for partitions whose committed primary is `node`. */
  forPrimary(state: ClusterState, node: NodeAddress): LearnerProposal[] {
    const out: LearnerProposal[] = [];
    for (const [key, proposal] of this.proposals) {
      const config = findAvailablePartition(state, key);
      if (config?.primary !== node || membersOf(config).includes(proposal.learner)) continue;
      out.push({ gpid: config.gpid, learner: proposal.learner, ballot: config.ballot });
    }
    return out.sort(
      (a, b) => a.gpid.appId - b.gpid.appId || a.gpid.partitionIndex - b.gpid.partitionIndex,
    );
  }

  all(state: ClusterState): LearnerProposal[] {
    const primaries = new Set<NodeAddress>();
    for (const key of this.proposals.keys()) {
      const primary = findAvailablePartition(state, key)?.primary;
      if (primary !== undefined) primaries.add(primary);
    }
    return [...primaries].sort().flatMap((primary) => this.forPrimary(state, primary));
  }

  get size(): number {
    return this.proposals.size;
  }
}

function needsLearner(state: ClusterState, config: PartitionConfiguration): boolean {
  return (
    config.primary !== undefined &&
    state.isServing(config.primary) &&
    membersOf(config).length < config.maxReplicaCount &&
    !awaitsFollowerCopy(state.apps.get(config.gpid.appId), config, (node) =>
      state.report(node, gpidKey(config.gpid)),
    )
  );
}

function findAvailablePartition(
  state: ClusterState,
  key: string,
): PartitionConfiguration | undefined {
  const { appId, partitionIndex } = parseGpid(key);
  const app = state.apps.get(appId);
  return app?.status === AppStatus.AVAILABLE ? state.partition(appId, partitionIndex) : undefined;
}
