/**
 * Helpers for the duplication tests of the meta core: a cluster "dc1" that knows remotes "dc2"
 * and "dc3", a table on it, and replica servers that send duplication syncs the way the replica
 * side will (primaries report per duplication; see docs/duplication.md).
 */
import assert from "node:assert/strict";
import {
  type DuplicationOptions,
  type DuplicationRemoteTask,
  MetaCore,
  type MetaCoreOptionsInput,
  type MetaResult,
} from "../../../src/meta/core/index.ts";
import { decodeRemoteConfiguration } from "../../../src/meta/service/index.ts";
import {
  type AddDuplicationRequest,
  type AddDuplicationResponse,
  type DuplicationConfirm,
  DuplicationMethod,
  type DuplicationSyncPartition,
  type DuplicationSyncResponse,
  MetaMethod,
  type QueryDuplicationResponse,
} from "../../../src/protocol/index.ts";
import { Driver, nodes } from "./harness.ts";

export const dupOptions: Partial<DuplicationOptions> = {
  clusterName: "dc1",
  remoteClusters: { dc2: ["10.0.2.1:34601", "10.0.2.2:34601"], dc3: ["10.0.3.1:34601"] },
  clusterIds: { dc1: 1, dc2: 2, dc3: 3 },
  progressMinUpdatePeriodMs: 5_000,
  addWaitMs: 30_000,
  metaServers: ["10.0.1.1:34601", "10.0.1.2:34601"],
};

export interface DupCluster {
  readonly driver: Driver;
  readonly nodes: string[];
  readonly appId: number;
}

/** Nodes stay alive without beacons for an hour unless a test asks for real failure detection. */
const patientDetector: MetaCoreOptionsInput = { fdLeaseMs: 3_599_000, fdGraceMs: 3_600_000 };

/**
 * Three live nodes and table "t" (app 1) with `partitionCount` partitions, and table "u" (app 2)
 * with 2, both with 3 replicas.
 */
export function dupCluster(
  partitionCount = 4,
  options: Partial<DuplicationOptions> = {},
  core: MetaCoreOptionsInput = {},
): DupCluster {
  const driver = Driver.create({
    ...patientDetector,
    ...core,
    duplication: { ...dupOptions, ...options },
  });
  const all = nodes(3);
  driver.beaconAll(all);
  const [first] = driver.createApp("t", partitionCount, 3);
  driver.createApp("u", 2, 3);
  assert.ok(first !== undefined);
  return { driver, nodes: all, appId: first.gpid.appId };
}

export function primaryOf(driver: Driver, appId: number, partitionIndex: number): string {
  const primary = driver.config(appId, partitionIndex).primary;
  assert.ok(primary !== undefined, `${appId}.${partitionIndex} has no primary`);
  return primary;
}

export function sync(
  driver: Driver,
  node: string,
  partitions: readonly DuplicationSyncPartition[] = [],
): MetaResult<DuplicationSyncResponse> {
  return driver.call(DuplicationMethod.SYNC, { node, partitions });
}

export function syncOk(
  driver: Driver,
  node: string,
  partitions: readonly DuplicationSyncPartition[] = [],
): DuplicationSyncResponse {
  const result = sync(driver, node, partitions);
  if (!result.ok) assert.fail(`sync failed: ${result.error.message}`);
  return result.value;
}

/**
 * Every partition's current primary reports `decree(pidx)` for `dupid` (with last committed
 * decree `committed(pidx)`), one sync per node, only for the partitions `which` selects.
 */
export function reportFromPrimaries(
  driver: Driver,
  appId: number,
  dupid: number,
  decree: (partitionIndex: number) => number,
  which: (partitionIndex: number) => boolean = () => true,
  committed: (partitionIndex: number) => number = (p) => decree(p) + 10,
): void {
  const byNode = new Map<string, DuplicationSyncPartition[]>();
  const { partitions } = driver.core.durableState();
  for (const config of partitions) {
    if (config.gpid.appId !== appId || !which(config.gpid.partitionIndex)) continue;
    const primary = primaryOf(driver, appId, config.gpid.partitionIndex);
    const list = byNode.get(primary) ?? [];
    list.push({
      gpid: config.gpid,
      ballot: config.ballot,
      lastCommittedDecree: committed(config.gpid.partitionIndex),
      confirms: [{ dupid, confirmedDecree: decree(config.gpid.partitionIndex) }],
    });
    byNode.set(primary, list);
  }
  for (const [node, list] of byNode) syncOk(driver, node, list);
}

/**
 * Every partition's current primary (of those `which` selects) reports the confirm `confirm(pidx)`
 * with last committed decree `committed(pidx)`, one sync per node.
 */
export function reportConfirms(
  driver: Driver,
  appId: number,
  confirm: (partitionIndex: number) => DuplicationConfirm | undefined,
  committed: (partitionIndex: number) => number,
): void {
  const byNode = new Map<string, DuplicationSyncPartition[]>();
  for (const config of driver.core.durableState().partitions) {
    if (config.gpid.appId !== appId) continue;
    const entry = confirm(config.gpid.partitionIndex);
    if (entry === undefined) continue;
    const primary = primaryOf(driver, appId, config.gpid.partitionIndex);
    const list = byNode.get(primary) ?? [];
    list.push({
      gpid: config.gpid,
      ballot: config.ballot,
      lastCommittedDecree: committed(config.gpid.partitionIndex),
      confirms: [entry],
    });
    byNode.set(primary, list);
  }
  for (const [node, list] of byNode) syncOk(driver, node, list);
}

/** A new meta leader restored from `driver`'s store (a patient failure detector), a second on. */
export function restart(driver: Driver, options: Partial<DuplicationOptions> = dupOptions): Driver {
  const next = new Driver(
    MetaCore.restore(driver.store.list(), { ...patientDetector, duplication: options }),
    driver.nowMs + 1_000,
  );
  for (const [path, value] of driver.store.records) next.store.records.set(path, value);
  return next;
}

/** A remote cluster "dc2" (its own meta core) with three live replica servers and no table. */
export function targetCluster(): Driver {
  const target = Driver.create(patientDetector);
  target.beaconAll(nodes(3));
  return target;
}

/**
 * Runs the remote tasks the source core lists now against `remote` (the target cluster's core,
 * or a function answering each task), feeding each outcome back; returns the tasks run.
 */
export function runRemoteTasks(
  source: Driver,
  remote: Driver | ((task: DuplicationRemoteTask) => MetaResult),
): DuplicationRemoteTask[] {
  const tasks = source.core.duplicationRemoteTasks();
  for (const task of tasks) {
    let result: MetaResult;
    if (typeof remote === "function") result = remote(task);
    else if (task.kind === "CREATE_FOLLOWER")
      result = remote.call(MetaMethod.CREATE_APP, task.request);
    else if (task.kind === "MARK_RESYNC")
      result = remote.call(MetaMethod.SET_APP_ENVS, task.request);
    else if (task.kind === "UNMARK_RESYNC")
      result = remote.call(MetaMethod.DEL_APP_ENVS, task.request);
    else {
      const answer = remote.call(MetaMethod.QUERY_CONFIGURATION, task.request);
      // Through the runtime's validation, as the meta service does.
      result = answer.ok ? { ok: true, value: decodeRemoteConfiguration(answer.value) } : answer;
    }
    source.handle(
      source.core.step({ type: "duplicationRemote", nowMs: source.nowMs, task, result }),
    );
  }
  return tasks;
}

/** Sends an add; returns its request id (the reply may come later). */
export function sendAdd(driver: Driver, body: Partial<AddDuplicationRequest> = {}): number {
  return driver.send({
    method: DuplicationMethod.ADD,
    body: { appName: "t", remoteClusterName: "dc2", ...body },
  });
}

export function replyTo(driver: Driver, requestId: number): MetaResult | undefined {
  return driver.replies.get(requestId);
}

export function okReply<T>(driver: Driver, requestId: number): T {
  const result = driver.replies.get(requestId);
  assert.ok(result !== undefined, `no reply yet to request ${requestId}`);
  if (!result.ok) assert.fail(`request failed: ${result.error.message}`);
  return result.value as T;
}

/** The dupid of the duplication being added by `requestId` (visible once DS_INIT is persisted). */
export function dupidOf(driver: Driver, remote = "dc2", appName = "t"): number {
  const dup = query(driver, appName).duplications.find((d) => d.remoteClusterName === remote);
  assert.ok(dup !== undefined, `no duplication of ${appName} to ${remote}`);
  return dup.dupid;
}

export function query(driver: Driver, appName = "t"): QueryDuplicationResponse {
  return driver.ok(DuplicationMethod.QUERY, { appName });
}

/** Adds a duplication and reports start decrees `start(pidx)` from every primary: DS_LOG. */
export function addStarted(
  driver: Driver,
  appId: number,
  start: (partitionIndex: number) => number = () => 0,
  body: Partial<AddDuplicationRequest> = {},
): AddDuplicationResponse {
  const requestId = sendAdd(driver, body);
  const dupid = dupidOf(driver, body.remoteClusterName ?? "dc2", body.appName ?? "t");
  reportFromPrimaries(driver, appId, dupid, start);
  return okReply<AddDuplicationResponse>(driver, requestId);
}

export { Driver, MetaMethod, nodes };
