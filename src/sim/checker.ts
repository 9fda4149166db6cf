/**
 * The end-of-run checks, after healing and a quiet period (online checks live in History):
 *
 *  1. every acknowledged write is in the final primary's storage: a unique key holds its value;
 *     an overwritten key holds the value of a write at a decree ≥ the largest acknowledged one
 *     (later unacknowledged writes may win), and acknowledged writes are ordered as real time
 *     orders them (acked before another was first sent ⇒ smaller decree);
 *  2. every partition has a primary and its full replica count, and all members agree: same
 *     committed and applied decree, identical storage contents.
 */

import type { Gpid } from "../protocol/ids.ts";
import { gpidKey } from "../protocol/ids.ts";
import type { PartitionConfiguration } from "../protocol/partition-config.ts";
import { ReplicaStatus } from "../protocol/partition-config.ts";
import type { ReplicaCoreSnapshot } from "../replication/index.ts";
import type { History, WriteRecord } from "./history.ts";
import type { StoredValue } from "./sim-disk.ts";

/** What the checkers read of a replica server (SimReplicaServer, or a fake in tests). */
export interface CheckedServer {
  replica(gpid: Gpid):
    | {
        readonly core: { snapshot(): ReplicaCoreSnapshot };
        readonly disk: {
          get(key: string): StoredValue | undefined;
          contents(): ReadonlyMap<string, StoredValue>;
        };
      }
    | undefined;
}

export function checkConvergence(
  configs: readonly PartitionConfiguration[],
  servers: ReadonlyMap<string, CheckedServer>,
): string | undefined {
  for (const config of configs) {
    const key = gpidKey(config.gpid);
    if (config.primary === undefined) return `${key} has no primary at the end`;
    const members = [config.primary, ...config.secondaries];
    if (members.length < config.maxReplicaCount) {
      return `${key} has ${members.length} of ${config.maxReplicaCount} replicas at the end (ballot ${config.ballot})`;
    }
    const primary = servers.get(config.primary)?.replica(config.gpid);
    if (primary === undefined) return `${key}: primary ${config.primary} does not host it`;
    const expected = primary.core.snapshot();
    if (expected.status !== ReplicaStatus.PRIMARY || !expected.primaryActive) {
      return `${key}: ${config.primary} is ${expected.status} (active ${expected.primaryActive}), not the serving primary`;
    }
    if (
      expected.lastAppliedDecree !== expected.lastCommittedDecree ||
      expected.lastCommittedDecree !== expected.lastPreparedDecree
    ) {
      return `${key}: primary not settled: ${JSON.stringify(expected)}`;
    }
    for (const secondary of config.secondaries) {
      const replica = servers.get(secondary)?.replica(config.gpid);
      if (replica === undefined) return `${key}: secondary ${secondary} does not host it`;
      const snapshot = replica.core.snapshot();
      if (snapshot.status !== ReplicaStatus.SECONDARY)
        return `${key}: ${secondary} is ${snapshot.status}`;
      if (
        snapshot.lastCommittedDecree !== expected.lastCommittedDecree ||
        snapshot.lastAppliedDecree !== expected.lastAppliedDecree
      ) {
        return `${key}: ${secondary} at committed ${snapshot.lastCommittedDecree} applied ${snapshot.lastAppliedDecree}, primary at ${expected.lastCommittedDecree}`;
      }
      const difference = diff(primary.disk.contents(), replica.disk.contents());
      if (difference !== undefined)
        return `${key}: ${secondary} differs from the primary: ${difference}`;
    }
  }
  return undefined;
}

export function checkAcknowledgedWrites(
  history: Pick<History, "writes">,
  configs: readonly PartitionConfiguration[],
  servers: ReadonlyMap<string, CheckedServer>,
): string | undefined {
  const byKey = new Map<string, WriteRecord[]>();
  for (const write of history.writes) {
    if (write.decree === undefined) continue;
    const list = byKey.get(write.key) ?? [];
    list.push(write);
    byKey.set(write.key, list);
  }
  for (const [key, acked] of byKey) {
    const first = acked[0] as WriteRecord;
    const config = configs.find((c) => gpidKey(c.gpid) === gpidKey(first.gpid));
    const primary =
      config?.primary === undefined ? undefined : servers.get(config.primary)?.replica(first.gpid);
    if (primary === undefined) return `no primary to read ${key} from`;
    const stored = primary.disk.get(key);
    const last = acked.reduce((a, b) => ((b.decree ?? 0) > (a.decree ?? 0) ? b : a));
    if (stored === undefined)
      return `acknowledged write lost: ${key}=${last.value} (decree ${last.decree})`;
    if (stored.decree < (last.decree ?? 0)) {
      return `acknowledged write lost: ${key} holds decree ${stored.decree}, acknowledged ${last.value} at ${last.decree}`;
    }
    if (stored.decree === last.decree && stored.value !== last.value) {
      return `${key} holds ${stored.value} at decree ${stored.decree}, acknowledged ${last.value}`;
    }
    if (key.startsWith("u/") && stored.value !== first.value)
      return `${key} holds ${stored.value}, not ${first.value}`;
    const order = checkRealTimeOrder(key, acked);
    if (order !== undefined) return order;
  }
  return undefined;
}

function checkRealTimeOrder(key: string, acked: readonly WriteRecord[]): string | undefined {
  const sorted = [...acked].sort((a, b) => (a.ackedAtMs ?? 0) - (b.ackedAtMs ?? 0));
  for (const [i, earlier] of sorted.entries()) {
    for (let j = i + 1; j < sorted.length; j++) {
      const later = sorted[j] as WriteRecord;
      if (
        (earlier.ackedAtMs ?? 0) < later.firstSentAtMs &&
        (earlier.decree ?? 0) >= (later.decree ?? 0)
      ) {
        return `${key}: write ${earlier.value} acknowledged at decree ${earlier.decree} before ${later.value} was sent, which got decree ${later.decree}`;
      }
    }
  }
  return undefined;
}

function diff(
  a: ReadonlyMap<string, StoredValue>,
  b: ReadonlyMap<string, StoredValue>,
): string | undefined {
  if (a.size !== b.size) return `${a.size} keys vs ${b.size}`;
  for (const [key, value] of a) {
    const other = b.get(key);
    if (other === undefined || other.value !== value.value || other.decree !== value.decree) {
      return `${key}: ${JSON.stringify(value)} vs ${JSON.stringify(other)}`;
    }
  }
  return undefined;
}
