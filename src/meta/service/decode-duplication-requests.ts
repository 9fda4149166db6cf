/**
 * Duplication RPC payloads from the network, validated into the typed requests the meta core
 * takes (protocol/duplication-messages.ts). A malformed payload is ERR_INVALID_PARAMETERS naming
 * the field; a list over its bound is ERR_LIMIT_EXCEEDED.
 */
import { TalariaError } from "../../common/errors.ts";
import {
  type DuplicationConfirm,
  DuplicationFailMode,
  type DuplicationFailure,
  DuplicationMethod,
  type DuplicationRemoteClock,
  DuplicationStatus,
  type DuplicationSyncPartition,
  isNodeAddress,
  PatternMatchType,
  type ResyncProgress,
} from "../../protocol/index.ts";
import * as v from "../../protocol/validate.ts";
import type { MetaRequest } from "../core/index.ts";

/** Most partitions one sync reports (every primary a server holds). */
const SYNC_PARTITIONS_MAX = 100_000;
/** Most duplications one partition reports (one per remote cluster). */
const SYNC_CONFIRMS_PER_PARTITION_MAX = 256;
const NAME_LENGTH_MAX = 256;
const DUPID_MAX = 2 ** 31 - 1;

function optional<T>(value: unknown, decode: (value: unknown) => T): T | undefined {
  return value === undefined || value === null ? undefined : decode(value);
}

function confirm(value: unknown, field: string): DuplicationConfirm {
  const c = v.object(value, field);
  return v.present<DuplicationConfirm>({
    dupid: v.integer(c.dupid, `${field}.dupid`, 1, DUPID_MAX),
    confirmedDecree: v.integer(c.confirmedDecree, `${field}.confirmedDecree`, 0),
    checkpointPrepared: v.optionalBoolean(c.checkpointPrepared, `${field}.checkpointPrepared`),
    resyncProgress: optional(c.resyncProgress, (r) => resyncProgress(r, `${field}.resyncProgress`)),
    failure:
      c.failure === undefined || c.failure === null
        ? undefined
        : failure(c.failure, `${field}.failure`),
    remoteClock: optional(c.remoteClock, (r) => remoteClock(r, `${field}.remoteClock`)),
  });
}

function remoteClock(value: unknown, field: string): DuplicationRemoteClock {
  const r = v.object(value, field);
  return {
    offsetMs: v.integer(r.offsetMs, `${field}.offsetMs`),
    uncertaintyMs: v.integer(r.uncertaintyMs, `${field}.uncertaintyMs`, 0),
    skewExceeded: v.boolean(r.skewExceeded, `${field}.skewExceeded`),
  };
}

function resyncProgress(value: unknown, field: string): ResyncProgress {
  const r = v.object(value, field);
  const totalBytes = v.integer(r.totalBytes, `${field}.totalBytes`, 0);
  return {
    sentBytes: v.integer(r.sentBytes, `${field}.sentBytes`, 0),
    totalBytes,
    done: v.boolean(r.done, `${field}.done`),
  };
}

function failure(value: unknown, field: string): DuplicationFailure {
  const f = v.object(value, field);
  return {
    kind: v.oneOf(f.kind, `${field}.kind`, ["paused_with_error", "log_truncated"] as const),
    code: v.string(f.code, `${field}.code`, 64),
    message: v.string(f.message, `${field}.message`, 4096),
    atDecree: v.integer(f.atDecree, `${field}.atDecree`, 0),
  };
}

function syncPartition(value: unknown, field: string): DuplicationSyncPartition {
  const p = v.object(value, field);
  return {
    gpid: v.gpid(p.gpid, `${field}.gpid`),
    ballot: v.integer(p.ballot, `${field}.ballot`, 0),
    lastCommittedDecree: v.integer(p.lastCommittedDecree, `${field}.lastCommittedDecree`, 0),
    confirms: v.array(p.confirms, `${field}.confirms`, SYNC_CONFIRMS_PER_PARTITION_MAX, confirm),
    ...(v.optionalBoolean(p.receivingResync, `${field}.receivingResync`) === true
      ? { receivingResync: true }
      : {}),
  };
}

export function isDuplicationMethod(method: string): method is DuplicationMethod {
  return (Object.values(DuplicationMethod) as string[]).includes(method);
}

export function decodeDuplicationRequest(method: DuplicationMethod, payload: unknown): MetaRequest {
  const p = v.object(payload ?? {}, "payload");
  const appName = () => v.string(p.appName, "appName", NAME_LENGTH_MAX);
  switch (method) {
    case DuplicationMethod.ADD:
      return {
        method,
        body: v.present({
          appName: appName(),
          remoteClusterName: v.string(p.remoteClusterName, "remoteClusterName", NAME_LENGTH_MAX),
          remoteAppName: optional(p.remoteAppName, (n) =>
            v.string(n, "remoteAppName", NAME_LENGTH_MAX),
          ),
          remoteReplicaCount: v.optionalInteger(p.remoteReplicaCount, "remoteReplicaCount", 0),
          isDuplicatingCheckpoint: v.optionalBoolean(
            p.isDuplicatingCheckpoint,
            "isDuplicatingCheckpoint",
          ),
          freezed: v.optionalBoolean(p.freezed, "freezed"),
          waitMs: v.optionalInteger(p.waitMs, "waitMs", 0),
        }),
      };
    case DuplicationMethod.MODIFY:
      return {
        method,
        body: v.present({
          appName: appName(),
          dupid: v.integer(p.dupid, "dupid", 1, DUPID_MAX),
          status: optional(p.status, (s) => v.oneOf(s, "status", Object.values(DuplicationStatus))),
          failMode: optional(p.failMode, (f) =>
            v.oneOf(f, "failMode", Object.values(DuplicationFailMode)),
          ),
        }),
      };
    case DuplicationMethod.QUERY:
      return { method, body: { appName: appName() } };
    case DuplicationMethod.LIST:
      return {
        method,
        body: v.present({
          appNamePattern: optional(p.appNamePattern, (s) =>
            v.string(s, "appNamePattern", NAME_LENGTH_MAX),
          ),
          matchType: optional(p.matchType, (s) =>
            v.oneOf(s, "matchType", Object.values(PatternMatchType)),
          ),
        }),
      };
    case DuplicationMethod.SYNC: {
      if (!isNodeAddress(p.node))
        throw new v.TalariaErrorForField("node", "a host:port address", p.node);
      return {
        method,
        body: {
          node: p.node,
          partitions: v.array(p.partitions, "partitions", SYNC_PARTITIONS_MAX, syncPartition),
        },
      };
    }
    case DuplicationMethod.RESYNC:
      return {
        method,
        body: { appName: appName(), dupid: v.integer(p.dupid, "dupid", 1, DUPID_MAX) },
      };
    default: {
      const unknown: never = method;
      throw new TalariaError("ERR_HANDLER_NOT_FOUND", `no duplication method ${String(unknown)}`);
    }
  }
}
