/**
 * Settings of the meta core's duplication part. The meta server fills them from `[replication]`,
 * `[pegasus.clusters]` and `[duplication-group]`; docs/duplication.md documents each one.
 */
import { TalariaError } from "../../../common/errors.ts";

export interface DuplicationOptions {
  /** `[replication] duplication_enabled`: when false every duplication RPC is refused. */
  readonly enabled: boolean;
  /** `[replication] cluster_name`: this cluster; a duplication to it is refused. */
  readonly clusterName: string;
  /** `[pegasus.clusters]`: remote cluster name → its meta servers (`host:port`). */
  readonly remoteClusters: Readonly<Record<string, readonly string[]>>;
  /** `[duplication-group]`: cluster name → cluster id (1..127). */
  readonly clusterIds: Readonly<Record<string, number>>;
  /** `[replication] dup_ignore_other_cluster_ids`: a remote need not be in `[duplication-group]`. */
  readonly ignoreOtherClusterIds: boolean;
  /** `[replication] dup_progress_min_update_period_ms`: least time between two progress writes of one partition. */
  readonly progressMinUpdatePeriodMs: number;
  /** `[replication] duplication_sync_period_second` in ms: the sync period replicas are told. */
  readonly syncPeriodMs: number;
  /** Sync period replicas are told while a duplication of theirs waits for start decrees. */
  readonly initSyncPeriodMs: number;
  /** How long `add` waits for every start decree when the request names no `waitMs`. */
  readonly addWaitMs: number;
  /** Largest `waitMs` an add request may ask for. */
  readonly addWaitMsMax: number;
  /**
   * `[meta_server] server_list`: this cluster's meta servers, told to a follower table created by
   * full duplication (`duplication.master_metas`). Full duplication is refused while empty.
   */
  readonly metaServers: readonly string[];
  /** First delay before a failed call to a remote cluster's meta servers is made again. */
  readonly remoteRetryDelayMs: number;
  /** Largest such delay (it doubles per consecutive failure). */
  readonly remoteRetryDelayMaxMs: number;
  /** How often a follower table's copy progress is asked from the remote cluster (DS_APP). */
  readonly followerPollIntervalMs: number;
}

export const defaultDuplicationOptions: DuplicationOptions = {
  enabled: true,
  clusterName: "",
  remoteClusters: {},
  clusterIds: {},
  ignoreOtherClusterIds: false,
  progressMinUpdatePeriodMs: 5_000,
  syncPeriodMs: 10_000,
  initSyncPeriodMs: 1_000,
  addWaitMs: 30_000,
  addWaitMsMax: 300_000,
  metaServers: [],
  remoteRetryDelayMs: 1_000,
  remoteRetryDelayMaxMs: 30_000,
  followerPollIntervalMs: 1_000,
};

function invalid(key: string, message: string): TalariaError {
  return new TalariaError("ERR_INVALID_CONFIG", `meta core option duplication.${key}: ${message}`, {
    details: { key: `duplication.${key}` },
  });
}

function checkMs(key: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw invalid(key, `${String(value)} is not an integer ≥ ${min}`);
}

export function resolveDuplicationOptions(
  options: Partial<DuplicationOptions> = {},
): DuplicationOptions {
  const resolved: DuplicationOptions = { ...defaultDuplicationOptions, ...options };
  checkMs("progressMinUpdatePeriodMs", resolved.progressMinUpdatePeriodMs, 0);
  checkMs("syncPeriodMs", resolved.syncPeriodMs, 1);
  checkMs("initSyncPeriodMs", resolved.initSyncPeriodMs, 1);
  checkMs("addWaitMs", resolved.addWaitMs, 0);
  checkMs("addWaitMsMax", resolved.addWaitMsMax, 0);
  if (resolved.initSyncPeriodMs > resolved.syncPeriodMs)
    throw invalid("initSyncPeriodMs", "must not exceed syncPeriodMs");
  if (resolved.addWaitMs > resolved.addWaitMsMax)
    throw invalid("addWaitMs", "must not exceed addWaitMsMax");
  checkMs("remoteRetryDelayMs", resolved.remoteRetryDelayMs, 1);
  checkMs("remoteRetryDelayMaxMs", resolved.remoteRetryDelayMaxMs, 1);
  checkMs("followerPollIntervalMs", resolved.followerPollIntervalMs, 1);
  if (resolved.remoteRetryDelayMs > resolved.remoteRetryDelayMaxMs)
    throw invalid("remoteRetryDelayMs", "must not exceed remoteRetryDelayMaxMs");
  if (!Array.isArray(resolved.metaServers))
    throw invalid("metaServers", "must be a list of host:port");
  for (const [name, id] of Object.entries(resolved.clusterIds))
    if (!Number.isSafeInteger(id) || id < 1 || id > 127)
      throw invalid("clusterIds", `${name} = ${String(id)} is not a cluster id 1..127`);
  for (const [name, metas] of Object.entries(resolved.remoteClusters))
    if (!Array.isArray(metas) || metas.length === 0)
      throw invalid("remoteClusters", `${name} lists no meta server`);
  return resolved;
}
