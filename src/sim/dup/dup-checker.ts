/**
 * The multi-cluster simulation's end-of-run checks, after healing and quiescence:
 *
 *  1. placement: every record a partition stores belongs to it by the table's own partition
 *     count (a record in the wrong partition is invisible to hash-routed reads);
 *  2. acknowledged writes: for every key only one cluster writes, every cluster holds what that
 *     cluster's last acknowledged write of it left (the value, or nothing after a delete);
 *  3. convergence: all clusters hold identical full dumps — every stored record with its expiry,
 *     timetag (source timestamp, cluster id, delete bit) and value, tombstones included.
 */
import {
  decodeKey,
  decodeValue,
  encodeKey,
  isTombstone,
  partitionIndex,
  timetagClusterId,
  timetagIsDelete,
  timetagTimestampUs,
} from "../../codec/index.ts";
import type { SimPartition } from "./sim-partition.ts";

export interface CheckedCluster {
  readonly id: number;
  readonly partitions: readonly SimPartition[];
}

/** The last acknowledged write of a key only one cluster writes: a value, or undefined (deleted). */
export interface ExpectedValue {
  readonly clusterId: number;
  readonly hashKey: string;
  readonly sortKey: string;
  readonly value: string | undefined;
}

export function checkPlacement(clusters: readonly CheckedCluster[]): string | undefined {
  for (const cluster of clusters) {
    const count = cluster.partitions.length;
    for (const partition of cluster.partitions) {
      for (const [, record] of partition.store.entries()) {
        const { hashKey, sortKey } = decodeKey(record.key);
        const home = partitionIndex(hashKey, sortKey, count);
        if (home !== partition.index) {
          return `cluster ${cluster.id}: ${describeKey(record.key)} is stored in partition ${partition.index} of ${count}, but belongs to ${home}`;
        }
      }
    }
  }
  return undefined;
}

function visibleValue(
  cluster: CheckedCluster,
  hashKey: string,
  sortKey: string,
): string | undefined {
  const hk = Buffer.from(hashKey);
  const sk = Buffer.from(sortKey);
  const partition = cluster.partitions[partitionIndex(hk, sk, cluster.partitions.length)];
  const stored = partition?.store.get(encodeKey(hk, sk));
  if (stored === undefined) return undefined;
  const value = decodeValue(stored);
  return isTombstone(value) ? undefined : value.value.toString();
}

export function checkAcknowledgedWrites(
  clusters: readonly CheckedCluster[],
  expected: Iterable<ExpectedValue>,
): string | undefined {
  for (const write of expected) {
    for (const cluster of clusters) {
      const actual = visibleValue(cluster, write.hashKey, write.sortKey);
      if (actual !== write.value) {
        return `acknowledged write of ${write.hashKey}/${write.sortKey} by cluster ${write.clusterId} (${write.value ?? "deleted"}) is ${actual ?? "absent"} on cluster ${cluster.id}`;
      }
    }
  }
  return undefined;
}

/** Every stored record of a cluster: stored key hex → stored value hex. */
export function fullDump(cluster: CheckedCluster): Map<string, string> {
  const out = new Map<string, string>();
  for (const partition of cluster.partitions) {
    for (const [key, record] of partition.store.entries())
      out.set(key, record.value.toString("hex"));
  }
  return out;
}

export function checkIdentical(clusters: readonly CheckedCluster[]): string | undefined {
  const [first, ...rest] = clusters;
  if (first === undefined) return undefined;
  const reference = fullDump(first);
  for (const cluster of rest) {
    const dump = fullDump(cluster);
    for (const [key, value] of reference) {
      const other = dump.get(key);
      if (other !== value) {
        return `cluster ${first.id} and ${cluster.id} differ at ${describeKey(Buffer.from(key, "hex"))}: ${describeValue(value)} vs ${describeValue(other)}`;
      }
    }
    for (const [key, value] of dump) {
      if (!reference.has(key)) {
        return `cluster ${cluster.id} holds ${describeKey(Buffer.from(key, "hex"))} = ${describeValue(value)}, cluster ${first.id} nothing`;
      }
    }
  }
  return undefined;
}

function describeKey(key: Buffer): string {
  const { hashKey, sortKey } = decodeKey(key);
  return `${hashKey.toString()}/${sortKey.toString()}`;
}

function describeValue(hex: string | undefined): string {
  if (hex === undefined) return "absent";
  const value = decodeValue(Buffer.from(hex, "hex"));
  const tag = value.timetag;
  const what = timetagIsDelete(tag) ? "tombstone" : JSON.stringify(value.value.toString());
  return `${what} @(${timetagTimestampUs(tag)}, cluster ${timetagClusterId(tag)})`;
}
