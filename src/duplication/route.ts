/**
 * Where a duplicated write goes on the remote table: its OWN key hashed modulo the TARGET table's
 * partition count — the same rule clients route by (key-schema.ts partitionIndex), so the receiving
 * replica's key check passes and hash-routed reads find the record. PUT and REMOVE route by
 * (hashKey, sortKey) (an empty hash key hashes the sort key); MULTI_PUT and MULTI_REMOVE by their
 * hash key, and are never split: every record of one hash key lives in one partition.
 */
import { partitionIndex } from "../codec/key-schema.ts";
import { type DuplicableUpdate, UpdateKind } from "../codec/mutation.ts";
import { unreachable } from "../common/assert.ts";

const EMPTY = Buffer.alloc(0);

/** The key a duplicated update is routed (and checked) by: `[hashKey, sortKey]`. */
export function routingKey(update: DuplicableUpdate): readonly [Buffer, Buffer] {
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
      return [update.hashKey, update.sortKey];
    case UpdateKind.MULTI_PUT:
    case UpdateKind.MULTI_REMOVE:
      return [update.hashKey, EMPTY];
    default:
      return unreachable(update, "duplicable update kind");
  }
}

/** The partition of a table of `partitionCount` partitions that holds `update`'s records. */
export function entryPartitionIndex(update: DuplicableUpdate, partitionCount: number): number {
  const [hashKey, sortKey] = routingKey(update);
  return partitionIndex(hashKey, sortKey, partitionCount);
}
