/**
 * The configuration schema, declared once as data: every section, key, type, default, bound and
 * doc line. The parser, the renderer, the Config type and docs/config.md are all derived from it.
 * Section and key names follow Apache Pegasus where Pegasus has the setting (ref §6.1). The
 * process sections live in schema-servers.ts and `[replication]` in schema-replication.ts.
 */

import { replicationSection } from "./schema-replication.ts";
import { serverSections } from "./schema-servers.ts";
import type { MapSectionSpec, SectionSpec } from "./schema-types.ts";

const DAY_MS = 86_400_000;
const DAY_S = 86_400;
const GiB = 1024 ** 3;

export const sections = {
  ...serverSections,
  replication: replicationSection,
  "pegasus.server": {
    doc: "The storage engine of each replica: TTL and tombstones, read limits, duplication lag.",
    keys: {
      tombstone_retention_seconds: {
        type: "duration-s",
        min: 1,
        max: 365 * DAY_S,
        default: "86400",
        doc: "How long deletes (and expired records) are kept as tombstones, so a late duplicated write cannot resurrect them (last-write-wins). Must cover the longest duplication delay. While a duplication of a table has fallen out of its log, that table's tombstones are kept whatever their age, until its re-sync has checkpointed.",
        usedBy: ["replica"],
      },
      ttl_sweep_interval_ms: {
        type: "duration-ms",
        min: 0,
        max: DAY_MS,
        default: "60000",
        doc: "Period of the background sweep that turns expired records into tombstones and collects old tombstones; 0 disables it.",
        usedBy: ["replica"],
      },
      ttl_sweep_budget: {
        type: "int",
        min: 1,
        max: 100_000,
        default: "10000",
        doc: "Records the sweep examines per `ttl_sweep_interval_ms`, resuming where it stopped. They are spread evenly over the interval in steps of at most 1,000 records, so a large budget does not stall writes.",
        usedBy: ["replica"],
      },
      rocksdb_multi_get_max_iteration_count: {
        type: "int",
        min: 1,
        max: 1_000_000,
        default: "3000",
        doc: "Most records one multiGet returns (the read limit `multiGetKvCountMax`); more sets `incomplete`.",
        usedBy: ["replica"],
        pegasus: "same",
      },
      read_bytes_max: {
        type: "bytes",
        min: 1024,
        max: GiB,
        default: "10M",
        doc: "Most bytes (keys and values) one multiGet, batchGet or scan batch returns (`readBytesMax`).",
        usedBy: ["replica"],
        pegasus: "like `rocksdb_multi_get_max_iteration_size`, but for scans too",
      },
      scan_batch_count_max: {
        type: "int",
        min: 1,
        max: 1_000_000,
        default: "10000",
        doc: "Most records one scan batch returns, whatever the client asks (`scanBatchCountMax`).",
        usedBy: ["replica"],
      },
      scan_iteration_count_max: {
        type: "int",
        min: 1,
        max: 10_000_000,
        default: "100000",
        doc: "Most records a scan batch or range multiGet examines, including expired and filtered-out ones, before it returns what it has (`scanIterationCountMax`).",
        usedBy: ["replica"],
      },
      multi_op_count_max: {
        type: "int",
        min: 1,
        max: 1_000_000,
        default: "1000",
        doc: "Most entries in one multiSet, multiDel, checkAndMutate, batchGet or DUPLICATE request (`multiOpCountMax`).",
        usedBy: ["replica"],
      },
      dup_lagging_write_threshold_ms: {
        type: "duration-ms",
        min: 1,
        max: DAY_MS,
        default: "10000",
        doc: "A duplicated write applied more than this long after it was written at its source counts in the lagging-writes metric.",
        usedBy: ["replica"],
        pegasus: "same",
      },
    },
  },
} as const satisfies Readonly<Record<string, SectionSpec>>;

export const mapSections = {
  "pegasus.clusters": {
    doc: "Meta servers of the other clusters this one talks to (duplication targets, copy sources). The sender of a duplication needs an entry for each remote.",
    keyDoc: "cluster name",
    value: {
      type: "host-port-list",
      min: 1,
      max: 16,
      doc: "that cluster's `[meta_server] server_list`",
    },
    usedBy: ["meta", "replica"],
    pegasus: "same",
  },
  "duplication-group": {
    doc: "The cluster id of every cluster taking part in duplication, this one included. Ids go into each write's timetag (7 bits), so they are 1..127 and unique; configure the same group on every cluster.",
    keyDoc: "cluster name",
    value: { type: "int", min: 1, max: 127, doc: "cluster id, 1..127, unique" },
    usedBy: ["meta", "replica"],
    pegasus: "same",
  },
  "duplication-proxy": {
    doc: "An HTTP CONNECT proxy per remote cluster: this cluster's servers reach that cluster's meta servers and replica servers for duplication through tunnels the proxy opens (`CONNECT host:port`), e.g. an egress proxy between datacenters. Clusters not listed are reached directly.",
    keyDoc: "remote cluster name",
    value: {
      type: "host-port-list",
      min: 1,
      max: 1,
      doc: "the proxy's `host:port`",
    },
    usedBy: ["meta", "replica"],
  },
} as const satisfies Readonly<Record<string, MapSectionSpec>>;

export type SectionName = keyof typeof sections;
export type MapSectionName = keyof typeof mapSections;

/** Every section name in the order files and docs list them. */
export const sectionOrder: readonly string[] = [
  ...Object.keys(sections),
  ...Object.keys(mapSections),
];
