/**
 * The meta core's state: the durable part (tables, partition configurations, next app id — what
 * the meta store holds) and the volatile part (nodes, their beacons and reports), plus the
 * configuration arithmetic every decision uses.
 *
 * Invariants of a committed PartitionConfiguration:
 * - members (primary + secondaries) are distinct, and there are no secondaries without a primary;
 * - every change goes through `nextConfiguration`, which raises the ballot by exactly one;
 * - `lastDrops` never names a current member and holds at most `maxReplicaCount` nodes, the most
 *   recently removed last.
 */
import { assert } from "../../common/assert.ts";
import type {
  AppInfo,
  NodeAddress,
  PartitionConfiguration,
  ReplicaReport,
} from "../../protocol/index.ts";
import { AppStatus, gpidKey } from "../../protocol/index.ts";
import type { DuplicationRecord } from "./duplication/duplication.ts";
import type { OrphanMark } from "./duplication/orphan-marks.ts";
import { DuplicationRegistry } from "./duplication/registry.ts";
import type { RemovedApp } from "./layout.ts";

export interface DurableState {
  readonly nextAppId: number;
  /** Sorted by appId. */
  readonly apps: readonly AppInfo[];
  /** Every partition of every table, sorted by gpid. */
  readonly partitions: readonly PartitionConfiguration[];
  /** Every duplication (of available and dropped tables), sorted by appId then dupid. */
  readonly duplications: readonly DuplicationRecord[];
  /** Tables removed for good (layout.ts `removed_apps/`), sorted by appId. */
  readonly removedApps: readonly RemovedApp[];
  /** Re-sync marks removed duplications left on remote tables (duplication/orphan-marks.ts). */
  readonly orphanResyncMarks: readonly OrphanMark[];
}

export interface NodeRecord {
  readonly address: NodeAddress;
  /** Set on every beacon, cleared by tick once no beacon came for `fdGraceMs`. */
  alive: boolean;
  /** Absent for nodes known only from restored configurations and not heard since. */
  lastBeaconMs: number | undefined;
  /** The node's latest report per gpid key, replaced wholesale by each beacon. */
  reports: Map<string, ReplicaReport>;
  /** Per member partition: since when no beacon reported a replica of it (member-watch.ts). */
  missingSinceMs: Map<string, BallotWatch>;
  /** Per member partition: consecutive beacons whose report refused its role (member-watch.ts). */
  refusedBeacons: Map<string, BallotWatch>;
}

/** A value observed under one configuration ballot of a partition. */
export interface BallotWatch {
  readonly ballot: number;
  readonly value: number;
}

export class ClusterState {
  readonly apps = new Map<number, AppInfo>();
  /** Per appId, indexed by partition index. */
  readonly partitions = new Map<number, PartitionConfiguration[]>();
  readonly nodes = new Map<NodeAddress, NodeRecord>();
  readonly duplications = new DuplicationRegistry();
  /** Dropped tables past their hold period whose removal is recorded: their data is garbage. */
  readonly removedApps = new Map<number, RemovedApp>();
  nextAppId = 1;

  /** Tables sorted by id (deterministic iteration everywhere). */
  sortedApps(): AppInfo[] {
    return [...this.apps.values()].sort((a, b) => a.appId - b.appId);
  }

  availableApps(): AppInfo[] {
    return this.sortedApps().filter((app) => app.status === AppStatus.AVAILABLE);
  }

  /** Partitions of available tables, in gpid order. */
  *availablePartitions(): Generator<PartitionConfiguration> {
    for (const app of this.availableApps()) yield* this.partitions.get(app.appId) ?? [];
  }

  findAvailableApp(appName: string): AppInfo | undefined {
    return this.availableApps().find((app) => app.appName === appName);
  }

  partition(appId: number, partitionIndex: number): PartitionConfiguration | undefined {
    return this.partitions.get(appId)?.[partitionIndex];
  }

  setPartition(config: PartitionConfiguration): void {
    const list = this.partitions.get(config.gpid.appId);
    assert(list !== undefined, `partition ${gpidKey(config.gpid)} of an unknown app`);
    assert(
      config.gpid.partitionIndex < list.length,
      `partition ${gpidKey(config.gpid)} out of range`,
    );
    list[config.gpid.partitionIndex] = config;
  }

  node(address: NodeAddress): NodeRecord {
    let record = this.nodes.get(address);
    if (record === undefined) {
      record = {
        address,
        alive: true,
        lastBeaconMs: undefined,
        reports: new Map(),
        missingSinceMs: new Map(),
        refusedBeacons: new Map(),
      };
      this.nodes.set(address, record);
    }
    return record;
  }

  isAlive(address: NodeAddress): boolean {
    return this.nodes.get(address)?.alive === true;
  }

  /** Alive and heard from since this meta server started: may be given new replicas. */
  isServing(address: NodeAddress): boolean {
    const record = this.nodes.get(address);
    return record?.alive === true && record.lastBeaconMs !== undefined;
  }

  servingNodes(): NodeAddress[] {
    return [...this.nodes.values()]
      .filter((node) => node.alive && node.lastBeaconMs !== undefined)
      .map((node) => node.address)
      .sort(compareAddress);
  }

  report(address: NodeAddress, key: string): ReplicaReport | undefined {
    return this.nodes.get(address)?.reports.get(key);
  }

  durable(): DurableState {
    const apps = this.sortedApps();
    return {
      nextAppId: this.nextAppId,
      apps,
      partitions: apps.flatMap((app) => this.partitions.get(app.appId) ?? []),
      duplications: this.duplications.records(),
      removedApps: [...this.removedApps.values()].sort((a, b) => a.appId - b.appId),
      orphanResyncMarks: this.duplications.orphanMarks(),
    };
  }
}

export function compareAddress(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function membersOf(config: PartitionConfiguration): NodeAddress[] {
  return config.primary === undefined
    ? [...config.secondaries]
    : [config.primary, ...config.secondaries];
}

export interface NodeLoad {
  primaries: number;
  replicas: number;
}

/** Primaries and replicas per node over the partitions of available tables. */
export function nodeLoads(state: ClusterState): Map<NodeAddress, NodeLoad> {
  const loads = new Map<NodeAddress, NodeLoad>();
  const load = (address: NodeAddress): NodeLoad => {
    let entry = loads.get(address);
    if (entry === undefined) {
      entry = { primaries: 0, replicas: 0 };
      loads.set(address, entry);
    }
    return entry;
  };
  for (const address of state.nodes.keys()) load(address);
  for (const config of state.availablePartitions()) {
    if (config.primary !== undefined) load(config.primary).primaries += 1;
    for (const member of membersOf(config)) load(member).replicas += 1;
  }
  return loads;
}

export interface ConfigurationStep {
  readonly primary: NodeAddress | undefined;
  readonly secondaries: readonly NodeAddress[];
  /** Members removed by this step, in the order they should be recorded in `lastDrops`. */
  readonly dropped: readonly NodeAddress[];
}

/** The configuration after one change: ballot + 1, `lastDrops` kept in step with membership. */
export function nextConfiguration(
  config: PartitionConfiguration,
  step: ConfigurationStep,
  lastCommittedDecree: number,
): PartitionConfiguration {
  const members =
    step.primary === undefined ? [...step.secondaries] : [step.primary, ...step.secondaries];
  assert(new Set(members).size === members.length, "a node listed twice in a configuration");
  assert(
    step.primary !== undefined || step.secondaries.length === 0,
    "secondaries without primary",
  );
  const dropped = new Set(step.dropped);
  const kept = (config.lastDrops ?? []).filter(
    (node) => !members.includes(node) && !dropped.has(node),
  );
  const lastDrops = [...kept, ...step.dropped.filter((node) => !members.includes(node))].slice(
    -config.maxReplicaCount,
  );
  return {
    gpid: config.gpid,
    ballot: config.ballot + 1,
    ...(step.primary === undefined ? {} : { primary: step.primary }),
    secondaries: [...step.secondaries],
    maxReplicaCount: config.maxReplicaCount,
    lastCommittedDecree: Math.max(config.lastCommittedDecree, lastCommittedDecree),
    lastDrops,
  };
}
