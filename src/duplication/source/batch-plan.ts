/**
 * Turning a loaded batch of mutations into DUPLICATE requests: each entry routed by its own key to
 * a partition of the TARGET table, one ordered list of requests per target partition.
 *
 * Invariants:
 *  - Every PUT / REMOVE / MULTI_PUT / MULTI_REMOVE update of every mutation becomes exactly one
 *    entry, stamped with its mutation's timestamp and the source cluster id (its source timetag);
 *    DUPLICATE updates (writes that arrived by duplication: never forwarded, so no cycles) and
 *    EMPTY updates are skipped — and only they: their neighbours in the batch still ship.
 *  - Per target partition, entries keep decree order and, within a mutation, update order.
 *  - A mutation's entries bound for one partition travel in ONE request, never split: two writes
 *    of one mutation share a timetag, so only their order decides which wins, and a delayed copy
 *    of an earlier request could otherwise reorder them on the target.
 *  - A request holds at most `requestEntriesMax` entries and `requestBytesMax` entry bytes, unless
 *    a single mutation's group alone is larger (then it travels alone; the remote decides).
 *  - With `shipDuplicateEntries` (full re-sync only, whose "mutations" are a checkpoint's records
 *    as DUPLICATE entries with their own timetags) DUPLICATE updates' entries ship unchanged,
 *    timetags included. The private log never sets it: forwarding received writes would cycle.
 */
import {
  type DuplicateEntry,
  type Mutation,
  type Update,
  UpdateKind,
} from "../../codec/mutation.ts";
import { encodedUpdateBytes } from "../../codec/mutation-codec.ts";
import { unreachable } from "../../common/assert.ts";
import { entryPartitionIndex } from "../route.ts";

/** timestampUs (u64) + clusterId (u8) in front of each entry's update (mutation-codec.ts). */
export const DUPLICATE_ENTRY_HEADER_BYTES = 9;

export interface ShipRequest {
  readonly entries: readonly DuplicateEntry[];
  /** Encoded bytes of the entries (an upper bound of what the remote counts against its limit). */
  readonly bytes: number;
  /** Decrees of the first and last mutation with an entry in this request. */
  readonly fromDecree: number;
  readonly toDecree: number;
}

export interface PlannedBatch {
  /** Target partition → its requests, in order; only partitions with entries appear. */
  readonly streams: ReadonlyMap<number, readonly ShipRequest[]>;
  readonly entryCount: number;
  readonly entryBytes: number;
  /** DUPLICATE updates skipped (received by duplication, never forwarded). */
  readonly skippedDuplicateUpdates: number;
  readonly skippedEmptyUpdates: number;
}

export interface PlanOptions {
  readonly targetPartitionCount: number;
  readonly sourceClusterId: number;
  readonly requestBytesMax: number;
  readonly requestEntriesMax: number;
  /** Ship DUPLICATE updates' entries as they are instead of skipping them (re-sync). */
  readonly shipDuplicateEntries?: boolean;
}

export function duplicateEntryBytes(entry: DuplicateEntry): number {
  return DUPLICATE_ENTRY_HEADER_BYTES + encodedUpdateBytes(entry.update);
}

interface OpenRequest {
  entries: DuplicateEntry[];
  bytes: number;
  fromDecree: number;
  toDecree: number;
}

interface Group {
  readonly entries: DuplicateEntry[];
  bytes: number;
}

export function planBatch(mutations: readonly Mutation[], options: PlanOptions): PlannedBatch {
  const streams = new Map<number, ShipRequest[]>();
  const open = new Map<number, OpenRequest>();
  let entryCount = 0;
  let entryBytes = 0;
  let skippedDuplicateUpdates = 0;
  let skippedEmptyUpdates = 0;

  const close = (partition: number): void => {
    const request = open.get(partition);
    if (request === undefined) return;
    open.delete(partition);
    let list = streams.get(partition);
    if (list === undefined) {
      list = [];
      streams.set(partition, list);
    }
    list.push(request);
  };

  for (const mutation of mutations) {
    const groups = new Map<number, Group>();
    const add = (entry: DuplicateEntry): void => {
      const partition = entryPartitionIndex(entry.update, options.targetPartitionCount);
      let group = groups.get(partition);
      if (group === undefined) {
        group = { entries: [], bytes: 0 };
        groups.set(partition, group);
      }
      const bytes = duplicateEntryBytes(entry);
      group.entries.push(entry);
      group.bytes += bytes;
      entryCount++;
      entryBytes += bytes;
    };
    for (const update of mutation.updates) {
      if (update.kind === UpdateKind.DUPLICATE && options.shipDuplicateEntries === true) {
        for (const entry of update.entries) add(entry);
        continue;
      }
      const entry = toEntry(update, mutation.timestampUs, options.sourceClusterId);
      if (entry === "duplicate") {
        skippedDuplicateUpdates++;
        continue;
      }
      if (entry === "empty") {
        skippedEmptyUpdates++;
        continue;
      }
      add(entry);
    }
    for (const [partition, group] of groups) {
      const current = open.get(partition);
      if (
        current !== undefined &&
        (current.entries.length + group.entries.length > options.requestEntriesMax ||
          current.bytes + group.bytes > options.requestBytesMax)
      ) {
        close(partition);
      }
      const target = open.get(partition);
      if (target === undefined) {
        open.set(partition, {
          entries: [...group.entries],
          bytes: group.bytes,
          fromDecree: mutation.decree,
          toDecree: mutation.decree,
        });
      } else {
        target.entries.push(...group.entries);
        target.bytes += group.bytes;
        target.toDecree = mutation.decree;
      }
    }
  }
  for (const partition of [...open.keys()]) close(partition);
  const ordered = new Map([...streams.entries()].sort(([a], [b]) => a - b));
  return { streams: ordered, entryCount, entryBytes, skippedDuplicateUpdates, skippedEmptyUpdates };
}

function toEntry(
  update: Update,
  timestampUs: number,
  clusterId: number,
): DuplicateEntry | "duplicate" | "empty" {
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
    case UpdateKind.MULTI_PUT:
    case UpdateKind.MULTI_REMOVE:
      return { timestampUs, clusterId, update };
    case UpdateKind.DUPLICATE:
      return "duplicate";
    case UpdateKind.EMPTY:
      return "empty";
    default:
      return unreachable(update, "update kind");
  }
}
