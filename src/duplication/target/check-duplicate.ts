/**
 * Checks a DUPLICATE request on the receiving replica before it gets a decree (so a refusal
 * changes nothing): every entry must come from another cluster of this cluster's
 * `[duplication-group]`. An entry carrying the receiver's own id is a self-duplication (a loop or
 * a misconfigured peer); an id the receiver does not know cannot be trusted to order writes by
 * timetag. Both are refused with ERR_DUP_CLUSTER_ID_REFUSED, which the source treats as data
 * (its fail mode decides), never as a reason to crash.
 *
 * That each entry's key belongs to the receiving partition is checked where every write's keys
 * are (replica-server/client-handlers.ts, with the routing rule of duplication/route.ts).
 *
 * The replica server's client-write handler calls it for `op: "duplicate"`:
 *
 *   if (request.op === "duplicate") checkDuplicateRequest(request, receiverPolicy, gpid);
 */
import type { DuplicateEntry } from "../../codec/mutation.ts";
import { TalariaError } from "../../common/errors.ts";

export interface DuplicateReceiverPolicy {
  /** This cluster's id in `[duplication-group]`; 0 when it has none. */
  readonly selfClusterId: number;
  /** Every id of `[duplication-group]` (this cluster's included). */
  readonly groupClusterIds: ReadonlySet<number>;
  /** `[replication] dup_ignore_other_cluster_ids`: accept any id but our own. */
  readonly ignoreOtherClusterIds: boolean;
}

/** The policy from a parsed configuration's `[replication]` and `[duplication-group]`. */
export function duplicateReceiverPolicy(config: {
  readonly replication: {
    readonly clusterName: string;
    readonly dupIgnoreOtherClusterIds: boolean;
  };
  readonly duplicationGroup: Readonly<Record<string, number>>;
}): DuplicateReceiverPolicy {
  const group = config.duplicationGroup;
  return {
    selfClusterId: Object.hasOwn(group, config.replication.clusterName)
      ? (group[config.replication.clusterName] ?? 0)
      : 0,
    groupClusterIds: new Set(Object.values(group)),
    ignoreOtherClusterIds: config.replication.dupIgnoreOtherClusterIds,
  };
}

/** Throws ERR_DUP_CLUSTER_ID_REFUSED (beforeExecution) for the first entry it refuses. */
export function checkDuplicateRequest(
  request: { readonly entries: readonly DuplicateEntry[] },
  policy: DuplicateReceiverPolicy,
  gpid?: string,
): void {
  for (const entry of request.entries) {
    const clusterId = entry.clusterId;
    if (clusterId === policy.selfClusterId) {
      throw refused(clusterId, "self", policy, gpid, "carries this cluster's own id");
    }
    if (!policy.ignoreOtherClusterIds && !policy.groupClusterIds.has(clusterId)) {
      throw refused(clusterId, "unconfigured", policy, gpid, "is not in [duplication-group]");
    }
  }
}

function refused(
  clusterId: number,
  reason: "self" | "unconfigured",
  policy: DuplicateReceiverPolicy,
  gpid: string | undefined,
  what: string,
): TalariaError {
  return new TalariaError(
    "ERR_DUP_CLUSTER_ID_REFUSED",
    `duplicated write refused${gpid === undefined ? "" : ` by ${gpid}`}: cluster id ${clusterId} ${what}`,
    {
      details: {
        clusterId,
        reason,
        selfClusterId: policy.selfClusterId,
        beforeExecution: true,
        ...(gpid === undefined ? {} : { gpid }),
      },
    },
  );
}
