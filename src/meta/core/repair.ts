/**
 * Reassignment after failures (run on tick for each partition of an available table that has no
 * change in flight). Commits need every member's ack (PacificA), so every member of the current
 * configuration holds every committed write; that is what makes each rule below safe. Every plan
 * is ballot + 1.
 *
 * A member is *failed* when it is dead (no beacon for `fdGraceMs`), or alive but not serving the
 * partition: its report says ERROR, or it has reported no replica of the partition for longer
 * than `fdGraceMs`, or `refusalBeaconsMin` consecutive beacons reported it at a ballot ≥ the
 * configuration's in a status other than the one the configuration gives it (a restarted primary
 * refuses to be primary again at a ballot ≤ the largest in its log and reports INACTIVE; without
 * this rule such a partition would wait forever). A report at an older ballot only means the node
 * has not seen the configuration yet; so does a single refusing beacon (member-watch.ts).
 *
 * - Failed secondaries are removed.
 * - A dead or failed primary is replaced by the best candidate: a live secondary that is not
 *   failed — or, when the primary only refused its ballot (INACTIVE, so it is alive and holds its
 *   data), the old primary itself — ranked by lastPreparedDecree from its latest report (tie:
 *   lastCommittedDecree, then address). Candidates other than the new primary stay secondaries;
 *   failed members are removed in the same step. A refusing primary that is the only member left
 *   is thus re-issued as primary at ballot + 1, which it accepts (the ballot is above its log's).
 * - With no candidate the partition is left without a primary (no members) and waits. Its members
 *   are recorded in `lastDrops`, the old primary last: that node saw every write the partition
 *   ever committed, possibly alone. Only that node (the "last primary") is re-admitted, as
 *   primary, once it beacons again and reports a replica of the partition (not in ERROR); nodes
 *   dropped earlier may lack writes committed after they left, so they are never promoted, and
 *   neither is an empty node. Re-replication then teaches the others.
 * - Except on a duplication follower being created (follower-app.ts) whose partition never
 *   committed anything: its only member was the primary copying the master's checkpoint, and the
 *   copy can start over anywhere. When that primary is dead or reports ERROR, another serving
 *   node becomes primary (the fewest primaries first) and pulls the checkpoint afresh.
 */
import type { NodeAddress, PartitionConfiguration, ReplicaReport } from "../../protocol/index.ts";
import { gpidKey, ReplicaStatus } from "../../protocol/index.ts";
import { compareAddress, nextConfiguration } from "./state.ts";

export interface RepairContext {
  isAlive(node: NodeAddress): boolean;
  isServing(node: NodeAddress): boolean;
  report(node: NodeAddress, key: string): ReplicaReport | undefined;
  /**
   * The node beacons but has not reported a replica of `key` for longer than `fdGraceMs` since
   * the configuration at `ballot` took effect (member-watch.ts).
   */
  isReplicaMissing(node: NodeAddress, key: string, ballot: number): boolean;
  /** Consecutive beacons reporting `key` refusing the role the configuration at `ballot` gives. */
  refusedBeacons(node: NodeAddress, key: string, ballot: number): number;
  /** Largest committed decree heard from the partition's members. */
  observedCommittedDecree(key: string): number;
  /** The table is a duplication follower whose primaries still copy (follower-app.ts). */
  isFollowerCopying(appId: number): boolean;
  /** A serving node for a new primary (fewest primaries, then replicas), other than `exclude`. */
  choosePrimary(exclude: NodeAddress | undefined): NodeAddress | undefined;
}

export type RepairReason =
  | "DEAD_SECONDARY"
  | "SECONDARY_NOT_SERVING"
  | "DEAD_PRIMARY_PROMOTED"
  | "DEAD_PRIMARY_NO_CANDIDATE"
  | "PRIMARY_NOT_SERVING"
  | "LAST_PRIMARY_RETURNED"
  | "LAST_PRIMARY_NEVER_WRITTEN"
  | "FOLLOWER_PRIMARY_REPLACED";

export interface RepairPlan {
  readonly reason: RepairReason;
  readonly config: PartitionConfiguration;
  /** Why each member that loses its role does (for logs). */
  readonly failures: Readonly<Record<NodeAddress, MemberFailure>>;
}

/** Why a member cannot keep its role; undefined while it can. */
export type MemberFailure =
  | "DEAD"
  | "ERROR"
  | "REPLICA_MISSING"
  /** Alive, at (or past) the configuration's ballot, in another status than it gives. */
  | "REFUSED";

/**
 * Consecutive beacons that must report a refusal before it counts: a replica that heard of the new
 * ballot from a peer first reports a refusal once, then gets the configuration in that beacon's
 * reply and takes its role.
 */
export const refusalBeaconsMin = 2;

/** The report is at (or past) the configuration's ballot, in another status than it gives. */
export function refusesRole(
  config: PartitionConfiguration,
  node: NodeAddress,
  report: ReplicaReport,
): boolean {
  if (report.ballot < config.ballot || report.status === ReplicaStatus.ERROR) return false;
  const expected = node === config.primary ? ReplicaStatus.PRIMARY : ReplicaStatus.SECONDARY;
  return report.status !== expected;
}

export function memberFailure(
  config: PartitionConfiguration,
  node: NodeAddress,
  context: RepairContext,
): MemberFailure | undefined {
  const key = gpidKey(config.gpid);
  if (!context.isAlive(node)) return "DEAD";
  const report = context.report(node, key);
  if (report?.status === ReplicaStatus.ERROR) return "ERROR";
  if (context.isReplicaMissing(node, key, config.ballot)) return "REPLICA_MISSING";
  const refused =
    report !== undefined &&
    refusesRole(config, node, report) &&
    context.refusedBeacons(node, key, config.ballot) >= refusalBeaconsMin;
  return refused ? "REFUSED" : undefined;
}

/** The promotion order among candidates: most prepared, then most committed, then address. */
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
  const secondaryFailures = new Map(
    config.secondaries.map((node) => [node, memberFailure(config, node, context)]),
  );
  const liveSecondaries = config.secondaries.filter((node) => !secondaryFailures.get(node));
  const failedSecondaries = config.secondaries.filter((node) => secondaryFailures.get(node));

  if (config.primary === undefined) return planLastPrimaryReturn(config, context, committed);
  const primary = config.primary;
  const primaryFailure = memberFailure(config, primary, context);
  const failures: Record<NodeAddress, MemberFailure> = {};
  if (primaryFailure !== undefined) failures[primary] = primaryFailure;
  for (const [node, failure] of secondaryFailures)
    if (failure !== undefined) failures[node] = failure;

  if (primaryFailure === undefined) {
    if (failedSecondaries.length === 0) return undefined;
    const anyDead = failedSecondaries.some((node) => secondaryFailures.get(node) === "DEAD");
    return {
      reason: anyDead ? "DEAD_SECONDARY" : "SECONDARY_NOT_SERVING",
      config: nextConfiguration(
        config,
        { primary, secondaries: liveSecondaries, dropped: failedSecondaries },
        committed,
      ),
      failures,
    };
  }

  // A primary that only refused its ballot is alive with all its data: it stays a candidate.
  const primaryKept = primaryFailure === "REFUSED";
  const candidates = primaryKept ? [...liveSecondaries, primary] : liveSecondaries;
  const [promoted] = rankPromotionCandidates(candidates, key, context.report);
  // The old primary goes last into lastDrops: it holds the most writes of all who left.
  const dropped = primaryKept ? failedSecondaries : [...failedSecondaries, primary];
  const dead = primaryFailure === "DEAD";
  if (promoted === undefined)
    return {
      reason: dead ? "DEAD_PRIMARY_NO_CANDIDATE" : "PRIMARY_NOT_SERVING",
      config: nextConfiguration(
        config,
        { primary: undefined, secondaries: [], dropped },
        committed,
      ),
      failures,
    };
  return {
    reason: dead ? "DEAD_PRIMARY_PROMOTED" : "PRIMARY_NOT_SERVING",
    config: nextConfiguration(
      config,
      { primary: promoted, secondaries: candidates.filter((node) => node !== promoted), dropped },
      committed,
    ),
    failures,
  };
}

function planLastPrimaryReturn(
  config: PartitionConfiguration,
  context: RepairContext,
  committed: number,
): RepairPlan | undefined {
  const lastPrimary = config.lastDrops?.at(-1);
  if (lastPrimary === undefined || !context.isServing(lastPrimary))
    return planFollowerPrimaryReplaced(config, context, committed);
  const key = gpidKey(config.gpid);
  const report = context.report(lastPrimary, key);
  if (report === undefined) return planNeverWrittenRestart(config, lastPrimary, context, committed);
  if (report.status === ReplicaStatus.ERROR)
    return planFollowerPrimaryReplaced(config, context, committed);
  return {
    reason: "LAST_PRIMARY_RETURNED",
    config: nextConfiguration(
      config,
      { primary: lastPrimary, secondaries: [], dropped: [] },
      Math.max(committed, report.lastCommittedDecree),
    ),
    failures: {},
  };
}

/**
 * The last primary is back and has not reported a replica of the partition for `fdGraceMs`: it
 * never created one (its members were assigned at creation and lost before they heard of it).
 * A node that joins later learns, so it hosts a replica; so the last primary was a member since
 * creation, every commit needed its ack, and nothing was ever committed. It is made primary of an
 * empty partition. Guard against a wiped disk (the one case where that reasoning fails): no commit
 * may be known — none recorded in the configuration, none heard from members, none reported by
 * any dropped node — or the partition keeps waiting for an operator.
 */
function planNeverWrittenRestart(
  config: PartitionConfiguration,
  lastPrimary: NodeAddress,
  context: RepairContext,
  committed: number,
): RepairPlan | undefined {
  const key = gpidKey(config.gpid);
  if (config.lastCommittedDecree > 0 || committed > 0) return undefined;
  if (!context.isReplicaMissing(lastPrimary, key, config.ballot)) return undefined;
  const dropped = config.lastDrops ?? [];
  if (dropped.some((node) => (context.report(node, key)?.lastCommittedDecree ?? 0) > 0))
    return undefined;
  return {
    reason: "LAST_PRIMARY_NEVER_WRITTEN",
    config: nextConfiguration(config, { primary: lastPrimary, secondaries: [], dropped: [] }, 0),
    failures: {},
  };
}

/**
 * A creating follower's partition lost its copying primary (dead, or ERROR) before committing
 * anything: nothing can be lost, so another serving node becomes primary and copies afresh.
 */
function planFollowerPrimaryReplaced(
  config: PartitionConfiguration,
  context: RepairContext,
  committed: number,
): RepairPlan | undefined {
  if (!context.isFollowerCopying(config.gpid.appId)) return undefined;
  const key = gpidKey(config.gpid);
  if (config.lastCommittedDecree > 0 || committed > 0) return undefined;
  const dropped = config.lastDrops ?? [];
  if (dropped.some((node) => (context.report(node, key)?.lastCommittedDecree ?? 0) > 0))
    return undefined;
  const primary = context.choosePrimary(dropped.at(-1));
  if (primary === undefined) return undefined;
  return {
    reason: "FOLLOWER_PRIMARY_REPLACED",
    config: nextConfiguration(config, { primary, secondaries: [], dropped: [] }, 0),
    failures: {},
  };
}
