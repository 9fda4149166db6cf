/**
 * Meta RPC payloads from the network, validated into the typed requests the meta core takes. A
 * peer's malformed payload is ERR_INVALID_PARAMETERS naming the field.
 */
import { TalariaError } from "../../common/errors.ts";
import {
  AppStatus,
  type ConfigurationChange,
  type FollowerCopyProgress,
  MetaMethod,
  NodeStatus,
  type ReplicaReport,
  ReplicaStatus,
} from "../../protocol/index.ts";
import * as v from "../../protocol/validate.ts";
import type { MetaMethodName, MetaRequest } from "../core/index.ts";
import { decodeDuplicationRequest, isDuplicationMethod } from "./decode-duplication-requests.ts";

const REPORTS_MAX = 100_000;
const ENVS_MAX = 1000;

function report(value: unknown, field: string): ReplicaReport {
  const r = v.object(value, field);
  return {
    gpid: v.gpid(r.gpid, `${field}.gpid`),
    ballot: v.integer(r.ballot, `${field}.ballot`, 0),
    status: v.oneOf(r.status, `${field}.status`, Object.values(ReplicaStatus)),
    lastCommittedDecree: v.integer(r.lastCommittedDecree, `${field}.lastCommittedDecree`, 0),
    lastPreparedDecree: v.integer(r.lastPreparedDecree, `${field}.lastPreparedDecree`, 0),
    ...(r.followerCopy === undefined || r.followerCopy === null
      ? {}
      : { followerCopy: followerCopy(r.followerCopy, `${field}.followerCopy`) }),
  };
}

function followerCopy(value: unknown, field: string): FollowerCopyProgress {
  const c = v.object(value, field);
  return {
    copiedBytes: v.integer(c.copiedBytes, `${field}.copiedBytes`, 0),
    totalBytes: v.integer(c.totalBytes, `${field}.totalBytes`, 0),
  };
}

function envs(value: unknown, field: string): Record<string, string> {
  const o = v.object(value, field);
  const entries = Object.entries(o);
  if (entries.length > ENVS_MAX)
    throw new v.TalariaErrorForField(field, `at most ${ENVS_MAX} envs`, value);
  return Object.fromEntries(
    entries.map(([key, val]) => [key, v.string(val, `${field}.${key}`, 65_536)]),
  );
}

function change(value: unknown, field: string): ConfigurationChange {
  const c = v.object(value, field);
  const type = v.oneOf(c.type, `${field}.type`, ["REMOVE_SECONDARY", "ADD_SECONDARY"] as const);
  return { type, node: v.nodeAddress(c.node, `${field}.node`) };
}

function optional<T>(value: unknown, decode: (value: unknown) => T): T | undefined {
  return value === undefined || value === null ? undefined : decode(value);
}

export function isMetaMethod(method: string): method is MetaMethodName {
  return (Object.values(MetaMethod) as string[]).includes(method) || isDuplicationMethod(method);
}

export function decodeMetaRequest(method: MetaMethodName, payload: unknown): MetaRequest {
  if (isDuplicationMethod(method)) return decodeDuplicationRequest(method, payload);
  const p = v.object(payload ?? {}, "payload");
  const appName = () => v.string(p.appName, "appName", 256);
  switch (method) {
    case MetaMethod.BEACON:
      return {
        method,
        body: {
          node: v.nodeAddress(p.node, "node"),
          replicas: v.array(p.replicas, "replicas", REPORTS_MAX, report),
          ...(p.storedAppIds === undefined || p.storedAppIds === null
            ? {}
            : {
                storedAppIds: v.array(p.storedAppIds, "storedAppIds", REPORTS_MAX, (id, field) =>
                  v.integer(id, field, 1),
                ),
              }),
        },
      };
    case MetaMethod.UPDATE_CONFIGURATION:
      return {
        method,
        body: {
          gpid: v.gpid(p.gpid, "gpid"),
          node: v.nodeAddress(p.node, "node"),
          ballot: v.integer(p.ballot, "ballot", 0),
          change: change(p.change, "change"),
          ...(p.changeId === undefined || p.changeId === null
            ? {}
            : { changeId: v.integer(p.changeId, "changeId", 1) }),
        },
      };
    case MetaMethod.QUERY_CONFIGURATION:
      return { method, body: { appName: appName() } };
    case MetaMethod.CREATE_APP:
      return {
        method,
        body: v.present({
          appName: appName(),
          partitionCount: v.integer(p.partitionCount, "partitionCount", 1),
          replicaCount: v.integer(p.replicaCount, "replicaCount", 1),
          envs: optional(p.envs, (e) => envs(e, "envs")),
        }),
      };
    case MetaMethod.DROP_APP:
      return {
        method,
        body: v.present({
          appName: appName(),
          reserveSeconds: v.optionalInteger(p.reserveSeconds, "reserveSeconds", 0),
        }),
      };
    case MetaMethod.RECALL_APP:
      return {
        method,
        body: v.present({
          appId: v.integer(p.appId, "appId", 1),
          newAppName: optional(p.newAppName, (n) => v.string(n, "newAppName", 256)),
        }),
      };
    case MetaMethod.LIST_APPS:
      return {
        method,
        body: v.present({
          status: optional(p.status, (s) => v.oneOf(s, "status", Object.values(AppStatus))),
        }),
      };
    case MetaMethod.LIST_NODES:
      return {
        method,
        body: v.present({
          status: optional(p.status, (s) => v.oneOf(s, "status", Object.values(NodeStatus))),
        }),
      };
    case MetaMethod.CLUSTER_INFO:
      return { method, body: {} };
    case MetaMethod.SET_APP_ENVS:
      return { method, body: { appName: appName(), envs: envs(p.envs, "envs") } };
    case MetaMethod.DEL_APP_ENVS:
      return {
        method,
        body: v.present({
          appName: appName(),
          keys: optional(p.keys, (k) =>
            v.array(k, "keys", ENVS_MAX, (key, f) => v.string(key, f, 256)),
          ),
          prefix: optional(p.prefix, (s) => v.string(s, "prefix", 256)),
        }),
      };
    default:
      throw new TalariaError("ERR_HANDLER_NOT_FOUND", `no meta method ${String(method)}`);
  }
}
