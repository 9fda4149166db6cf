/**
 * Settings of the meta core. Every bound has a name and a default here; docs/meta-server.md
 * documents each one. `resolveMetaCoreOptions` checks them: a bad setting is an operating error
 * (ERR_INVALID_CONFIG) raised before the core starts.
 */
import { TalariaError } from "../../common/errors.ts";
import {
  type DuplicationOptions,
  defaultDuplicationOptions,
  resolveDuplicationOptions,
} from "./duplication/options.ts";

export interface MetaCoreOptions {
  /** Root of the metadata tree in the meta store (Pegasus `[meta_server] cluster_root`). */
  readonly clusterRoot: string;
  /** Lease granted with each beacon reply: how long a primary may serve without a new one. */
  readonly fdLeaseMs: number;
  /** A node is declared dead when no beacon arrived for this long; must exceed `fdLeaseMs`. */
  readonly fdGraceMs: number;
  /** How long a dropped table stays recallable (Pegasus `hold_seconds_for_dropped_app`). */
  readonly holdSecondsForDroppedApp: number;
  /** How often the balancer runs (on tick). */
  readonly balanceIntervalMs: number;
  /** Most primary moves the balancer starts in one round. */
  readonly balanceMovesPerRoundMax: number;
  /** Most partitions of one table. */
  readonly partitionCountMax: number;
  /** Most replicas (primary + secondaries) of one partition. */
  readonly replicaCountMax: number;
  /** Most partitions one node is proposed as a learner for at the same time. */
  readonly learnerProposalsPerNodeMax: number;
  /** A learner proposal not turned into ADD_SECONDARY within this time goes to another node. */
  readonly learnerProposalTimeoutMs: number;
  /** Most table DDL requests (create, drop, recall, envs) waiting behind the one being persisted. */
  readonly ddlQueueMax: number;
  /** First delay before a failed meta-store write is retried; doubles on each failure. */
  readonly persistRetryDelayMs: number;
  /** Largest delay between retries of a failed meta-store write. */
  readonly persistRetryDelayMaxMs: number;
  /**
   * Most writes in one persist action (one meta-store `multi`); a larger change (creating a table
   * with many partitions) is persisted in sequential parts. Below the store's `metaMultiOpsMax`.
   */
  readonly persistWritesPerOpMax: number;
  /** Largest encoded app record (its envs, mostly); below the store's `metaValueBytesMax`. */
  readonly appRecordBytesMax: number;
  /** Longest table name, in characters. */
  readonly appNameLengthMax: number;
  /** Most app envs one table carries. */
  readonly appEnvCountMax: number;
  /** Longest app env key or value, in characters. */
  readonly appEnvLengthMax: number;
  /** Duplication: this cluster, the remote clusters, sync and progress settings. */
  readonly duplication: DuplicationOptions;
}

/** What `MetaCore.create` / `restore` accept: any option, duplication ones one by one. */
export type MetaCoreOptionsInput = Partial<Omit<MetaCoreOptions, "duplication">> & {
  readonly duplication?: Partial<DuplicationOptions>;
};

export const defaultMetaCoreOptions: MetaCoreOptions = {
  clusterRoot: "/talaria",
  fdLeaseMs: 9_000,
  fdGraceMs: 10_000,
  holdSecondsForDroppedApp: 604_800,
  balanceIntervalMs: 10_000,
  balanceMovesPerRoundMax: 8,
  partitionCountMax: 1024,
  replicaCountMax: 5,
  learnerProposalsPerNodeMax: 4,
  learnerProposalTimeoutMs: 30 * 60_000,
  ddlQueueMax: 64,
  persistRetryDelayMs: 1_000,
  persistRetryDelayMaxMs: 30_000,
  persistWritesPerOpMax: 128,
  appRecordBytesMax: 128 * 1024,
  appNameLengthMax: 128,
  appEnvCountMax: 64,
  appEnvLengthMax: 4_096,
  duplication: defaultDuplicationOptions,
};

/** A partition has at least one replica and a table at least one partition. */
export const partitionCountMin = 1;
export const replicaCountMin = 1;

function invalid(key: string, message: string): TalariaError {
  return new TalariaError("ERR_INVALID_CONFIG", `meta core option ${key}: ${message}`, {
    details: { key },
  });
}

export function resolveMetaCoreOptions(options: MetaCoreOptionsInput = {}): MetaCoreOptions {
  const resolved: MetaCoreOptions = {
    ...defaultMetaCoreOptions,
    ...options,
    duplication: resolveDuplicationOptions(options.duplication),
  };
  for (const [key, value] of Object.entries(resolved)) {
    if (key === "clusterRoot" || key === "duplication") continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0)
      throw invalid(key, `${String(value)} is not a positive integer`);
  }
  if (!/^(\/[A-Za-z0-9_.-]+)*$/.test(resolved.clusterRoot))
    throw invalid("clusterRoot", `"${resolved.clusterRoot}" is not an absolute path like /talaria`);
  if (resolved.fdLeaseMs >= resolved.fdGraceMs)
    throw invalid(
      "fdLeaseMs",
      `lease ${resolved.fdLeaseMs} ms must be shorter than fdGraceMs ${resolved.fdGraceMs} ms, or a cut-off primary could still serve after it is replaced`,
    );
  if (resolved.persistWritesPerOpMax < 2)
    throw invalid("persistWritesPerOpMax", "must be at least 2 (an app record and next_app_id)");
  if (resolved.persistRetryDelayMs > resolved.persistRetryDelayMaxMs)
    throw invalid("persistRetryDelayMs", "must not exceed persistRetryDelayMaxMs");
  return resolved;
}
