/**
 * Answers of another cluster's meta servers (full duplication), validated before the meta core
 * sees them: a remote running another version, or something else at that address, must not make
 * the core misjudge a follower table. A malformed answer is ERR_INVALID_DATA (the task is retried).
 */
import { TalariaError } from "../../common/errors.ts";
import {
  type AppInfo,
  AppStatus,
  type PartitionConfiguration,
  type QueryConfigurationResponse,
} from "../../protocol/index.ts";
import * as v from "../../protocol/validate.ts";

/** Most partitions a follower table may list (the meta core's own bound is far lower). */
const PARTITIONS_MAX = 65_536;
const MEMBERS_MAX = 64;
const ENVS_MAX = 1000;

function app(value: unknown, field: string): AppInfo {
  const a = v.object(value, field);
  const envs = v.object(a.envs ?? {}, `${field}.envs`);
  const entries = Object.entries(envs);
  if (entries.length > ENVS_MAX)
    throw new v.TalariaErrorForField(`${field}.envs`, `at most ${ENVS_MAX} envs`, envs);
  return v.present<AppInfo>({
    appId: v.integer(a.appId, `${field}.appId`, 1),
    appName: v.string(a.appName, `${field}.appName`, 256),
    partitionCount: v.integer(a.partitionCount, `${field}.partitionCount`, 1),
    replicaCount: v.integer(a.replicaCount, `${field}.replicaCount`, 1),
    status: v.oneOf(a.status, `${field}.status`, Object.values(AppStatus)),
    envs: Object.fromEntries(
      entries.map(([key, val]) => [key, v.string(val, `${field}.envs.${key}`, 65_536)]),
    ),
    createdAtMs: v.integer(a.createdAtMs, `${field}.createdAtMs`, 0),
    droppedAtMs: v.optionalInteger(a.droppedAtMs, `${field}.droppedAtMs`, 0),
    dropExpireAtMs: v.optionalInteger(a.dropExpireAtMs, `${field}.dropExpireAtMs`, 0),
  });
}

function partition(value: unknown, field: string): PartitionConfiguration {
  const p = v.object(value, field);
  const copy =
    p.followerCopy === undefined || p.followerCopy === null
      ? undefined
      : v.object(p.followerCopy, `${field}.followerCopy`);
  return v.present<PartitionConfiguration>({
    gpid: v.gpid(p.gpid, `${field}.gpid`),
    ballot: v.integer(p.ballot, `${field}.ballot`, 0),
    primary:
      p.primary === undefined || p.primary === null
        ? undefined
        : v.nodeAddress(p.primary, `${field}.primary`),
    secondaries: v.array(p.secondaries, `${field}.secondaries`, MEMBERS_MAX, v.nodeAddress),
    maxReplicaCount: v.integer(p.maxReplicaCount, `${field}.maxReplicaCount`, 1),
    lastCommittedDecree: v.integer(p.lastCommittedDecree, `${field}.lastCommittedDecree`, 0),
    followerCopy:
      copy === undefined
        ? undefined
        : {
            copiedBytes: v.integer(copy.copiedBytes, `${field}.followerCopy.copiedBytes`, 0),
            totalBytes: v.integer(copy.totalBytes, `${field}.followerCopy.totalBytes`, 0),
          },
  });
}

/** A remote `meta.query_configuration` answer. */
export function decodeRemoteConfiguration(payload: unknown): QueryConfigurationResponse {
  try {
    const r = v.object(payload, "response");
    return {
      app: app(r.app, "app"),
      partitions: v.array(r.partitions, "partitions", PARTITIONS_MAX, partition),
    };
  } catch (error) {
    throw new TalariaError("ERR_INVALID_DATA", "the remote meta server's answer is malformed", {
      cause: error,
    });
  }
}
