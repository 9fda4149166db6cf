/**
 * Schema of the process sections: where the meta server and the replica server listen and keep
 * their data, and the ZooKeeper ensemble. Part of the schema that schema.ts assembles.
 */
import type { SectionSpec } from "./schema-types.ts";
import { formatHostPort } from "./value-types.ts";

const SECOND_MS = 1000;
const DAY_MS = 86_400_000;
const DAY_S = 86_400;

export const serverSections = {
  meta_server: {
    doc: "The meta server: where it listens, where metadata lives, and its periodic work.",
    keys: {
      host: {
        type: "host",
        default: "127.0.0.1",
        doc: "Address the meta server binds and announces.",
        usedBy: ["meta"],
      },
      port: {
        type: "int",
        min: 1,
        max: 65_535,
        default: "34601",
        doc: "RPC port of the meta server.",
        usedBy: ["meta"],
        pegasus: "Pegasus sets it in `[apps.meta] ports`; same default",
      },
      http_port: {
        type: "int",
        min: 0,
        max: 65_535,
        default: "34701",
        doc: "HTTP port (status, metrics, duplication queries); 0 disables HTTP.",
        usedBy: ["meta"],
        pegasus: "Pegasus serves HTTP on the RPC port",
      },
      server_list: {
        type: "host-port-list",
        min: 1,
        max: 16,
        derived: {
          doc: "`<host>:<port>` of this section",
          from: (get) =>
            formatHostPort({
              host: get("meta_server", "host"),
              port: Number(get("meta_server", "port")),
            }),
        },
        doc: "Every meta server of this cluster. Replica servers and clients find the leader through it; with the embedded store it has exactly one entry.",
        usedBy: ["meta", "replica", "client"],
        pegasus: "same name",
      },
      cluster_root: {
        type: "node-path",
        derived: {
          doc: "`/talaria/<cluster_name>`",
          from: (get) => `/talaria/${get("replication", "cluster_name")}`,
        },
        doc: "Root path of this cluster's metadata in the meta store (`<cluster_root>/apps/<app_id>`, …).",
        usedBy: ["meta"],
        pegasus: "same name (Pegasus default `/`)",
      },
      meta_state_service_type: {
        type: "enum",
        values: ["embedded", "zookeeper"],
        default: "embedded",
        doc: "Where metadata is stored: `embedded` (a crash-safe local lmdb file under `data_dir`; one meta server) or `zookeeper` (several meta servers, leader elected through ZooKeeper; needs `[zookeeper] hosts_list`).",
        usedBy: ["meta"],
        pegasus:
          "Pegasus names classes (`meta_state_service_zookeeper`, `meta_state_service_simple`)",
      },
      data_dir: {
        type: "path",
        default: "./data/meta",
        doc: "Directory of the embedded meta store (and the meta server's local files).",
        usedBy: ["meta"],
      },
      hold_seconds_for_dropped_app: {
        type: "duration-s",
        min: 0,
        max: 365 * DAY_S,
        default: "604800",
        doc: "How long a dropped table is kept (recallable) before its data is deleted.",
        usedBy: ["meta"],
        pegasus: "same",
      },
      balance_interval_ms: {
        type: "duration-ms",
        min: 100,
        max: DAY_MS,
        default: "10000",
        doc: "Period of the load balancer's check.",
        usedBy: ["meta"],
      },
      replica_assign_delay_ms_for_dropouts: {
        type: "duration-ms",
        min: 0,
        max: DAY_MS,
        default: "300000",
        doc: "How long the meta server waits for a dropped-out replica server to come back before it assigns the replica elsewhere; 0 reassigns at once.",
        usedBy: ["meta"],
        pegasus: "same",
      },
    },
  },
  zookeeper: {
    doc: "The ZooKeeper ensemble, used when `[meta_server] meta_state_service_type = zookeeper`.",
    keys: {
      hosts_list: {
        type: "host-port-list",
        min: 0,
        max: 32,
        default: "",
        doc: "ZooKeeper servers. Required when the meta state service is `zookeeper`.",
        usedBy: ["meta"],
        pegasus: "same name",
      },
      timeout_ms: {
        type: "duration-ms",
        min: 1000,
        max: 10 * 60 * SECOND_MS,
        default: "30000",
        doc: "ZooKeeper session timeout.",
        usedBy: ["meta"],
        pegasus: "same",
      },
    },
  },
  replica_server: {
    doc: "The replica server: where it listens and where replicas live.",
    keys: {
      host: {
        type: "host",
        default: "127.0.0.1",
        doc: "Address the replica server binds and announces to the meta server.",
        usedBy: ["replica"],
      },
      port: {
        type: "int",
        min: 1,
        max: 65_535,
        default: "34801",
        doc: "RPC port of the replica server.",
        usedBy: ["replica"],
        pegasus: "Pegasus sets it in `[apps.replica] ports`; same default",
      },
      http_port: {
        type: "int",
        min: 0,
        max: 65_535,
        default: "34901",
        doc: "HTTP port (status, metrics, duplication queries); 0 disables HTTP.",
        usedBy: ["replica"],
        pegasus: "Pegasus serves HTTP on the RPC port",
      },
      data_dir: {
        type: "path",
        default: "./data/replica",
        doc: "Directory holding one subdirectory per replica (storage environment and private log).",
        usedBy: ["replica"],
        pegasus: "Pegasus `[replication] data_dirs`",
      },
    },
  },
} as const satisfies Readonly<Record<string, SectionSpec>>;
