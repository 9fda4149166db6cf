/**
 * Replaying dead letters (the shell's `dup dead-letters replay`): each letter's entries are routed
 * again by the remote table's CURRENT partition count and sent; a letter is removed once all its
 * entries are acknowledged, and kept otherwise. The target applies duplicated entries
 * last-write-wins by their source timetag, so an entry older than what the target holds changes
 * nothing.
 *
 * But an entry older than a tombstone the target has already COLLECTED (after
 * `tombstone_retention_seconds`) would bring the deleted key back. So, given the source's stored
 * state (`storedTimetag`), each record an entry writes is sent only while it is still the
 * source's own latest version of that record: a put whose very timetag the source still holds, a
 * delete the source has not overwritten since. Whatever changed a record since is newer and was
 * (or will be) shipped on its own; the superseded part of the entry is counted and dropped. That
 * makes a replay safe at any time and any number of times.
 *
 * "load" letters (plog decrees that could not be read) carry no entries: they are reported as not
 * replayable and kept, as the record of what a full re-sync must cover.
 */
import { type DuplicableUpdate, type DuplicateEntry, UpdateKind } from "../../codec/mutation.ts";
import {
  type Timetag,
  timetagClusterId,
  timetagIsDelete,
  timetagTimestampUs,
} from "../../codec/timetag.ts";
import { entryPartitionIndex } from "../route.ts";
import type { DeadLetterStore } from "./dead-letter-store.ts";
import type { DuplicationError } from "./events.ts";
import { type RemoteTable, toDuplicationError } from "./ports.ts";

export interface ReplayOptions {
  /** Only this duplication's letters; all when absent. */
  readonly dupid?: number;
  /** The remote table's partition count now. */
  readonly partitionCount: number;
  readonly timeoutMs: number;
  /** Most letters to replay in this call (the store's list cap applies). */
  readonly limit?: number;
  /** The source's stored state; without it every entry is sent as it is. */
  readonly storedTimetag?: StoredTimetagReader;
}

/**
 * The timetag of the record the source stores now for a key — live, expired or tombstone — or
 * undefined when it stores none.
 */
export type StoredTimetagReader = (hashKey: Buffer, sortKey: Buffer) => Timetag | undefined;

export interface ReplayResult {
  readonly replayedLetters: number;
  readonly replayedEntries: number;
  /** Records of replayed letters left out: the source changed them since (stillCurrent). */
  readonly supersededRecords: number;
  readonly failed: readonly { readonly id: number; readonly error: DuplicationError }[];
  /** Ids of letters without entries (unreadable plog decrees), kept. */
  readonly notReplayable: readonly number[];
}

export async function replayDeadLetters(
  store: DeadLetterStore,
  remote: RemoteTable,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const letters = await store.list({
    ...(options.dupid === undefined ? {} : { dupid: options.dupid }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
  let replayedLetters = 0;
  let replayedEntries = 0;
  let supersededRecords = 0;
  const failed: { id: number; error: DuplicationError }[] = [];
  const notReplayable: number[] = [];
  for (const letter of letters) {
    if (letter.entries.length === 0) {
      notReplayable.push(letter.id);
      continue;
    }
    let entries: readonly DuplicateEntry[] = letter.entries;
    let superseded = 0;
    if (options.storedTimetag !== undefined) {
      const reader = options.storedTimetag;
      const kept: DuplicateEntry[] = [];
      for (const entry of letter.entries) {
        const current = stillCurrent(entry, reader);
        superseded += current.superseded;
        if (current.entry !== undefined) kept.push(current.entry);
      }
      entries = kept;
    }
    try {
      for (const [partition, routed] of routeEntries(entries, options.partitionCount)) {
        await remote.duplicate(partition, routed, {
          partitionCount: options.partitionCount,
          timeoutMs: options.timeoutMs,
        });
      }
      await store.remove(letter.id);
      replayedLetters++;
      replayedEntries += entries.length;
      supersededRecords += superseded;
    } catch (error) {
      failed.push({ id: letter.id, error: toDuplicationError(error) });
    }
  }
  return { replayedLetters, replayedEntries, supersededRecords, failed, notReplayable };
}

/**
 * What of `entry` is still the source's latest: each record it writes is kept while the source
 * stores that very version of it — for a put, the same timestamp, cluster id and no delete bit;
 * for a delete, a tombstone with that timestamp and cluster id, or nothing (the tombstone was
 * collected, nothing was written since). A stored cluster id 0 (written before the cluster had
 * one) matches any. Returns the entry cut down to those records (undefined when none is left) and
 * how many records were dropped.
 */
export function stillCurrent(
  entry: DuplicateEntry,
  stored: StoredTimetagReader,
): { readonly entry: DuplicateEntry | undefined; readonly superseded: number } {
  const current = (hashKey: Buffer, sortKey: Buffer, isDelete: boolean): boolean => {
    const timetag = stored(hashKey, sortKey);
    if (timetag === undefined) return isDelete;
    const clusterId = timetagClusterId(timetag);
    return (
      timetagTimestampUs(timetag) === entry.timestampUs &&
      timetagIsDelete(timetag) === isDelete &&
      (clusterId === entry.clusterId || clusterId === 0)
    );
  };
  const update = entry.update;
  let kept: DuplicableUpdate | undefined;
  let superseded = 0;
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
      if (current(update.hashKey, update.sortKey, update.kind === UpdateKind.REMOVE)) kept = update;
      else superseded = 1;
      break;
    case UpdateKind.MULTI_PUT: {
      const kvs = update.kvs.filter((kv) => current(update.hashKey, kv.sortKey, false));
      superseded = update.kvs.length - kvs.length;
      if (kvs.length > 0) kept = superseded === 0 ? update : { ...update, kvs };
      break;
    }
    case UpdateKind.MULTI_REMOVE: {
      const sortKeys = update.sortKeys.filter((sortKey) => current(update.hashKey, sortKey, true));
      superseded = update.sortKeys.length - sortKeys.length;
      if (sortKeys.length > 0) kept = superseded === 0 ? update : { ...update, sortKeys };
      break;
    }
  }
  return { entry: kept === undefined ? undefined : { ...entry, update: kept }, superseded };
}

/** Entries grouped by target partition, order kept within each group. */
export function routeEntries(
  entries: readonly DuplicateEntry[],
  partitionCount: number,
): Map<number, DuplicateEntry[]> {
  const groups = new Map<number, DuplicateEntry[]>();
  for (const entry of entries) {
    const partition = entryPartitionIndex(entry.update, partitionCount);
    const group = groups.get(partition);
    if (group === undefined) groups.set(partition, [entry]);
    else group.push(entry);
  }
  return groups;
}
