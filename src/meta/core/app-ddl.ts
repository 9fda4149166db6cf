/**
 * Table DDL: validation and the change each request makes. A plan is computed against the
 * committed state when the request reaches the head of the DDL queue; its writes are persisted and
 * only then `commit` applies it (two-phase, as Pegasus's server_state does). DDL is serialized, so
 * no other change to app records or `next_app_id` can slip between plan and commit.
 *
 * Rules: a table name is unique among available tables and dropped tables that can still be
 * recalled; app ids are allocated monotonically and never reused; a dropped table keeps its id and
 * partition configurations until `dropExpireAtMs`, and a recall restores both. A create carrying
 * the duplication follower envs is idempotent as follower-app.ts describes, and a follower table
 * being created gets a primary only per partition.
 */
import { checkLimit, TalariaError } from "../../common/errors.ts";
import type {
  AppEnvsResponse,
  AppInfo,
  CreateAppRequest,
  CreateAppResponse,
  DelAppEnvsRequest,
  DropAppRequest,
  DropAppResponse,
  RecallAppRequest,
  RecallAppResponse,
  SetAppEnvsRequest,
} from "../../protocol/index.ts";
import { AppStatus, FollowerAppStatus, FollowerEnv } from "../../protocol/index.ts";
import { orphanMarkWrites } from "./duplication/orphan-marks.ts";
import type { PersistKind } from "./events.ts";
import { followerCreateAgain, isFollowerCreate, isFollowerCreating } from "./follower-app.ts";
import {
  appPath,
  encodeApp,
  encodeNextAppId,
  encodePartition,
  encodeRemovedApp,
  type MetaStoreWrite,
  nextAppIdPath,
  partitionPath,
  type RemovedApp,
  removedAppPath,
} from "./layout.ts";
import type { MetaCoreOptions } from "./options.ts";
import { partitionCountMin, replicaCountMin } from "./options.ts";
import { placeNewApp } from "./placement.ts";
import { type ClusterState, nodeLoads } from "./state.ts";

/** Throws (as ERR_INVALID_PARAMETERS, or its own TalariaError) when an env pair is not valid. */
export type AppEnvValidator = (key: string, value: string) => void;

export type DdlPlan =
  | {
      readonly kind: PersistKind;
      readonly writes: readonly MetaStoreWrite[];
      /** Applies the change once persisted; returns the reply value. */
      readonly commit: (state: ClusterState) => unknown;
      /** Cleans up when the change is given up after `partsPersisted` of its parts landed. */
      readonly abandoned?: (state: ClusterState, partsPersisted: number) => void;
    }
  /** Nothing to change: reply at once. */
  | { readonly kind: "IMMEDIATE"; readonly value: unknown };

export interface DdlContext {
  readonly state: ClusterState;
  readonly options: MetaCoreOptions;
  readonly validateAppEnv: AppEnvValidator | undefined;
  readonly nowMs: number;
}

function invalid(message: string, details: Record<string, unknown> = {}): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", message, { details });
}

function appNotExist(what: string): TalariaError {
  return new TalariaError("ERR_APP_NOT_EXIST", `${what} does not exist`);
}

function checkIntegerInRange(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max)
    throw invalid(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`, {
      [name]: value,
      min,
      max,
    });
  return value;
}

function checkAppName(context: DdlContext, name: unknown): string {
  const max = context.options.appNameLengthMax;
  if (typeof name !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(name) || name.length > max)
    throw invalid(
      `table name ${JSON.stringify(name)} must be 1 to ${max} characters of letters, digits, "_", ".", ":" or "-"`,
    );
  return name;
}

/**
 * Dropped and inside its hold period, and not recorded as removed: a removal record is final even
 * if this meta server's clock is behind the one that wrote it.
 */
function isRecallable(state: ClusterState, app: AppInfo, nowMs: number): boolean {
  return (
    app.status === AppStatus.DROPPED &&
    nowMs < (app.dropExpireAtMs ?? 0) &&
    !state.removedApps.has(app.appId)
  );
}

/** ERR_APP_EXIST if an available or recallable table (other than `exceptAppId`) has the name. */
function checkNameFree(context: DdlContext, name: string, exceptAppId?: number): void {
  for (const app of context.state.apps.values()) {
    if (app.appId === exceptAppId || app.appName !== name) continue;
    if (app.status === AppStatus.AVAILABLE)
      throw new TalariaError("ERR_APP_EXIST", `table "${name}" already exists (app ${app.appId})`, {
        details: { appId: app.appId },
      });
    if (isRecallable(context.state, app, context.nowMs))
      throw new TalariaError(
        "ERR_APP_EXIST",
        `dropped table "${name}" (app ${app.appId}) can still be recalled; pick another name`,
        { details: { appId: app.appId } },
      );
  }
}

function checkEnvs(context: DdlContext, envs: unknown): Record<string, string> {
  if (typeof envs !== "object" || envs === null || Array.isArray(envs))
    throw invalid("envs must be an object of string keys and values");
  const max = context.options.appEnvLengthMax;
  const checked: Record<string, string> = {};
  for (const [key, value] of Object.entries(envs)) {
    if (typeof value !== "string") throw invalid(`app env "${key}" must have a string value`);
    if (key === "" || key.length > max || value.length > max)
      throw invalid(
        `app env "${key.slice(0, 64)}": key and value are limited to ${max} characters`,
      );
    try {
      context.validateAppEnv?.(key, value);
    } catch (error) {
      if (error instanceof TalariaError) throw error;
      throw new TalariaError("ERR_INVALID_PARAMETERS", `app env "${key}"="${value}" is invalid`, {
        cause: error,
      });
    }
    checked[key] = value;
  }
  return checked;
}

function checkEnvCount(context: DdlContext, envs: Record<string, string>): void {
  const count = Object.keys(envs).length;
  if (count > context.options.appEnvCountMax)
    throw invalid(
      `a table may carry at most ${context.options.appEnvCountMax} app envs, not ${count}`,
    );
}

function availableApp(context: DdlContext, name: unknown): AppInfo {
  const app = typeof name === "string" ? context.state.findAvailableApp(name) : undefined;
  if (app === undefined) throw appNotExist(`table ${JSON.stringify(name)}`);
  return app;
}

/** The app record write; ERR_LIMIT_EXCEEDED if the record (its envs, mostly) is too large. */
function appWrite(context: DdlContext, app: AppInfo): MetaStoreWrite {
  const data = encodeApp(app);
  const max = context.options.appRecordBytesMax;
  checkLimit("appRecordBytesMax", data.length, max, `app record of "${app.appName}" (bytes)`);
  return { op: "set", path: appPath(context.options.clusterRoot, app.appId), data };
}

export function planCreateApp(context: DdlContext, body: CreateAppRequest): DdlPlan {
  const { options, state, nowMs } = context;
  const appName = checkAppName(context, body.appName);
  const partitionCount = checkIntegerInRange(
    "partitionCount",
    body.partitionCount,
    partitionCountMin,
    options.partitionCountMax,
  );
  const replicaCount = checkIntegerInRange(
    "replicaCount",
    body.replicaCount,
    replicaCountMin,
    options.replicaCountMax,
  );
  const envs = checkEnvs(context, body.envs ?? {});
  checkEnvCount(context, envs);
  const existing = state.findAvailableApp(appName);
  if (existing !== undefined && isFollowerCreate(envs))
    return planFollowerCreateAgain(context, existing, envs);
  checkNameFree(context, appName);
  const nodes = state.servingNodes();
  if (nodes.length < replicaCount)
    throw invalid(
      `table "${appName}" needs ${replicaCount} live replica servers for its replicas, but only ${nodes.length} are alive`,
      { replicaCount, liveNodes: nodes.length },
    );
  const appId = state.nextAppId;
  const app: AppInfo = {
    appId,
    appName,
    partitionCount,
    replicaCount,
    status: AppStatus.AVAILABLE,
    envs,
    createdAtMs: nowMs,
  };
  // A follower's partitions start with their primary only: it copies the master's checkpoint,
  // then secondaries learn from it (follower-app.ts).
  const partitions = placeNewApp(appId, partitionCount, replicaCount, nodes, nodeLoads(state), {
    primaryOnly: isFollowerCreating(envs),
  });
  const root = options.clusterRoot;
  // Partition records first, the app record and next_app_id last: if the writes are split into
  // parts and only some land, no table exists (the leftovers are reported on restore).
  const writes: MetaStoreWrite[] = [
    ...partitions.map(
      (config): MetaStoreWrite => ({
        op: "set",
        path: partitionPath(root, appId, config.gpid.partitionIndex),
        data: encodePartition(config),
      }),
    ),
    appWrite(context, app),
    { op: "set", path: nextAppIdPath(root), data: encodeNextAppId(appId + 1) },
  ];
  return {
    kind: "CREATE_APP",
    writes,
    commit: (target): CreateAppResponse => {
      target.apps.set(appId, app);
      target.partitions.set(appId, [...partitions]);
      target.nextAppId = appId + 1;
      return { app, partitions };
    },
    // Records of this id may now be in the store: never hand the id out again.
    abandoned: (target, partsPersisted) => {
      if (partsPersisted > 0) target.nextAppId = Math.max(target.nextAppId, appId + 1);
    },
  };
}

/** A repeated create of a follower table (notes §2.5; follower-app.ts). */
function planFollowerCreateAgain(
  context: DdlContext,
  existing: AppInfo,
  envs: Readonly<Record<string, string>>,
): DdlPlan {
  const outcome = followerCreateAgain(existing, envs);
  const partitions = () => [...(context.state.partitions.get(existing.appId) ?? [])];
  if (outcome.kind === "same")
    return {
      kind: "IMMEDIATE",
      value: { app: existing, partitions: partitions() } satisfies CreateAppResponse,
    };
  const app: AppInfo = {
    ...existing,
    envs: { ...existing.envs, [FollowerEnv.FOLLOWER_APP_STATUS]: FollowerAppStatus.CREATED },
  };
  return {
    kind: "FOLLOWER_APP_CREATED",
    writes: [appWrite(context, app)],
    commit: (target): CreateAppResponse => {
      target.apps.set(app.appId, app);
      return { app, partitions: [...(target.partitions.get(app.appId) ?? [])] };
    },
  };
}

export function planDropApp(context: DdlContext, body: DropAppRequest): DdlPlan {
  const current = availableApp(context, body.appName);
  const reserveSeconds =
    body.reserveSeconds === undefined
      ? context.options.holdSecondsForDroppedApp
      : checkIntegerInRange("reserveSeconds", body.reserveSeconds, 0, 100 * 365 * 86_400);
  const app: AppInfo = {
    ...current,
    status: AppStatus.DROPPED,
    droppedAtMs: context.nowMs,
    dropExpireAtMs: context.nowMs + reserveSeconds * 1000,
  };
  return {
    kind: "DROP_APP",
    writes: [appWrite(context, app)],
    commit: (target): DropAppResponse => {
      target.apps.set(app.appId, app);
      return { app };
    },
  };
}

export function planRecallApp(context: DdlContext, body: RecallAppRequest): DdlPlan {
  const current = typeof body.appId === "number" ? context.state.apps.get(body.appId) : undefined;
  if (current === undefined) throw appNotExist(`app ${String(body.appId)}`);
  if (current.status === AppStatus.AVAILABLE)
    throw new TalariaError(
      "ERR_APP_EXIST",
      `app ${current.appId} ("${current.appName}") is not dropped`,
    );
  if (!isRecallable(context.state, current, context.nowMs))
    throw new TalariaError(
      "ERR_APP_NOT_EXIST",
      `app ${current.appId} ("${current.appName}") can no longer be recalled: its hold period ended`,
    );
  const appName = checkAppName(context, body.newAppName ?? current.appName);
  checkNameFree(context, appName, current.appId);
  const { droppedAtMs: _dropped, dropExpireAtMs: _expire, ...rest } = current;
  const app: AppInfo = { ...rest, appName, status: AppStatus.AVAILABLE };
  return {
    kind: "RECALL_APP",
    writes: [appWrite(context, app)],
    commit: (target): RecallAppResponse => {
      target.apps.set(app.appId, app);
      return { app };
    },
  };
}

export function planSetAppEnvs(context: DdlContext, body: SetAppEnvsRequest): DdlPlan {
  const current = availableApp(context, body.appName);
  const envs = checkEnvs(context, body.envs);
  const keys = Object.keys(envs).sort();
  if (keys.length === 0) throw invalid("SET_APP_ENVS needs at least one env");
  const merged = { ...current.envs, ...envs };
  checkEnvCount(context, merged);
  const app: AppInfo = { ...current, envs: merged };
  return {
    kind: "SET_APP_ENVS",
    writes: [appWrite(context, app)],
    commit: (target): AppEnvsResponse => {
      target.apps.set(app.appId, app);
      return { app, keys };
    },
  };
}

export function planDelAppEnvs(context: DdlContext, body: DelAppEnvsRequest): DdlPlan {
  const current = availableApp(context, body.appName);
  const keys = body.keys ?? [];
  const prefix = body.prefix;
  if (!Array.isArray(keys) || keys.some((key) => typeof key !== "string"))
    throw invalid("keys must be a list of strings");
  if (prefix !== undefined && typeof prefix !== "string") throw invalid("prefix must be a string");
  if (keys.length === 0 && prefix === undefined)
    throw invalid("DEL_APP_ENVS needs keys or a prefix");
  const deleted = Object.keys(current.envs)
    .filter((key) => keys.includes(key) || (prefix !== undefined && key.startsWith(prefix)))
    .sort();
  if (deleted.length === 0)
    return { kind: "IMMEDIATE", value: { app: current, keys: [] } satisfies AppEnvsResponse };
  const envs = Object.fromEntries(
    Object.entries(current.envs).filter(([key]) => !deleted.includes(key)),
  );
  const app: AppInfo = { ...current, envs };
  return {
    kind: "DEL_APP_ENVS",
    writes: [appWrite(context, app)],
    commit: (target): AppEnvsResponse => {
      target.apps.set(app.appId, app);
      return { app, keys: deleted };
    },
  };
}

/**
 * Removes a dropped table whose hold period is over, in two changes: first its `removed_apps/`
 * record (from then on replica servers may delete its replicas, and it can never be recalled), then
 * its app record and everything under it. Undefined when the table is no longer an expired
 * dropped table (recalled in the meantime). After the first (`RECORD_REMOVED_APP`) the removal is
 * queued again for the second, which also records the re-sync marks its duplications leave.
 */
export function planRemoveExpiredApp(context: DdlContext, appId: number): DdlPlan | undefined {
  const app = context.state.apps.get(appId);
  if (app === undefined || app.status !== AppStatus.DROPPED) return undefined;
  if (context.nowMs < (app.dropExpireAtMs ?? 0) && !context.state.removedApps.has(appId))
    return undefined;
  const root = context.options.clusterRoot;
  if (!context.state.removedApps.has(appId)) {
    const removed: RemovedApp = { appId, appName: app.appName, removedAtMs: context.nowMs };
    return {
      kind: "RECORD_REMOVED_APP",
      writes: [{ op: "set", path: removedAppPath(root, appId), data: encodeRemovedApp(removed) }],
      commit: (target) => {
        target.removedApps.set(appId, removed);
        return { appId };
      },
    };
  }
  // The records of the re-sync marks its duplications may have left on remote tables first
  // (duplication/orphan-marks.ts): the table's deletion takes the duplications' records.
  const marks = orphanMarkWrites(
    root,
    context.state.duplications.ofApp(appId),
    context.options.duplication,
  );
  return {
    kind: "REMOVE_EXPIRED_APP",
    writes: [...marks, { op: "deleteTree", path: appPath(root, appId) }],
    commit: (target) => {
      target.apps.delete(appId);
      target.partitions.delete(appId);
      return { appId };
    },
  };
}
