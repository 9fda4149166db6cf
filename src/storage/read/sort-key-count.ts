/**
 * Pegasus `sortkey_count`: the number of visible records of one hash key. It is exact, so it
 * walks every stored record of the hash key, tombstones and expired records included: the cost is
 * O(records stored under the hash key) with no iteration bound. Callers that need a bounded
 * answer should page with multiGetRange instead.
 */
import type { Buffer } from "node:buffer";
import { hashKeyPrefix } from "../../codec/index.ts";
import { prefixSuccessor } from "./key-range.ts";
import { checkBytes } from "./option-checks.ts";
import type { ReadableStore } from "./read-store.ts";
import { decodeVisible } from "./visible-value.ts";

export function sortKeyCount(store: ReadableStore, hashKey: Buffer, epochNow: number): number {
  checkBytes(hashKey, "hashKey");
  const prefix = hashKeyPrefix(hashKey);
  const end = prefixSuccessor(prefix);
  let count = 0;
  for (const { value } of store.getRange({
    start: prefix,
    ...(end === undefined ? {} : { end }),
  })) {
    if (decodeVisible(value, epochNow) !== undefined) count++;
  }
  return count;
}
