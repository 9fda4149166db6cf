/**
 * What the meta core remembers, between beacons, of how each member reports the partitions it is
 * a member of — the evidence for the "alive but not serving" repair rules (repair.ts):
 *
 * - `missingSinceMs`: the first beacon since which the node has not reported a replica of the
 *   partition at all (also kept for the awaited last primary of a partition without members);
 * - `refusedBeacons`: how many consecutive beacons reported a replica refusing its role (at a
 *   ballot ≥ the configuration's, in another status than the configuration gives it). A replica
 *   can report that for one beacon without refusing anything: a peer told it of the new ballot
 *   before the meta server did, and it has not seen the configuration yet. That beacon's reply
 *   carries the configuration, so the next beacon tells.
 *
 * Both are volatile (rebuilt from beacons by a new leader), keyed by gpid key and tied to the
 * configuration's ballot: a new configuration starts them over. Each beacon rebuilds the node's
 * maps over the partitions it is watched for at that moment, so entries of others disappear.
 */
import type { NodeAddress, PartitionConfiguration } from "../../protocol/index.ts";
import { gpidKey } from "../../protocol/index.ts";
import { refusesRole } from "./repair.ts";
import { type BallotWatch, membersOf, type NodeRecord } from "./state.ts";

/** The partition has no members and waits for `node`, the last one dropped from it. */
export function isAwaitedLastPrimary(config: PartitionConfiguration, node: NodeAddress): boolean {
  return config.primary === undefined && config.lastDrops?.at(-1) === node;
}

/** `watched`: the partitions the node is a member of, or is the awaited last primary of. */
export function watchMemberReports(
  node: NodeRecord,
  watched: readonly PartitionConfiguration[],
  nowMs: number,
): void {
  const missing = new Map<string, BallotWatch>();
  const refused = new Map<string, BallotWatch>();
  for (const config of watched) {
    const key = gpidKey(config.gpid);
    const report = node.reports.get(key);
    // A new configuration asks anew: evidence gathered under an older ballot does not count.
    const carried = (previous: BallotWatch | undefined): BallotWatch | undefined =>
      previous?.ballot === config.ballot ? previous : undefined;
    if (report === undefined) {
      const since = carried(node.missingSinceMs.get(key))?.value ?? nowMs;
      missing.set(key, { ballot: config.ballot, value: since });
    } else if (
      membersOf(config).includes(node.address) &&
      refusesRole(config, node.address, report)
    ) {
      const count = (carried(node.refusedBeacons.get(key))?.value ?? 0) + 1;
      refused.set(key, { ballot: config.ballot, value: count });
    }
  }
  node.missingSinceMs = missing;
  node.refusedBeacons = refused;
}
