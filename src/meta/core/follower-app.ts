/**
 * Follower tables on the target meta server (full duplication, notes §2.5 and §3.8): a table
 * created with the envs `duplication.master_cluster` … `duplication.follower_app_status` is filled
 * by its primaries pulling the master's checkpoints.
 *
 * - A create carrying `duplication.master_cluster` for a name an available table already has is
 *   answered by `followerCreateAgain` (Pegasus `process_create_follower_app_status`, fix of #2146):
 *   the master may repeat a create whose answer it lost, so the same request must succeed again.
 * - While `follower_app_status = creating`, a partition gets its primary only (placement), and no
 *   secondary is proposed until that primary serves: it reports PRIMARY at the configuration's
 *   ballot with a committed decree ≥ 1 (the copied checkpoint). A learner would otherwise learn an
 *   empty replica. Then re-replication fills the replica count as usual.
 * - A primary that is still copying reports INACTIVE at ballot 0 with `followerCopy`; repair reads
 *   that as "has not seen the configuration yet" (an older ballot), never as a failure, however
 *   long the copy takes.
 */
import { TalariaError } from "../../common/errors.ts";
import type { AppInfo, PartitionConfiguration, ReplicaReport } from "../../protocol/index.ts";
import { FollowerAppStatus, FollowerEnv, ReplicaStatus } from "../../protocol/index.ts";

/** The create of a table the master cluster fills (its request carries the follower envs). */
export function isFollowerCreate(envs: Readonly<Record<string, string>>): boolean {
  return envs[FollowerEnv.MASTER_CLUSTER] !== undefined;
}

/** A follower table whose primaries still copy: each partition starts with its primary only. */
export function isFollowerCreating(envs: Readonly<Record<string, string>>): boolean {
  return (
    isFollowerCreate(envs) && envs[FollowerEnv.FOLLOWER_APP_STATUS] === FollowerAppStatus.CREATING
  );
}

export type FollowerCreateOutcome =
  /** The request repeats the table's state: answer OK with the table as it is. */
  | { readonly kind: "same" }
  /** `creating` → `created`: persist the env, then answer OK. */
  | { readonly kind: "markCreated" };

/**
 * A create carrying `duplication.master_cluster` for the name of an available table, decided as
 * the table of notes §2.5 says (rows in order):
 *
 * | existing table's env                | request's status | result                        |
 * |-------------------------------------|------------------|-------------------------------|
 * | master_cluster missing or different | any              | ERR_APP_EXIST                 |
 * | (any)                               | missing          | ERR_APP_EXIST (old masters)   |
 * | follower_app_status missing         | any              | ERR_INVALID_STATE             |
 * | creating                            | creating         | OK (idempotent)               |
 * | creating                            | created          | env set to created; OK        |
 * | created                             | creating         | ERR_APP_EXIST                 |
 * | created                             | created          | OK (idempotent)               |
 * | other values                        |                  | ERR_INVALID_PARAMETERS        |
 */
export function followerCreateAgain(
  existing: AppInfo,
  requestEnvs: Readonly<Record<string, string>>,
): FollowerCreateOutcome {
  const name = existing.appName;
  const master = requestEnvs[FollowerEnv.MASTER_CLUSTER];
  const exists = (why: string) =>
    new TalariaError(
      "ERR_APP_EXIST",
      `table "${name}" already exists (app ${existing.appId}): ${why}`,
      {
        details: { appId: existing.appId },
      },
    );
  const existingMaster = existing.envs[FollowerEnv.MASTER_CLUSTER];
  if (existingMaster === undefined || existingMaster !== master)
    throw exists(
      existingMaster === undefined
        ? "it is not a duplication follower"
        : `it follows cluster ${existingMaster}, not ${String(master)}`,
    );
  const requested = requestEnvs[FollowerEnv.FOLLOWER_APP_STATUS];
  if (requested === undefined) throw exists("the request names no follower_app_status");
  const current = existing.envs[FollowerEnv.FOLLOWER_APP_STATUS];
  if (current === undefined)
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `follower table "${name}" has no ${FollowerEnv.FOLLOWER_APP_STATUS}`,
      { details: { appId: existing.appId } },
    );
  const { CREATING, CREATED } = FollowerAppStatus;
  if (current === CREATING && requested === CREATING) return { kind: "same" };
  if (current === CREATING && requested === CREATED) return { kind: "markCreated" };
  if (current === CREATED && requested === CREATING)
    throw exists("the follower table is already created");
  if (current === CREATED && requested === CREATED) return { kind: "same" };
  throw new TalariaError(
    "ERR_INVALID_PARAMETERS",
    `${FollowerEnv.FOLLOWER_APP_STATUS}: table "${name}" has "${current}", the request "${requested}"`,
    { details: { appId: existing.appId, current, requested } },
  );
}

/**
 * The partition's primary serves (has copied its checkpoint): it reports PRIMARY at the
 * configuration's ballot with a committed decree ≥ 1.
 */
export function primaryServes(
  config: PartitionConfiguration,
  report: ReplicaReport | undefined,
): boolean {
  return (
    report !== undefined &&
    report.status === ReplicaStatus.PRIMARY &&
    report.ballot === config.ballot &&
    report.lastCommittedDecree >= 1
  );
}

/** No secondary may be proposed yet: a creating follower whose primary does not serve yet. */
export function awaitsFollowerCopy(
  app: AppInfo | undefined,
  config: PartitionConfiguration,
  report: (node: string) => ReplicaReport | undefined,
): boolean {
  if (app === undefined || !isFollowerCreating(app.envs)) return false;
  return config.primary === undefined || !primaryServes(config, report(config.primary));
}
