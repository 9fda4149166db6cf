/**
 * timetag (u64) = timestampUs << 8 | clusterId << 1 | deleteBit (Pegasus pegasus_value_schema.h).
 * Comparing two timetags as unsigned integers orders writes by time, then cluster id, then
 * delete-after-put: this single comparison is the whole last-write-wins rule.
 */
import { assert } from "../common/assert.ts";
import { formatLimits } from "../common/limits.ts";

export type Timetag = bigint;

const TIMESTAMP_US_MAX = 2 ** 56 - 1;

export function makeTimetag(timestampUs: number, clusterId: number, isDelete: boolean): Timetag {
  assert(
    Number.isSafeInteger(timestampUs) && timestampUs >= 0 && timestampUs <= TIMESTAMP_US_MAX,
    `timestampUs ${timestampUs}`,
  );
  assert(
    Number.isInteger(clusterId) && clusterId >= 0 && clusterId <= formatLimits.clusterIdMax,
    `clusterId ${clusterId}`,
  );
  return (BigInt(timestampUs) << 8n) | (BigInt(clusterId) << 1n) | (isDelete ? 1n : 0n);
}

export function timetagTimestampUs(timetag: Timetag): number {
  return Number((timetag >> 8n) & 0x00ff_ffff_ffff_ffffn);
}

export function timetagClusterId(timetag: Timetag): number {
  return Number((timetag >> 1n) & 0x7fn);
}

export function timetagIsDelete(timetag: Timetag): boolean {
  return (timetag & 1n) === 1n;
}
