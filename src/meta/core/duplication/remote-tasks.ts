/**
 * Full duplication talks to the remote cluster's meta servers (create the follower table, watch it
 * copy, mark it created). The core stays pure: it lists the calls it wants made now
 * (`DuplicationRemoteTask`), the runtime makes them and feeds each outcome back as a
 * `duplicationRemote` event. Invariants:
 * - at most one task per duplication is listed (`key`), and only once its retry time has come;
 *   the runtime runs at most one task per key at a time;
 * - every task is idempotent on the remote (notes §2.5: a create carrying the follower envs
 *   answers OK again for the same state), so a lost answer, a retry or a new meta leader repeating
 *   a task is harmless;
 * - an outcome is taken only if the duplication is still at the step the task was made for.
 *
 * `followerReadiness` decides from the remote's partition configurations when the follower table
 * has copied every partition's checkpoint.
 */
import type {
  CreateAppRequest,
  DelAppEnvsRequest,
  PartitionConfiguration,
  QueryConfigurationRequest,
  QueryConfigurationResponse,
  SetAppEnvsRequest,
} from "../../../protocol/index.ts";
import {
  type FollowerAppStatus,
  FollowerEnv,
  RESYNC_MARK_ENV_PREFIX,
} from "../../../protocol/index.ts";

interface TaskTarget {
  /** `<appId>.dup<dupid>`: one task per duplication at a time. */
  readonly key: string;
  readonly appId: number;
  readonly dupid: number;
  readonly remoteClusterName: string;
  /** The remote cluster's meta servers (`[pegasus.clusters]`). */
  readonly remoteMetas: readonly string[];
}

export type DuplicationRemoteTask =
  /** `meta.create_app` on the remote (answer: CreateAppResponse; only success matters). */
  | (TaskTarget & {
      readonly kind: "CREATE_FOLLOWER";
      readonly followerAppStatus: FollowerAppStatus;
      readonly request: CreateAppRequest;
    })
  /** `meta.query_configuration` of the follower table on the remote (QueryConfigurationResponse). */
  | (TaskTarget & {
      readonly kind: "QUERY_FOLLOWER";
      readonly request: QueryConfigurationRequest;
    })
  /** `meta.set_app_envs` on the remote: mark the table a re-sync is about to write into. */
  | (TaskTarget & { readonly kind: "MARK_RESYNC"; readonly request: SetAppEnvsRequest })
  /**
   * `meta.del_app_envs` on the remote: the re-sync is over, or its duplication was removed (then
   * `key` is `<appId>.dup<dupid>.unmark`, not the duplication's).
   */
  | (TaskTarget & { readonly kind: "UNMARK_RESYNC"; readonly request: DelAppEnvsRequest });

/** The app env key a re-sync from `sourceCluster` marks the remote table with. */
export function resyncMarkKey(sourceCluster: string): string {
  return `${RESYNC_MARK_ENV_PREFIX}${sourceCluster}`;
}

/** A partition's copy progress as query / list show it (DuplicationPartitionState.copy). */
export interface CopyProgress {
  readonly doneBytes: number;
  readonly totalBytes: number;
  readonly done: boolean;
}

/** Where one duplication's remote work stands (volatile: a new leader starts it over). */
export interface RemoteProgress {
  /**
   * DS_APP only: "create", the follower table copied everything (mark it created next);
   * "resync", every partition sent its checkpoint (remove the remote table's mark next).
   */
  copied: boolean;
  /** Consecutive failed tasks (the backoff grows with it). */
  failures: number;
  /** No task before this time. */
  nextAttemptMs: number;
  /** The last failure, for logs. */
  lastError: string | undefined;
}

export function freshRemoteProgress(): RemoteProgress {
  return { copied: false, failures: 0, nextAttemptMs: 0, lastError: undefined };
}

/** Capped exponential backoff after `failures` consecutive failures (≥ 1). */
export function retryDelayMs(failures: number, firstMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(firstMs * 2 ** exponent, maxMs);
}

/**
 * The envs of the follower table: the source table's (except its own `duplication.*` envs: a
 * source that is itself a follower must not pass its master on) plus the four follower envs.
 */
export function followerEnvs(
  sourceEnvs: Readonly<Record<string, string>>,
  master: { readonly clusterName: string; readonly metaServers: readonly string[] },
  masterAppName: string,
  status: FollowerAppStatus,
): Record<string, string> {
  const envs: Record<string, string> = {};
  for (const [key, value] of Object.entries(sourceEnvs))
    if (!key.startsWith("duplication.")) envs[key] = value;
  envs[FollowerEnv.MASTER_CLUSTER] = master.clusterName;
  envs[FollowerEnv.MASTER_METAS] = master.metaServers.join(",");
  envs[FollowerEnv.MASTER_APP_NAME] = masterAppName;
  envs[FollowerEnv.FOLLOWER_APP_STATUS] = status;
  return envs;
}

export interface FollowerReadiness {
  /** Per source partition: the follower primary's copy progress. */
  readonly copies: CopyProgress[];
  /** Every partition serves from a copied checkpoint (and has a secondary when it should). */
  readonly complete: boolean;
  /** Why not complete, for logs; undefined when complete. */
  readonly waitingFor: string | undefined;
}

/**
 * A follower partition is copied once it has a primary whose last committed decree reached the
 * source partition's confirmed decree (the checkpoint decree C: the follower opens with the
 * checkpoint, so at ≥ C). The table is complete when every partition is copied and, for a
 * replica count above 1, has at least one secondary too (notes §2.4; the target meta server adds
 * secondaries only once the primary serves, so the follower goes live with two copies).
 */
export function followerReadiness(
  response: QueryConfigurationResponse,
  confirmedDecrees: readonly number[],
  previous: readonly (CopyProgress | undefined)[],
): FollowerReadiness {
  const partitionCount = confirmedDecrees.length;
  const byIndex = new Map<number, PartitionConfiguration>();
  for (const config of response.partitions) byIndex.set(config.gpid.partitionIndex, config);
  const copies: CopyProgress[] = [];
  const waiting: string[] = [];
  for (let index = 0; index < partitionCount; index += 1) {
    const config = byIndex.get(index);
    const decree = confirmedDecrees[index] ?? -1;
    const before = previous[index];
    const copied =
      config?.primary !== undefined && decree >= 0 && config.lastCommittedDecree >= decree;
    if (copied) {
      const total = Math.max(before?.totalBytes ?? 0, config?.followerCopy?.totalBytes ?? 0);
      copies.push({ doneBytes: total, totalBytes: total, done: true });
    } else if (config?.followerCopy !== undefined) {
      copies.push({
        doneBytes: config.followerCopy.copiedBytes,
        totalBytes: config.followerCopy.totalBytes,
        done: false,
      });
    } else {
      copies.push(before === undefined ? { doneBytes: 0, totalBytes: 0, done: false } : before);
    }
    if (!copied) waiting.push(`partition ${index} not copied`);
    else if ((config?.maxReplicaCount ?? 1) > 1 && (config?.secondaries.length ?? 0) === 0)
      waiting.push(`partition ${index} has no secondary yet`);
  }
  if (
    response.app.partitionCount !== partitionCount ||
    response.partitions.length !== partitionCount
  )
    waiting.unshift(
      `the remote table has ${response.app.partitionCount} partitions, not ${partitionCount}`,
    );
  return {
    copies,
    complete: waiting.length === 0,
    waitingFor: waiting.length === 0 ? undefined : waiting.slice(0, 3).join("; "),
  };
}
