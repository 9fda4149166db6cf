/**
 * Reassignment after failures (run on tick for each partition of an available table that has no
 * change in flight). Commits need every member's ack (PacificA), so every member of the current
 * configuration holds every committed write; that is what makes each rule below safe.
 *
 * - Dead secondaries are removed (ballot + 1).
 * - A dead primary is replaced by the live secondary with the highest lastPreparedDecree from its
 *   latest report (tie: lastCommittedDecree, then address); dead members are removed in the same
 *   step (ballot + 1).
 * - With no live secondary the partition is left without a primary (ballot + 1, no members) and
 *   waits. Its members are recorded in `lastDrops`, the old primary last: that node saw every
 *   write the partition ever committed, possibly alone. Only that node (the "last primary") is
 *   re-admitted, as primary, once it beacons again and reports a replica of the partition; nodes
 *   dropped earlier may lack writes committed after they left, so they are never promoted, and
 *   neither is an empty node. Re-replication then teaches the others.
 */
import type { NodeAddress, PartitionConfiguration, ReplicaReport } from "../../protocol/index.ts";
import { gpidKey, ReplicaStatus } from "../../protocol/index.ts";
import { compareAddress, nextConfiguration } from "./state.ts";

export interface RepairContext {
  isAlive(node: NodeAddress): boolean;
  isServing(node: NodeAddress): boolean;
  report(node: NodeAddress, key: string): ReplicaReport | undefined;
  /** Largest committed decree heard from the partition's members. */
  observedCommittedDecree(key: string): number;
}

export type RepairReason =
  | "DEAD_SECONDARY"
  | "DEAD_PRIMARY_PROMOTED"
  | "DEAD_PRIMARY_NO_CANDIDATE"
  | "LAST_PRIMARY_RETURNED";

export interface RepairPlan {
  readonly reason: RepairReason;
  readonly config: PartitionConfiguration;
}

/** The promotion order among live secondaries: most prepared, then most committed, then address. */
export function rankPromotionCandidates(
  candidates: readonly NodeAddress[],
  key: string,
  report: (node: NodeAddress, key: string) => ReplicaReport | undefined,
): NodeAddress[] {
  const decrees = (node: NodeAddress): [number, number] => {
    const r = report(node, key);
    return r === undefined ? [-1, -1] : [r.lastPreparedDecree, r.lastCommittedDecree];
  };
  return [...candidates].sort((a, b) => {
    const [preparedA, committedA] = decrees(a);
    const [preparedB, committedB] = decrees(b);
    return preparedB - preparedA || committedB - committedA || compareAddress(a, b);
  });
}

export function planRepair(
  config: PartitionConfiguration,
  context: RepairContext,
): RepairPlan | undefined {
  const key = gpidKey(config.gpid);
  const committed = context.observedCommittedDecree(key);
  const liveSecondaries = config.secondaries.filter((node) => context.isAlive(node));
  const deadSecondaries = config.secondaries.filter((node) => !context.isAlive(node));

  if (config.primary !== undefined && context.isAlive(config.primary)) {
    if (deadSecondaries.length === 0) return undefined;
    return {
      reason: "DEAD_SECONDARY",
      config: nextConfiguration(
        config,
        { primary: config.primary, secondaries: liveSecondaries, dropped: deadSecondaries },
        committed,
      ),
    };
  }

  if (config.primary !== undefined) {
    // The old primary goes last into lastDrops: it holds the most writes of all who left.
    const dropped = [...deadSecondaries, config.primary];
    const [promoted] = rankPromotionCandidates(liveSecondaries, key, context.report);
    if (promoted === undefined)
      return {
        reason: "DEAD_PRIMARY_NO_CANDIDATE",
        config: nextConfiguration(
          config,
          { primary: undefined, secondaries: [], dropped },
          committed,
        ),
      };
    return {
      reason: "DEAD_PRIMARY_PROMOTED",
      config: nextConfiguration(
        config,
        {
          primary: promoted,
          secondaries: liveSecondaries.filter((node) => node !== promoted),
          dropped,
        },
        committed,
      ),
    };
  }

  const lastPrimary = config.lastDrops?.at(-1);
  if (lastPrimary === undefined || !context.isServing(lastPrimary)) return undefined;
  const report = context.report(lastPrimary, key);
  if (report === undefined || report.status === ReplicaStatus.ERROR) return undefined;
  return {
    reason: "LAST_PRIMARY_RETURNED",
    config: nextConfiguration(
      config,
      { primary: lastPrimary, secondaries: [], dropped: [] },
      Math.max(committed, report.lastCommittedDecree),
    ),
  };
}
