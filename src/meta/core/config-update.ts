/**
 * UPDATE_CONFIGURATION from a primary: ADD_SECONDARY (a learner caught up) or REMOVE_SECONDARY
 * (a secondary stopped acking). The request names the ballot it is based on; only the current
 * primary, at the current ballot, gets a change through, so two primaries (an old one that has not
 * yet noticed it was replaced, and the new one) can never both change a configuration. A refusal
 * carries the current configuration in `details.config` so the requester can catch up; a
 * configuration at the requester's own ballot means "certainly not applied". ERR_BUSY (another
 * change of the partition is being persisted, perhaps this same request sent earlier) carries
 * none: its outcome is unknown.
 */
import { TalariaError } from "../../common/errors.ts";
import type { PartitionConfiguration, UpdateConfigurationRequest } from "../../protocol/index.ts";
import { AppStatus, gpidKey, isNodeAddress } from "../../protocol/index.ts";
import { type ClusterState, membersOf, nextConfiguration } from "./state.ts";

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
