/**
 * Primary balancing (every `balanceIntervalMs`). A node holding more than ceil(average) primaries
 * hands the primary role of one of its partitions to a secondary on a node below the average; the
 * old primary becomes a secondary (ballot + 1). Swapping roles inside a configuration moves no
 * data and is safe because a commit needs every member, so the new primary already holds every
 * committed write. Caught-up secondaries (lastPreparedDecree at least the primary's) are preferred.
 *
 * Only healthy partitions (full replica set, every member alive and heard from) with no change in
 * flight move; a partition moves at most once per round; a round starts at most
 * `balanceMovesPerRoundMax` moves. Counts are taken over all available tables (not per table).
 * Deterministic: nodes and partitions are visited in (count, address) and gpid order.
 */
import type { NodeAddress, PartitionConfiguration, ReplicaReport } from "../../protocol/index.ts";
import { gpidKey } from "../../protocol/index.ts";
import { compareAddress, membersOf, nextConfiguration } from "./state.ts";

export interface BalanceInput {
  /** Partitions of available tables, in gpid order. */
  readonly partitions: Iterable<PartitionConfiguration>;
  /** Nodes alive and heard from. */
  readonly servingNodes: readonly NodeAddress[];
  readonly isBusy: (key: string) => boolean;
  readonly report: (node: NodeAddress, key: string) => ReplicaReport | undefined;
  readonly observedCommittedDecree: (key: string) => number;
  readonly movesMax: number;
}

export interface PrimaryMove {
  readonly from: NodeAddress;
  readonly to: NodeAddress;
  readonly config: PartitionConfiguration;
}

export function planPrimaryMoves(input: BalanceInput): PrimaryMove[] {
  const serving = new Set(input.servingNodes);
  if (serving.size < 2) return [];
  const counts = new Map<NodeAddress, number>(input.servingNodes.map((node) => [node, 0]));
  const movable = new Map<NodeAddress, PartitionConfiguration[]>();
  for (const config of input.partitions) {
    const primary = config.primary;
    if (primary === undefined || !serving.has(primary)) continue;
    counts.set(primary, (counts.get(primary) ?? 0) + 1);
    const members = membersOf(config);
    const healthy =
      members.length >= config.maxReplicaCount && members.every((node) => serving.has(node));
    if (!healthy || input.isBusy(gpidKey(config.gpid))) continue;
    const list = movable.get(primary) ?? [];
    list.push(config);
    movable.set(primary, list);
  }
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  const ceilingAverage = Math.ceil(total / serving.size);
  const count = (node: NodeAddress): number => counts.get(node) ?? 0;

  const moves: PrimaryMove[] = [];
  const moved = new Set<string>();
  while (moves.length < input.movesMax) {
    const overloaded = input.servingNodes
      .filter((node) => count(node) > ceilingAverage)
      .sort((a, b) => count(b) - count(a) || compareAddress(a, b));
    const move = findMove(overloaded, movable, moved, count, ceilingAverage, input);
    if (move === undefined) break;
    moves.push(move);
    moved.add(gpidKey(move.config.gpid));
    counts.set(move.from, count(move.from) - 1);
    counts.set(move.to, count(move.to) + 1);
  }
  return moves;
}

function findMove(
  overloaded: readonly NodeAddress[],
  movable: ReadonlyMap<NodeAddress, PartitionConfiguration[]>,
  moved: ReadonlySet<string>,
  count: (node: NodeAddress) => number,
  ceilingAverage: number,
  input: BalanceInput,
): PrimaryMove | undefined {
  for (const from of overloaded) {
    for (const config of movable.get(from) ?? []) {
      const key = gpidKey(config.gpid);
      if (moved.has(key)) continue;
      const primaryPrepared = input.report(from, key)?.lastPreparedDecree;
      const caughtUp = (node: NodeAddress): boolean => {
        const prepared = input.report(node, key)?.lastPreparedDecree;
        return (
          primaryPrepared !== undefined && prepared !== undefined && prepared >= primaryPrepared
        );
      };
      // For integer counts, count < ceil(average) is the same as count < average.
      const [to] = config.secondaries
        .filter((node) => count(node) < ceilingAverage)
        .sort(
          (a, b) =>
            count(a) - count(b) ||
            Number(caughtUp(b)) - Number(caughtUp(a)) ||
            compareAddress(a, b),
        );
      if (to === undefined) continue;
      return {
        from,
        to,
        config: nextConfiguration(
          config,
          {
            primary: to,
            secondaries: [...config.secondaries.filter((node) => node !== to), from],
            dropped: [],
          },
          input.observedCommittedDecree(key),
        ),
      };
    }
  }
  return undefined;
}
