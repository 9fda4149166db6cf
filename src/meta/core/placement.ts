/**
 * Where replicas go: the initial placement of a new table, and the node proposed as a learner for
 * a partition that lacks replicas. Both are pure and deterministic: ties break on the node
 * address, and loads are updated as choices are made so one call spreads evenly.
 */
import { assert } from "../../common/assert.ts";
import type { NodeAddress, PartitionConfiguration } from "../../protocol/index.ts";
import { compareAddress, type NodeLoad } from "./state.ts";

function loadOf(loads: Map<NodeAddress, NodeLoad>, address: NodeAddress): NodeLoad {
  let load = loads.get(address);
  if (load === undefined) {
    load = { primaries: 0, replicas: 0 };
    loads.set(address, load);
  }
  return load;
}

/**
 * Configurations for every partition of a new table. All replicas are empty, so the primary and
 * `replicaCount - 1` secondaries are assigned at once at ballot 1, on distinct nodes. The primary
 * goes to the node with the fewest primaries (then fewest replicas), each secondary to the node
 * with the fewest replicas (then fewest primaries). `loads` is updated in place. With
 * `primaryOnly` (a duplication follower, whose primary copies the data first) no secondary is
 * assigned; `maxReplicaCount` is still `replicaCount`.
 */
export function placeNewApp(
  appId: number,
  partitionCount: number,
  replicaCount: number,
  nodes: readonly NodeAddress[],
  loads: Map<NodeAddress, NodeLoad>,
  options: { readonly primaryOnly?: boolean } = {},
): PartitionConfiguration[] {
  const secondaryCount = options.primaryOnly === true ? 0 : replicaCount - 1;
  assert(nodes.length >= replicaCount, "placement needs replicaCount nodes");
  const configs: PartitionConfiguration[] = [];
  for (let partitionIndex = 0; partitionIndex < partitionCount; partitionIndex += 1) {
    const byPrimaries = [...nodes].sort(
      (a, b) =>
        loadOf(loads, a).primaries - loadOf(loads, b).primaries ||
        loadOf(loads, a).replicas - loadOf(loads, b).replicas ||
        compareAddress(a, b),
    );
    const primary = byPrimaries[0] as NodeAddress;
    const secondaries = nodes
      .filter((node) => node !== primary)
      .sort(
        (a, b) =>
          loadOf(loads, a).replicas - loadOf(loads, b).replicas ||
          loadOf(loads, a).primaries - loadOf(loads, b).primaries ||
          compareAddress(a, b),
      )
      .slice(0, secondaryCount);
    loadOf(loads, primary).primaries += 1;
    for (const member of [primary, ...secondaries]) loadOf(loads, member).replicas += 1;
    configs.push({
      gpid: { appId, partitionIndex },
      ballot: 1,
      primary,
      secondaries,
      maxReplicaCount: replicaCount,
      lastCommittedDecree: 0,
      lastDrops: [],
    });
  }
  return configs;
}

export interface LearnerCandidates {
  /** Nodes that may receive a replica (alive and heard from), sorted. */
  readonly nodes: readonly NodeAddress[];
  readonly loads: Map<NodeAddress, NodeLoad>;
  /** Learner proposals currently aimed at each node. */
  readonly proposalsPerNode: ReadonlyMap<NodeAddress, number>;
  readonly proposalsPerNodeMax: number;
  /** Whether the node reported a replica of this partition (it can learn incrementally). */
  readonly holdsReplica: (node: NodeAddress) => boolean;
}

/**
 * The node to propose as learner for `config`: not a member, under its proposal bound; a node
 * that still holds a replica of the partition first, then the one with the fewest replicas
 * (counting proposals), then by address. Undefined when no node qualifies.
 */
export function chooseLearner(
  config: PartitionConfiguration,
  candidates: LearnerCandidates,
): NodeAddress | undefined {
  const members = new Set([config.primary, ...config.secondaries]);
  const weight = (node: NodeAddress): number =>
    loadOf(candidates.loads, node).replicas + (candidates.proposalsPerNode.get(node) ?? 0);
  const eligible = candidates.nodes.filter(
    (node) =>
      !members.has(node) &&
      (candidates.proposalsPerNode.get(node) ?? 0) < candidates.proposalsPerNodeMax,
  );
  eligible.sort(
    (a, b) =>
      Number(candidates.holdsReplica(b)) - Number(candidates.holdsReplica(a)) ||
      weight(a) - weight(b) ||
      compareAddress(a, b),
  );
  return eligible[0];
}
