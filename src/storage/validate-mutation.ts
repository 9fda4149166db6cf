/**
 * Checks a mutation and apply context before they are queued, so a malformed mutation fails at the
 * call instead of tripping an assertion inside a write transaction. Keys are checked later, where
 * they are encoded (inside the transaction), because that is where their size becomes known.
 */

import {
  type DuplicableUpdate,
  type Mutation,
  type Update,
  UpdateKind,
} from "../codec/mutation.ts";
import { TalariaError } from "../common/errors.ts";
import { formatLimits } from "../common/limits.ts";
import type { ApplyContext } from "./types.ts";

/** Largest timestamp a timetag can carry (56 bits). */
export const TIMETAG_TIMESTAMP_US_MAX = 2 ** 56 - 1;

/**
 * The decree rule: strictly increasing with no gaps, except that an empty store (last = 0) accepts
 * any first decree, so a replica can start from the decree its learner or checkpoint gave it.
 */
export function isNextDecree(lastAppliedDecree: number, decree: number): boolean {
  return (
    decree > lastAppliedDecree && (lastAppliedDecree === 0 || decree === lastAppliedDecree + 1)
  );
}

function invalid(message: string, details: Record<string, unknown> = {}): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", message, { details });
}

function checkTimestampUs(timestampUs: number, what: string): void {
  if (
    !Number.isSafeInteger(timestampUs) ||
    timestampUs < 0 ||
    timestampUs > TIMETAG_TIMESTAMP_US_MAX
  ) {
    throw invalid(`${what} timestampUs ${timestampUs} is not in [0, 2^56)`, { timestampUs });
  }
}

function checkClusterId(clusterId: number, min: number, what: string): void {
  if (!Number.isInteger(clusterId) || clusterId < min || clusterId > formatLimits.clusterIdMax) {
    throw invalid(
      `${what} clusterId ${clusterId} is not in [${min}, ${formatLimits.clusterIdMax}]`,
      {
        clusterId,
      },
    );
  }
}

function checkExpireTs(expireTs: number): void {
  if (!Number.isInteger(expireTs) || expireTs < 0 || expireTs > formatLimits.expireTsMax) {
    throw invalid(`expireTs ${expireTs} is not a u32`, { expireTs });
  }
}

function checkDuplicable(update: DuplicableUpdate): void {
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.MULTI_PUT:
      checkExpireTs(update.expireTs);
      return;
    case UpdateKind.REMOVE:
    case UpdateKind.MULTI_REMOVE:
      return;
    default:
      throw invalid(`update kind ${String((update as { kind: unknown }).kind)} inside a duplicate`);
  }
}

function checkUpdate(update: Update): void {
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
    case UpdateKind.MULTI_PUT:
    case UpdateKind.MULTI_REMOVE:
      checkDuplicable(update);
      return;
    case UpdateKind.DUPLICATE:
      for (const entry of update.entries) {
        checkTimestampUs(entry.timestampUs, "duplicate entry");
        checkClusterId(entry.clusterId, 1, "duplicate entry");
        checkDuplicable(entry.update);
      }
      return;
    case UpdateKind.EMPTY:
      return;
    default:
      throw invalid(`unknown update kind ${String((update as { kind: unknown }).kind)}`);
  }
}

export function validateMutation(mutation: Mutation): void {
  if (!Number.isSafeInteger(mutation.decree) || mutation.decree < 1) {
    throw invalid(`decree ${mutation.decree} is not a positive integer`, {
      decree: mutation.decree,
    });
  }
  checkTimestampUs(mutation.timestampUs, "mutation");
  for (const update of mutation.updates) checkUpdate(update);
}

export function validateApplyContext(ctx: ApplyContext): void {
  checkClusterId(ctx.clusterId, 0, "apply context");
}
