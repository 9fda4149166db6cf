/**
 * Rules that involve more than one key, declared as data so docs/config.md lists the same rules
 * the loader enforces. Each names the key a user should change (`section`, `key`) and runs on a
 * Config whose keys have each parsed and validated on their own.
 */
import type { Config } from "./config-type.ts";
import { formatHostPort } from "./value-types.ts";

export interface CrossProblem {
  /** Override the rule's section and key when a problem is about another one. */
  readonly section?: string;
  readonly key?: string;
  readonly message: string;
}

export interface CrossCheck {
  readonly section: string;
  readonly key: string;
  /** The rule as docs/config.md states it. */
  readonly doc: string;
  check(config: Config): readonly CrossProblem[];
}

const when = (bad: boolean, message: string): readonly CrossProblem[] => (bad ? [{ message }] : []);

export const crossChecks: readonly CrossCheck[] = [
  {
    section: "replication",
    key: "fd_lease_seconds",
    doc: "`fd_beacon_interval_seconds` < `fd_lease_seconds` < `fd_grace_seconds`: beacons renew the lease before it runs out, and a replica server stops serving (lease) before the meta server gives its replicas away (grace).",
    check: ({ replication: r }) => [
      ...when(
        r.fdBeaconIntervalSeconds >= r.fdLeaseSeconds,
        `= ${r.fdLeaseSeconds} must be greater than fd_beacon_interval_seconds (${r.fdBeaconIntervalSeconds}), or the lease expires between beacons`,
      ),
      ...when(
        r.fdLeaseSeconds >= r.fdGraceSeconds,
        `= ${r.fdLeaseSeconds} must be less than fd_grace_seconds (${r.fdGraceSeconds}), so a replica server stops serving before the meta server declares it dead`,
      ),
    ],
  },
  {
    section: "zookeeper",
    key: "hosts_list",
    doc: "`[meta_server] meta_state_service_type = zookeeper` needs a non-empty `[zookeeper] hosts_list`.",
    check: ({ metaServer, zookeeper }) =>
      when(
        metaServer.metaStateServiceType === "zookeeper" && zookeeper.hostsList.length === 0,
        "is required when [meta_server] meta_state_service_type = zookeeper",
      ),
  },
  {
    section: "meta_server",
    key: "server_list",
    doc: "With the `embedded` meta state service, `[meta_server] server_list` has exactly one entry (the store is a local file; use `zookeeper` for several meta servers).",
    check: ({ metaServer }) =>
      when(
        metaServer.metaStateServiceType === "embedded" && metaServer.serverList.length !== 1,
        `lists ${metaServer.serverList.length} meta servers, but the embedded meta store serves one; use meta_state_service_type = zookeeper`,
      ),
  },
  {
    section: "duplication-group",
    key: "<cluster_name>",
    doc: "When `[replication] duplication_enabled = true`, `[replication] cluster_name` is a key of `[duplication-group]` (its id goes into every local write's timetag).",
    check: ({ replication, duplicationGroup }) =>
      replication.duplicationEnabled && !Object.hasOwn(duplicationGroup, replication.clusterName)
        ? [
            {
              key: replication.clusterName,
              message: `is missing: [replication] cluster_name = ${replication.clusterName} and duplication_enabled = true need "${replication.clusterName} = <id 1..127>" here (or set duplication_enabled = false)`,
            },
          ]
        : [],
  },
  {
    section: "duplication-group",
    key: "<cluster>",
    doc: "Cluster ids in `[duplication-group]` are unique.",
    check: ({ duplicationGroup }) => {
      const owner = new Map<number, string>();
      const problems: CrossProblem[] = [];
      for (const [name, id] of Object.entries(duplicationGroup)) {
        const first = owner.get(id);
        if (first === undefined) owner.set(id, name);
        else problems.push({ key: name, message: `has id ${id}, already taken by ${first}` });
      }
      return problems;
    },
  },
  {
    section: "duplication-proxy",
    key: "<cluster>",
    doc: "Each key of `[duplication-proxy]` is a remote cluster: a key of `[pegasus.clusters]` other than `[replication] cluster_name`.",
    check: ({ replication, pegasusClusters, duplicationProxy }) =>
      Object.keys(duplicationProxy).flatMap((name) =>
        name === replication.clusterName
          ? [{ key: name, message: "is this cluster: a proxy is for traffic to another cluster" }]
          : Object.hasOwn(pegasusClusters, name)
            ? []
            : [
                {
                  key: name,
                  message: `is not a cluster of [pegasus.clusters] (known: ${Object.keys(pegasusClusters).join(", ") || "none"})`,
                },
              ],
      ),
  },
  {
    section: "replication",
    key: "dup_max_retained_log_seconds",
    doc: "`[replication] dup_max_retained_log_seconds` + `dup_max_clock_skew_seconds` ≤ `[pegasus.server] tombstone_retention_seconds`: a duplication never ships a write older than the tombstones it must lose against, even to a remote whose clock runs ahead by the skew allowed.",
    check: ({ replication, pegasusServer }) =>
      when(
        replication.dupMaxRetainedLogSeconds + replication.dupMaxClockSkewSeconds >
          pegasusServer.tombstoneRetentionSeconds,
        `= ${replication.dupMaxRetainedLogSeconds} plus dup_max_clock_skew_seconds (${replication.dupMaxClockSkewSeconds}) must not exceed [pegasus.server] tombstone_retention_seconds (${pegasusServer.tombstoneRetentionSeconds}), or a late duplicated write could resurrect a deleted key on a remote whose clock runs ahead`,
      ),
  },
  {
    section: "replication",
    key: "dup_stalled_after_ms",
    doc: "`dup_stalled_after_ms` > `duplication_sync_period_second` × 1000: progress arrives once per sync period, so a shorter stall window would flag healthy duplications.",
    check: ({ replication: r }) =>
      when(
        r.dupStalledAfterMs <= r.duplicationSyncPeriodSecond * 1000,
        `= ${r.dupStalledAfterMs} must be longer than duplication_sync_period_second (${r.duplicationSyncPeriodSecond} s = ${r.duplicationSyncPeriodSecond * 1000} ms)`,
      ),
  },
  {
    section: "replica_server",
    key: "port",
    doc: "No two listening endpoints in one file (meta and replica RPC and HTTP ports on the same host) share a port.",
    check: ({ metaServer, replicaServer }) => {
      const meta = { section: "meta_server", host: metaServer.host };
      const replica = { section: "replica_server", host: replicaServer.host };
      const endpoints = [
        { ...meta, key: "port", port: metaServer.port },
        { ...meta, key: "http_port", port: metaServer.httpPort },
        { ...replica, key: "port", port: replicaServer.port },
        { ...replica, key: "http_port", port: replicaServer.httpPort },
      ].filter((endpoint) => endpoint.port !== 0);
      const problems: CrossProblem[] = [];
      for (const [i, a] of endpoints.entries()) {
        for (const b of endpoints.slice(i + 1)) {
          if (a.host === b.host && a.port === b.port) {
            problems.push({
              section: b.section,
              key: b.key,
              message: `${formatHostPort(b)} is also [${a.section}] ${a.key}`,
            });
          }
        }
      }
      return problems;
    },
  },
];
