/**
 * Replaying dead letters (the shell's `dup dead-letters replay`): each letter's entries are routed
 * again by the remote table's CURRENT partition count and sent; a letter is removed once all its
 * entries are acknowledged, and kept otherwise. Replaying is safe at any time and any number of
 * times: the target applies duplicated entries last-write-wins by their source timetag, so an
 * entry older than what the target holds changes nothing.
 *
 * "load" letters (plog decrees that could not be read) carry no entries: they are reported as not
 * replayable and kept, as the record of what a full re-sync must cover.
 */
import type { DuplicateEntry } from "../../codec/mutation.ts";
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
}

export interface ReplayResult {
  readonly replayedLetters: number;
  readonly replayedEntries: number;
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
  const failed: { id: number; error: DuplicationError }[] = [];
  const notReplayable: number[] = [];
  for (const letter of letters) {
    if (letter.entries.length === 0) {
      notReplayable.push(letter.id);
      continue;
    }
    try {
      for (const [partition, entries] of routeEntries(letter.entries, options.partitionCount)) {
        await remote.duplicate(partition, entries, {
          partitionCount: options.partitionCount,
          timeoutMs: options.timeoutMs,
        });
      }
      await store.remove(letter.id);
      replayedLetters++;
      replayedEntries += letter.entries.length;
    } catch (error) {
      failed.push({ id: letter.id, error: toDuplicationError(error) });
    }
  }
  return { replayedLetters, replayedEntries, failed, notReplayable };
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
