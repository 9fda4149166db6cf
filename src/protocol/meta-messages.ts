/**
 * Messages between replica servers and the meta server (protocol v1). These are the contract the
 * meta core, the replication core and the simulator share; RPC method names are the wire names.
 *
 *  - Every replica server sends a beacon every `fd_beacon_interval_seconds`. The reply grants a
 *    lease and carries the configuration of every partition the server should host, plus the
 *    learners the meta server wants each primary on that server to add.
 *  - Only the meta server changes a configuration. A primary asks for a change with
 *    UPDATE_CONFIGURATION naming the ballot it is based on; a stale ballot is refused, so two
 *    primaries can never both get a change through.
 */
import type { Gpid, NodeAddress } from "./ids.ts";
import type {
  AppInfo,
  AppStatus,
  PartitionConfiguration,
  ReplicaReport,
} from "./partition-config.ts";

export const MetaMethod = {
  BEACON: "meta.beacon",
  UPDATE_CONFIGURATION: "meta.update_configuration",
  QUERY_CONFIGURATION: "meta.query_configuration",
  CREATE_APP: "meta.create_app",
  DROP_APP: "meta.drop_app",
  RECALL_APP: "meta.recall_app",
  LIST_APPS: "meta.list_apps",
  LIST_NODES: "meta.list_nodes",
  CLUSTER_INFO: "meta.cluster_info",
  SET_APP_ENVS: "meta.set_app_envs",
  DEL_APP_ENVS: "meta.del_app_envs",
} as const;

export interface BeaconRequest {
  readonly node: NodeAddress;
  /** Every replica the server hosts (any status), with its decrees. */
  readonly replicas: readonly ReplicaReport[];
  /**
   * Tables of which the server keeps replica data on disk without hosting it (replicas of a
   * dropped table, closed; a dropped table's unfinished follower copies). Absent from older
   * servers: the meta server then only answers for the hosted replicas.
   */
  readonly storedAppIds?: readonly number[];
}

export interface LearnerProposal {
  readonly gpid: Gpid;
  /** The node the primary should start teaching (it becomes a secondary once caught up). */
  readonly learner: NodeAddress;
  /** The configuration ballot the proposal is based on. */
  readonly ballot: number;
}

export interface BeaconResponse {
  /**
   * How long, from when the beacon was SENT, the server may act as primary. It is shorter than
   * the meta server's grace period, so a primary that loses contact stops serving before the meta
   * server replaces it.
   */
  readonly leaseMs: number;
  /** Every partition in which the node is primary or secondary. */
  readonly configs: readonly PartitionConfiguration[];
  /** The tables those partitions belong to. */
  readonly apps: readonly AppInfo[];
  readonly learnerProposals: readonly LearnerProposal[];
  /**
   * Dropped tables that can still be recalled and of which the node reported replicas: close
   * those replicas but keep their data. A reported replica whose table is in neither `apps` nor
   * `droppedApps` is NOT thereby garbage: `apps` only names tables in which the node is a member
   * now, so the table may exist with this node out of its configurations (for example a last
   * primary the meta server still waits for).
   */
  readonly droppedApps?: readonly AppInfo[];
  /**
   * Tables, among those the node reported (`replicas` and `storedAppIds`), that were removed for
   * good: dropped, past their hold period, and their removal recorded (meta layout
   * `removed_apps/`). No configuration can want their replicas back: the server deletes them.
   * Absent from older meta servers.
   */
  readonly removedAppIds?: readonly number[];
  /**
   * Replicas the node reported of partitions it is no longer a member of, which no configuration
   * can want back (meta core stale-replicas.ts: the partition is full and every member confirmed at
   * the current ballot). The server stops hosting them and deletes their data after
   * `[replication] gc_disk_garbage_replica_interval_seconds`. Absent from older meta servers.
   */
  readonly staleReplicas?: readonly Gpid[];
}

export type ConfigurationChange =
  /** The primary could not reach a secondary: drop it so writes continue with the rest. */
  | { readonly type: "REMOVE_SECONDARY"; readonly node: NodeAddress }
  /** A learner has caught up: make it a secondary. */
  | { readonly type: "ADD_SECONDARY"; readonly node: NodeAddress };

export interface UpdateConfigurationRequest {
  readonly gpid: Gpid;
  /** The requesting primary. */
  readonly node: NodeAddress;
  /** The ballot the change is based on; refused (ERR_INVALID_STATE) if meta has moved on. */
  readonly ballot: number;
  readonly change: ConfigurationChange;
  /**
   * The primary's number for this change at this ballot (≥ 1, increasing; a retry repeats it).
   * Meta refuses a number below the last one it saw from this primary at this ballot, and again
   * one it refused: so a refusal stays true for every copy of the request still in flight.
   * Absent from older replica servers (no such fence).
   */
  readonly changeId?: number;
}

export interface UpdateConfigurationResponse {
  readonly config: PartitionConfiguration;
}

export interface QueryConfigurationRequest {
  readonly appName: string;
}

export interface QueryConfigurationResponse {
  readonly app: AppInfo;
  readonly partitions: readonly PartitionConfiguration[];
}

// ---- Table (app) administration: shell, HTTP and admin clients → meta server ----

export interface CreateAppRequest {
  readonly appName: string;
  readonly partitionCount: number;
  readonly replicaCount: number;
  readonly envs?: Readonly<Record<string, string>>;
}

/** The new table with its initial partition configurations (ballot 1). */
export type CreateAppResponse = QueryConfigurationResponse;

export interface DropAppRequest {
  readonly appName: string;
  /** How long the table stays recallable; the meta server's `holdSecondsForDroppedApp` if absent. */
  readonly reserveSeconds?: number;
}

export interface DropAppResponse {
  readonly app: AppInfo;
}

export interface RecallAppRequest {
  readonly appId: number;
  /** A new name for the recalled table; its old name if absent. */
  readonly newAppName?: string;
}

export interface RecallAppResponse {
  readonly app: AppInfo;
}

export interface ListAppsRequest {
  /** Only tables with this status; every table (dropped ones flagged by status) if absent. */
  readonly status?: AppStatus;
}

export interface ListAppsResponse {
  readonly apps: readonly AppInfo[];
}

export interface SetAppEnvsRequest {
  readonly appName: string;
  readonly envs: Readonly<Record<string, string>>;
}

export interface DelAppEnvsRequest {
  readonly appName: string;
  /** Keys to delete; keys that are not set are ignored. */
  readonly keys?: readonly string[];
  /** Also delete every key starting with this prefix (Pegasus `clear_app_envs`). */
  readonly prefix?: string;
}

export interface AppEnvsResponse {
  readonly app: AppInfo;
  /** The keys the request removed (DEL_APP_ENVS) or set (SET_APP_ENVS). */
  readonly keys: readonly string[];
}

// ---- Cluster views ----

export const NodeStatus = {
  ALIVE: "ALIVE",
  DEAD: "DEAD",
} as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

export interface NodeInfo {
  readonly address: NodeAddress;
  readonly status: NodeStatus;
  /** Partitions of available tables in which the node is primary. */
  readonly primaryCount: number;
  /** Partitions of available tables in which the node is primary or secondary. */
  readonly replicaCount: number;
  /** When the meta server last heard a beacon from it; absent if not since the meta server started. */
  readonly lastBeaconMs?: number;
}

export interface ListNodesRequest {
  readonly status?: NodeStatus;
}

export interface ListNodesResponse {
  readonly nodes: readonly NodeInfo[];
}

export type ClusterInfoRequest = Record<string, never>;

export interface ClusterInfoResponse {
  readonly nodes: { readonly alive: number; readonly dead: number };
  readonly apps: { readonly available: number; readonly dropped: number };
  /**
   * Partitions of available tables: `healthy` = primary and a full replica set; `writableIll` =
   * a primary but fewer members than the replica count; `unwritable` = no primary.
   */
  readonly partitions: {
    readonly total: number;
    readonly healthy: number;
    readonly writableIll: number;
    readonly unwritable: number;
  };
  /** Metadata changes written to the meta store but not yet acknowledged, and queued table DDL. */
  readonly persistsInFlight: number;
  readonly ddlQueued: number;
}
