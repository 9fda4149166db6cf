/**
 * Read-only views of duplications: query (one table), list (tables by name pattern), the sync
 * reply's entries, and the Pegasus-shaped JSON of `GET /meta/app/duplication` (notes §6.3). They
 * show committed state only: a change not yet persisted is invisible here.
 */
import { TalariaError } from "../../../common/errors.ts";
import type {
  AppInfo,
  DuplicationDetail,
  DuplicationPartitionState,
  DuplicationSyncEntry,
  ListDuplicationsRequest,
  ListDuplicationsResponse,
  QueryDuplicationResponse,
} from "../../../protocol/index.ts";
import { DuplicationStatus, FullSyncMode, PatternMatchType } from "../../../protocol/index.ts";
import type { ClusterState } from "../state.ts";
import type { Duplication } from "./duplication.ts";
import type { DuplicationOptions } from "./options.ts";
import { blockingOrphanMark } from "./orphan-marks.ts";
import type { DuplicationRegistry } from "./registry.ts";

export function detailOf(dup: Duplication, registry: DuplicationRegistry): DuplicationDetail {
  const confirmed = dup.confirmedDecrees();
  const remoteError = remoteErrorOf(dup, registry);
  return {
    ...dup.info(),
    partitionStates: dup.partitions.map((progress, index) => ({
      confirmedDecree: confirmed[index] ?? -1,
      lastCommittedDecree: progress.lastCommittedDecree,
      ...(progress.failure === undefined ? {} : { failure: progress.failure }),
      ...(progress.remoteClock === undefined ? {} : { remoteClock: progress.remoteClock }),
      ...fullSyncStateOf(dup, progress),
    })),
    ...(remoteError === undefined ? {} : { remoteError }),
  };
}

/** The last failed remote call, or what a prepared re-sync waits for before marking. */
function remoteErrorOf(
  dup: Duplication,
  registry: DuplicationRegistry,
): DuplicationDetail["remoteError"] {
  if (dup.remote.lastError !== undefined)
    return { message: dup.remote.lastError, failures: dup.remote.failures };
  if (dup.status !== DuplicationStatus.DS_PREPARE || !dup.prepared) return undefined;
  if (dup.fullSync !== FullSyncMode.RESYNC) return undefined;
  const blocking = blockingOrphanMark(registry, dup);
  if (blocking === undefined) return undefined;
  return {
    message: `waiting until the re-sync mark that removed duplication ${blocking.dupid} left on ${dup.remoteClusterName}.${dup.remoteAppName} is removed (${blocking.envKey})`,
    failures: 0,
  };
}

/**
 * A partition's full-sync progress: in DS_PREPARE whether its checkpoint is prepared (reported by
 * its current primary, or persisted), in DS_APP its copy.
 */
function fullSyncStateOf(
  dup: Duplication,
  progress: Duplication["partitions"][number],
): Pick<DuplicationPartitionState, "checkpointPrepared" | "copy"> {
  if (dup.status === DuplicationStatus.DS_PREPARE)
    return { checkpointPrepared: dup.prepared || progress.start !== undefined };
  if (dup.status !== DuplicationStatus.DS_APP) return {};
  const copy = progress.copy ?? { doneBytes: 0, totalBytes: 0, done: false };
  return { copy: { doneBytes: copy.doneBytes, totalBytes: copy.totalBytes, done: copy.done } };
}

export function syncEntryOf(dup: Duplication, options: DuplicationOptions): DuplicationSyncEntry {
  const logTruncated: number[] = [];
  const receivingResync: number[] = [];
  dup.partitions.forEach((progress, index) => {
    if (progress.failure?.kind === "log_truncated") logTruncated.push(index);
    if (progress.receivingResync) receivingResync.push(index);
  });
  return {
    ...dup.info(),
    remoteMetas: [...(options.remoteClusters[dup.remoteClusterName] ?? [])],
    confirmedDecrees: dup.confirmedDecrees(),
    ...(logTruncated.length === 0 ? {} : { logTruncated }),
    ...(receivingResync.length === 0 ? {} : { receivingResync }),
  };
}

export function queryOf(app: AppInfo, registry: DuplicationRegistry): QueryDuplicationResponse {
  return {
    appId: app.appId,
    appName: app.appName,
    partitionCount: app.partitionCount,
    duplications: registry.ofApp(app.appId).map((dup) => detailOf(dup, registry)),
  };
}

/** Pegasus `utils::pattern_match` (regex is left out: a user pattern must not stall the meta). */
export function matchesPattern(name: string, pattern: string, type: PatternMatchType): boolean {
  switch (type) {
    case PatternMatchType.MATCH_ALL:
      return true;
    case PatternMatchType.MATCH_EXACT:
      return name === pattern;
    case PatternMatchType.MATCH_ANYWHERE:
      return name.includes(pattern);
    case PatternMatchType.MATCH_PREFIX:
      return name.startsWith(pattern);
    case PatternMatchType.MATCH_POSTFIX:
      return name.endsWith(pattern);
    default: {
      const unknown: never = type;
      throw new TalariaError("ERR_INVALID_PARAMETERS", `unknown match type ${String(unknown)}`);
    }
  }
}

export function listDuplications(
  state: ClusterState,
  registry: DuplicationRegistry,
  request: ListDuplicationsRequest,
): ListDuplicationsResponse {
  const type = request.matchType ?? PatternMatchType.MATCH_ALL;
  const pattern = request.appNamePattern ?? "";
  if (type !== PatternMatchType.MATCH_ALL && request.appNamePattern === undefined)
    throw new TalariaError("ERR_INVALID_PARAMETERS", `${type} needs an appNamePattern`);
  return {
    apps: state
      .availableApps()
      .filter((app) => matchesPattern(app.appName, pattern, type))
      .map((app) => queryOf(app, registry)),
  };
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}

/** Pegasus prints create_ts as "YYYY-MM-DD hh:mm:ss"; Talaria prints it in UTC. */
export function formatCreateTs(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * The body of `GET /meta/app/duplication?name=` as Pegasus's `duplication_query_response_to_string`
 * prints it: entries under keys "1", "2", … (dupid order) plus "appid", keys sorted; JSON null
 * when the table has no duplication.
 */
export function pegasusQueryJson(response: QueryDuplicationResponse): unknown {
  if (response.duplications.length === 0) return null;
  const body: Record<string, unknown> = {};
  response.duplications.forEach((dup, index) => {
    body[String(index + 1)] = {
      create_ts: formatCreateTs(dup.createdAtMs),
      dupid: dup.dupid,
      fail_mode: dup.failMode,
      ...(dup.fullSync === undefined ? {} : { full_sync: dup.fullSync }),
      partition_states: Object.fromEntries(
        dup.partitionStates.map((state, partitionIndex) => [
          String(partitionIndex),
          {
            confirmed_decree: state.confirmedDecree,
            last_committed_decree: state.lastCommittedDecree,
            ...(state.failure === undefined ? {} : { failure: state.failure }),
            ...(state.remoteClock === undefined
              ? {}
              : {
                  remote_clock: {
                    offset_ms: state.remoteClock.offsetMs,
                    uncertainty_ms: state.remoteClock.uncertaintyMs,
                    skew_exceeded: state.remoteClock.skewExceeded,
                  },
                }),
            ...(state.checkpointPrepared === undefined
              ? {}
              : { checkpoint_prepared: state.checkpointPrepared }),
            ...(state.copy === undefined
              ? {}
              : {
                  copy: {
                    done_bytes: state.copy.doneBytes,
                    total_bytes: state.copy.totalBytes,
                    done: state.copy.done,
                  },
                }),
          },
        ]),
      ),
      remote: dup.remoteClusterName,
      remote_app_name: dup.remoteAppName,
      remote_replica_count: dup.remoteReplicaCount,
      status: dup.status,
    };
  });
  body.appid = response.appId;
  return body;
}
