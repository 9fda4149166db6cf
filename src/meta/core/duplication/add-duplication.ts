/**
 * Validation of `add_duplication` (Pegasus `meta_duplication_service::add_duplication`, notes
 * §2.3.1) and the dupid rule. Pure: the caller persists the duplication it returns.
 *
 * Codes: ERR_OPERATION_DISABLED (duplication off; full duplication without this cluster's meta
 * server list),
 * ERR_INVALID_PARAMETERS (self-duplication, a remote not in `[duplication-group]` or
 * `[pegasus.clusters]`, a bad remote name or replica count, another table already duplicating to
 * the same remote table), ERR_APP_NOT_EXIST, ERR_DUP_EXIST (this table already duplicates to
 * that cluster; `details` name the existing duplication), ERR_BUSY (an add for the same pair is
 * being persisted).
 */
import { TalariaError } from "../../../common/errors.ts";
import type { AddDuplicationRequest, AppInfo } from "../../../protocol/index.ts";
import { DuplicationFailMode, DuplicationStatus, FullSyncMode } from "../../../protocol/index.ts";
import type { ClusterState } from "../state.ts";
import { Duplication } from "./duplication.ts";
import { dupidMax } from "./layout.ts";
import type { DuplicationOptions } from "./options.ts";
import type { DuplicationRegistry } from "./registry.ts";

export interface AddContext {
  readonly state: ClusterState;
  readonly registry: DuplicationRegistry;
  /** Duplications whose add is being persisted (not committed yet). */
  readonly creating: readonly Duplication[];
  readonly options: DuplicationOptions;
  readonly appNameLengthMax: number;
  readonly replicaCountMax: number;
  readonly nowMs: number;
  /** The largest dupid handed out by this core (or restored). */
  readonly lastDupid: number;
}

export interface AddPlan {
  readonly dup: Duplication;
  /** How long the reply may wait for the start decrees. */
  readonly waitMs: number;
}

function invalid(message: string, details: Record<string, unknown> = {}): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", message, { details });
}

export function checkDuplicationEnabled(options: DuplicationOptions): void {
  if (!options.enabled)
    throw new TalariaError(
      "ERR_OPERATION_DISABLED",
      "duplication is disabled on this cluster ([replication] duplication_enabled = false)",
      { details: { reason: "duplication_disabled" } },
    );
}

export function availableApp(state: ClusterState, appName: unknown): AppInfo {
  const app = typeof appName === "string" ? state.findAvailableApp(appName) : undefined;
  if (app === undefined)
    throw new TalariaError("ERR_APP_NOT_EXIST", `table ${JSON.stringify(appName)} does not exist`);
  return app;
}

function checkRemote(options: DuplicationOptions, remote: unknown): string {
  if (typeof remote !== "string" || remote === "")
    throw invalid("remoteClusterName must name a cluster of [pegasus.clusters]");
  if (remote === options.clusterName)
    throw invalid(`cannot duplicate to this cluster itself (${remote})`, { remote });
  if (!options.ignoreOtherClusterIds && options.clusterIds[remote] === undefined)
    throw invalid(
      `cluster ${remote} is not in [duplication-group]; give it a cluster id there (on both clusters)`,
      { remote },
    );
  if (options.remoteClusters[remote] === undefined)
    throw invalid(
      `cluster ${remote} is not in [pegasus.clusters]; list its meta servers there (${Object.keys(options.remoteClusters).join(", ") || "none listed"})`,
      { remote },
    );
  return remote;
}

function checkRemoteAppName(context: AddContext, name: string): string {
  const max = context.appNameLengthMax;
  if (!/^[A-Za-z0-9_.:-]+$/.test(name) || name.length > max)
    throw invalid(
      `remote table name ${JSON.stringify(name)} must be 1 to ${max} characters of letters, digits, "_", ".", ":" or "-"`,
    );
  return name;
}

function checkRemoteReplicaCount(context: AddContext, count: number, app: AppInfo): number {
  const max = context.replicaCountMax;
  if (!Number.isSafeInteger(count) || count < 0 || count > max)
    throw invalid(`remoteReplicaCount must be 0 (the source's) to ${max}, got ${String(count)}`);
  return count === 0 ? app.replicaCount : count;
}

/** Pegasus: unix seconds at creation, bumped to stay unique. Talaria keeps it above every one seen. */
export function nextDupid(nowMs: number, lastDupid: number): number {
  const dupid = Math.max(Math.floor(nowMs / 1000), lastDupid + 1);
  if (dupid > dupidMax)
    throw new TalariaError("ERR_LIMIT_EXCEEDED", `no dupid left below ${dupidMax}`, {
      details: { limit: "dupidMax", value: dupid, max: dupidMax },
    });
  return dupid;
}

export function planAddDuplication(context: AddContext, body: AddDuplicationRequest): AddPlan {
  const { options } = context;
  checkDuplicationEnabled(options);
  const full = body.isDuplicatingCheckpoint === true;
  if (full && options.metaServers.length === 0)
    throw new TalariaError(
      "ERR_OPERATION_DISABLED",
      "full duplication needs this cluster's meta server list (the follower table is told where its master is)",
      { details: { reason: "meta_servers_unknown" } },
    );
  const remote = checkRemote(options, body.remoteClusterName);
  const app = availableApp(context.state, body.appName);
  const remoteAppName = checkRemoteAppName(context, body.remoteAppName ?? app.appName);
  const remoteReplicaCount = checkRemoteReplicaCount(context, body.remoteReplicaCount ?? 0, app);
  const waitMs = body.waitMs ?? options.addWaitMs;
  if (!Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > options.addWaitMsMax)
    throw invalid(`waitMs must be 0 to ${options.addWaitMsMax}, got ${String(waitMs)}`);

  const existing = context.registry
    .ofApp(app.appId)
    .find((dup) => dup.remoteClusterName === remote);
  if (existing !== undefined)
    throw new TalariaError(
      "ERR_DUP_EXIST",
      `table ${app.appName} already duplicates to ${remote} (dupid ${existing.dupid}, ${existing.status})`,
      { details: { appId: app.appId, dupid: existing.dupid, status: existing.status } },
    );
  const everyDup = [...context.registry.all(), ...context.creating];
  if (context.creating.some((dup) => dup.appId === app.appId && dup.remoteClusterName === remote))
    throw new TalariaError(
      "ERR_BUSY",
      `a duplication of ${app.appName} to ${remote} is being created`,
    );
  const clash = everyDup.find(
    (dup) =>
      dup.appId !== app.appId &&
      dup.remoteClusterName === remote &&
      dup.remoteAppName === remoteAppName,
  );
  if (clash !== undefined)
    throw invalid(
      `table ${remoteAppName} on ${remote} already receives a duplication from app ${clash.appId} (dupid ${clash.dupid})`,
      { appId: clash.appId, dupid: clash.dupid },
    );

  const dup = new Duplication({
    appId: app.appId,
    dupid: nextDupid(context.nowMs, context.lastDupid),
    partitionCount: app.partitionCount,
    remoteClusterName: remote,
    remoteAppName,
    remoteReplicaCount,
    createdAtMs: context.nowMs,
    freezed: body.freezed === true,
    // Full duplication persists DS_PREPARE at once (Pegasus: DS_INIT → DS_PREPARE in memory).
    status: full ? DuplicationStatus.DS_PREPARE : DuplicationStatus.DS_INIT,
    failMode: DuplicationFailMode.FAIL_SLOW,
    fullSync: full ? FullSyncMode.CREATE : undefined,
  });
  return { dup, waitMs };
}
