/**
 * Stale replicas: what a node reports of a partition it is no longer a member of, and which no
 * configuration can want back (a server that failed and was replaced comes back with its old
 * replicas). The beacon reply names them (`staleReplicas`); the server stops hosting them and
 * deletes their data after a hold period (docs/storage.md).
 *
 * A replica is stale only when every one of these holds, so that the partition's data is whole
 * without it:
 *  - its table is available (a dropped table's replicas wait for its removal, see removedAppIds);
 *  - the node is not a member, and the replica's ballot is below the configuration's;
 *  - it is not learning (LEARNER), and it knows of no commit the meta server has not seen
 *    (its committed decree is at most the partition's known one);
 *  - the partition is full — a primary and `maxReplicaCount` members — and every member is serving
 *    and reported itself in its role at the current ballot;
 *  - no configuration change of the partition is in flight.
 * With a full configuration whose every member holds every committed write (PacificA), and no
 * commit outside it, the stale replica carries nothing the partition lacks. If the partition later
 * loses all its members, the node the meta server waits for is the last one dropped, which is one
 * of these members, never a replica that left before them.
 */
import type { Gpid, NodeAddress, ReplicaReport } from "../../protocol/index.ts";
import { AppStatus, gpidKey, ReplicaStatus } from "../../protocol/index.ts";
import { type ClusterState, membersOf } from "./state.ts";

export interface StaleReplicaContext {
  readonly state: ClusterState;
  /** A configuration change of the partition is being persisted. */
  readonly isPartitionBusy: (key: string) => boolean;
  /** The largest committed decree heard from the partition's members. */
  readonly observedCommitted: (key: string) => number;
}

/** The gpids among `reports` (from `node`) that are stale, in report order. */
export function staleReplicas(
  context: StaleReplicaContext,
  node: NodeAddress,
  reports: readonly ReplicaReport[],
): Gpid[] {
  return reports.filter((report) => isStale(context, node, report)).map((report) => report.gpid);
}

function isStale(context: StaleReplicaContext, node: NodeAddress, report: ReplicaReport): boolean {
  const { state } = context;
  const { appId, partitionIndex } = report.gpid;
  if (state.apps.get(appId)?.status !== AppStatus.AVAILABLE) return false;
  const config = state.partition(appId, partitionIndex);
  if (config?.primary === undefined) return false;
  const key = gpidKey(report.gpid);
  const members = membersOf(config);
  if (members.includes(node) || report.ballot >= config.ballot) return false;
  if (report.status === ReplicaStatus.LEARNER) return false;
  if (
    report.lastCommittedDecree >
    Math.max(config.lastCommittedDecree, context.observedCommitted(key))
  )
    return false;
  if (members.length < config.maxReplicaCount || context.isPartitionBusy(key)) return false;
  return members.every((member) => {
    const memberReport = state.report(member, key);
    const role = member === config.primary ? ReplicaStatus.PRIMARY : ReplicaStatus.SECONDARY;
    return (
      state.isServing(member) &&
      memberReport?.ballot === config.ballot &&
      memberReport.status === role
    );
  });
}
