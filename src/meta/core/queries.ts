/**
 * Read-only views for clients, the shell and the HTTP surface. They show committed state only: a
 * change whose writes are not yet persisted is invisible here.
 */
import { TalariaError } from "../../common/errors.ts";
import type {
  ClusterInfoResponse,
  ListAppsRequest,
  ListAppsResponse,
  ListNodesRequest,
  ListNodesResponse,
  NodeInfo,
  PartitionConfiguration,
  QueryConfigurationRequest,
  QueryConfigurationResponse,
} from "../../protocol/index.ts";
import { gpidKey, NodeStatus } from "../../protocol/index.ts";
import { type ClusterState, compareAddress, membersOf, nodeLoads } from "./state.ts";

export type PartitionHealth = "HEALTHY" | "WRITABLE_ILL" | "UNWRITABLE";

export function partitionHealth(config: PartitionConfiguration): PartitionHealth {
  if (config.primary === undefined) return "UNWRITABLE";
  return membersOf(config).length >= config.maxReplicaCount ? "HEALTHY" : "WRITABLE_ILL";
}

export function listApps(state: ClusterState, request: ListAppsRequest = {}): ListAppsResponse {
  const apps = state.sortedApps();
  return {
    apps: request.status === undefined ? apps : apps.filter((app) => app.status === request.status),
  };
}

export function queryConfiguration(
  state: ClusterState,
  request: QueryConfigurationRequest,
  present: (config: PartitionConfiguration) => PartitionConfiguration,
): QueryConfigurationResponse {
  const app =
    typeof request.appName === "string" ? state.findAvailableApp(request.appName) : undefined;
  if (app === undefined)
    throw new TalariaError(
      "ERR_APP_NOT_EXIST",
      `table ${JSON.stringify(request.appName)} does not exist`,
    );
  return { app, partitions: (state.partitions.get(app.appId) ?? []).map(present) };
}

/**
 * The configuration with `followerCopy` from its primary's latest report, while that primary
 * pulls the partition's checkpoint from the master cluster (full duplication, follower side).
 */
export function withFollowerCopy(
  state: ClusterState,
  config: PartitionConfiguration,
): PartitionConfiguration {
  if (config.primary === undefined) return config;
  const copy = state.report(config.primary, gpidKey(config.gpid))?.followerCopy;
  return copy === undefined ? config : { ...config, followerCopy: copy };
}

export function listNodes(state: ClusterState, request: ListNodesRequest = {}): ListNodesResponse {
  const loads = nodeLoads(state);
  const nodes: NodeInfo[] = [...state.nodes.values()]
    .sort((a, b) => compareAddress(a.address, b.address))
    .map((node) => {
      const load = loads.get(node.address) ?? { primaries: 0, replicas: 0 };
      return {
        address: node.address,
        status: node.alive ? NodeStatus.ALIVE : NodeStatus.DEAD,
        primaryCount: load.primaries,
        replicaCount: load.replicas,
        ...(node.lastBeaconMs === undefined ? {} : { lastBeaconMs: node.lastBeaconMs }),
      };
    });
  return {
    nodes:
      request.status === undefined ? nodes : nodes.filter((node) => node.status === request.status),
  };
}

export function clusterInfo(
  state: ClusterState,
  persistsInFlight: number,
  ddlQueued: number,
): ClusterInfoResponse {
  let alive = 0;
  for (const node of state.nodes.values()) if (node.alive) alive += 1;
  const partitions = { total: 0, healthy: 0, writableIll: 0, unwritable: 0 };
  for (const config of state.availablePartitions()) {
    partitions.total += 1;
    const health = partitionHealth(config);
    if (health === "HEALTHY") partitions.healthy += 1;
    else if (health === "WRITABLE_ILL") partitions.writableIll += 1;
    else partitions.unwritable += 1;
  }
  const available = state.availableApps().length;
  return {
    nodes: { alive, dead: state.nodes.size - alive },
    apps: { available, dropped: state.apps.size - available },
    partitions,
    persistsInFlight,
    ddlQueued,
  };
}
