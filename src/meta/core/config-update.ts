/**
 * UPDATE_CONFIGURATION from a primary: ADD_SECONDARY (a learner caught up) or REMOVE_SECONDARY
 * (a secondary stopped acking). The request names the ballot it is based on; only the current
 * primary, at the current ballot, gets a change through, so two primaries (an old one that has not
 * yet noticed it was replaced, and the new one) can never both change a configuration. A refusal
 * carries the current configuration in `details.config` so the requester can catch up; a
 * configuration at the requester's own ballot means "certainly not applied". ERR_BUSY (another
 * change of the partition is being persisted, perhaps this same request sent earlier) carries
 * none: its outcome is unknown.
 *
 * The change fence: a refusal at the requester's ballot must stay true for every copy of that
 * request still on its way (a retry, or one the network delayed), or a primary that stopped gating
 * commits on a learner could still see the learner added. Meta remembers the last `changeId` per
 * partition from its primary at its ballot, and whether it refused it: a lower number, or the
 * refused one again, is refused. The memory is volatile, so a new meta leader (a restart or a
 * leader change) starts with every partition's fence unknown (`changeId` 0): the first numbered
 * change from the primary at the ballot it restored is refused, since an earlier leader may have
 * refused that very number; the primary's next number goes through.
 */

import { TalariaError } from "../../common/errors.ts";
import type {
  NodeAddress,
  PartitionConfiguration,
  UpdateConfigurationRequest,
} from "../../protocol/index.ts";
import { AppStatus, gpidKey, isNodeAddress } from "../../protocol/index.ts";
import { type ClusterState, membersOf, nextConfiguration } from "./state.ts";

/** The last numbered change request seen for a partition (the change fence, above). */
export interface LastChange {
  readonly node: NodeAddress;
  readonly ballot: number;
  /** 0: unknown, restored by this leader (no numbered change from `node` at `ballot` seen yet). */
  readonly changeId: number;
  readonly refused: boolean;
}

function refuse(config: PartitionConfiguration, message: string): TalariaError {
  return new TalariaError("ERR_INVALID_STATE", `${gpidKey(config.gpid)}: ${message}`, {
    details: { config },
  });
}

/** The configuration the request leads to; throws the refusal. */
export function planConfigurationUpdate(
  state: ClusterState,
  body: UpdateConfigurationRequest,
  isBusy: (key: string) => boolean,
  observedCommittedDecree: (key: string) => number,
  lastChange: (key: string) => LastChange | undefined,
): PartitionConfiguration {
  const gpid = body.gpid as Partial<UpdateConfigurationRequest["gpid"]> | undefined;
  if (!Number.isSafeInteger(gpid?.appId) || !Number.isSafeInteger(gpid?.partitionIndex))
    throw new TalariaError("ERR_INVALID_PARAMETERS", "UPDATE_CONFIGURATION needs a gpid");
  const { appId, partitionIndex } = body.gpid;
  const app = state.apps.get(appId);
  if (app === undefined || app.status !== AppStatus.AVAILABLE)
    throw new TalariaError("ERR_APP_NOT_EXIST", `app ${appId} does not exist or is dropped`);
  const config = state.partition(appId, partitionIndex);
  if (config === undefined)
    throw new TalariaError(
      "ERR_OBJECT_NOT_FOUND",
      `partition ${appId}.${partitionIndex} does not exist`,
    );
  const key = gpidKey(config.gpid);
  if (body.node !== config.primary)
    throw refuse(config, `${String(body.node)} is not the primary (${config.primary ?? "none"})`);
  if (body.ballot !== config.ballot)
    throw refuse(
      config,
      `request is based on ballot ${String(body.ballot)}, current is ${config.ballot}`,
    );
  const last = lastChange(key);
  if (
    body.changeId !== undefined &&
    last !== undefined &&
    last.node === body.node &&
    last.ballot === body.ballot
  ) {
    if (last.changeId === 0)
      throw refuse(
        config,
        `the meta server changed leader since this primary's last change, which an earlier leader may have refused: ask again with a new change`,
      );
    if (body.changeId < last.changeId)
      throw refuse(config, `change ${body.changeId} was superseded by change ${last.changeId}`);
    if (body.changeId === last.changeId && last.refused)
      throw refuse(config, `change ${body.changeId} was refused already`);
  }
  // No configuration with ERR_BUSY: the change in flight may be this very request (a primary
  // retries), so the outcome is unknown, and a configuration at the requester's ballot would tell
  // it "not applied" (docs/replication.md) — it would stop gating commits on a learner that may
  // become a member.
  if (isBusy(key))
    throw new TalariaError("ERR_BUSY", `${key}: another configuration change is being persisted`);
  const change = body.change;
  const target = change?.node;
  if (!isNodeAddress(target))
    throw new TalariaError("ERR_INVALID_PARAMETERS", `${String(target)} is not a node address`);
  const members = membersOf(config);
  const committed = observedCommittedDecree(key);
  switch (change.type) {
    case "ADD_SECONDARY":
      if (members.includes(target)) throw refuse(config, `${target} is already a member`);
      if (members.length >= config.maxReplicaCount)
        throw refuse(config, `already ${members.length} of ${config.maxReplicaCount} replicas`);
      if (!state.isServing(target)) throw refuse(config, `${target} is not alive`);
      return nextConfiguration(
        config,
        { primary: config.primary, secondaries: [...config.secondaries, target], dropped: [] },
        committed,
      );
    case "REMOVE_SECONDARY":
      if (!config.secondaries.includes(target))
        throw refuse(config, `${target} is not a secondary`);
      return nextConfiguration(
        config,
        {
          primary: config.primary,
          secondaries: config.secondaries.filter((node) => node !== target),
          dropped: [target],
        },
        committed,
      );
    default: {
      const unknown: never = change;
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `unknown configuration change ${JSON.stringify((unknown as { type?: unknown }).type)}`,
      );
    }
  }
}
