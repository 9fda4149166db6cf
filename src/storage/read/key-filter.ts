/**
 * Pegasus `filter_type` matching on hash keys and sort keys (`validate_filter` in
 * pegasus_server_impl.cpp): an empty pattern matches everything for every filter type, and a
 * pattern longer than the key never matches.
 */
import type { Buffer } from "node:buffer";
import { unreachable } from "../../common/index.ts";
import { FilterType, type KeyFilter } from "../types.ts";
import { asBuffer, checkBytes, invalidParameter } from "./option-checks.ts";

const FILTER_TYPES: ReadonlySet<unknown> = new Set(Object.values(FilterType));

export function checkKeyFilter(filter: KeyFilter | undefined, option: string): void {
  if (filter === undefined) return;
  if (typeof filter !== "object" || filter === null)
    throw invalidParameter(option, "expected a filter");
  if (!FILTER_TYPES.has(filter.type)) {
    throw invalidParameter(`${option}.type`, `unknown filter type ${String(filter.type)}`);
  }
  checkBytes(filter.pattern, `${option}.pattern`);
}

/** True when the filter lets every key through, so per-record matching can be skipped. */
export function isPassThrough(filter: KeyFilter | undefined): boolean {
  return (
    filter === undefined || filter.type === FilterType.NO_FILTER || filter.pattern.length === 0
  );
}

export function matchesKeyFilter(key: Buffer, filter: KeyFilter | undefined): boolean {
  if (filter === undefined || isPassThrough(filter)) return true;
  const pattern = asBuffer(filter.pattern);
  if (key.length < pattern.length) return false;
  switch (filter.type) {
    case FilterType.NO_FILTER:
      return true;
    case FilterType.MATCH_ANYWHERE:
      return key.indexOf(pattern) !== -1;
    case FilterType.MATCH_PREFIX:
      return key.compare(pattern, 0, pattern.length, 0, pattern.length) === 0;
    case FilterType.MATCH_POSTFIX:
      return key.compare(pattern, 0, pattern.length, key.length - pattern.length, key.length) === 0;
    default:
      return unreachable(filter.type, "filter type");
  }
}
