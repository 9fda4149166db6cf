/**
 * Applying one mutation to the records of a replica: a synchronous core that runs to completion
 * inside the caller's write transaction, against the RecordStore port.
 *
 * Invariants:
 *   - Updates apply in order; a later update of the same mutation sees the earlier ones.
 *   - Local writes (PUT/REMOVE/MULTI_*) overwrite unconditionally with timetag
 *     (mutation.timestampUs, ctx.clusterId): the replica's hybrid clock keeps them newer than
 *     anything it has stored (see maxTimestampUs).
 *   - Duplicated writes are last-write-wins per stored key, whatever the stored record is (live,
 *     expired or a tombstone): a write older than the stored one — smaller (timestamp, clusterId),
 *     i.e. smaller timetag ignoring the delete bit — is skipped. An equal (timestamp, clusterId)
 *     can only come from the same source mutation (one replica's hybrid clock never repeats a
 *     timestamp, and one key lives on one replica), whose updates to one key ship in order: they
 *     apply in that order, exactly as the source applied them, so `put a; put b` ends as b and
 *     `del; put` ends as the put on every cluster. Across different writes the final contents
 *     depend only on the set of writes, not the order they arrive in.
 *   - A duplicated delete always leaves a tombstone; a local delete does when ctx.keepTombstones.
 *   - The returned meta is the caller's to persist in the same transaction.
 */

import { encodeKey } from "../codec/key-schema.ts";
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  type Mutation,
  UpdateKind,
} from "../codec/mutation.ts";
import { makeTimetag, type Timetag } from "../codec/timetag.ts";
import { decodeValue, encodeValue } from "../codec/value-schema.ts";
import { assert, unreachable } from "../common/assert.ts";
import { checkLimit, TalariaError } from "../common/errors.ts";
import type { EngineMeta } from "./meta-store.ts";
import type { ApplyContext } from "./types.ts";
import { isNextDecree } from "./validate-mutation.ts";

/** The records the core reads and writes: stored keys to stored values (value schema v1). */
export interface RecordStore {
  get(key: Buffer): Buffer | undefined;
  put(key: Buffer, value: Buffer): void;
  remove(key: Buffer): void;
}

export interface ApplyOutcome {
  readonly meta: EngineMeta;
  readonly staleEntriesSkipped: number;
  /**
   * Per update of a mutation holding more than one DUPLICATE update (coalesced DUPLICATE
   * requests): how many of that update's entries were stale. Absent otherwise.
   */
  readonly staleEntriesSkippedByUpdate?: readonly number[];
}

const EMPTY_VALUE = Buffer.alloc(0);

/** How a write is reconciled with the stored record. */
interface WriteMode {
  /** Duplicated writes compare timetags; local writes overwrite. */
  readonly lastWriteWins: boolean;
  /** Whether a delete leaves a tombstone (otherwise the key is removed). */
  readonly keepTombstones: boolean;
}

class MutationApplier {
  staleEntriesSkipped = 0;

  constructor(
    private readonly records: RecordStore,
    private readonly storedKeyBytesMax: number,
  ) {}

  /** Encodes and bounds a key; lmdb cannot hold keys beyond storedKeyBytesMax. */
  private storedKey(hashKey: Buffer, sortKey: Buffer): Buffer {
    const key = encodeKey(hashKey, sortKey);
    checkLimit("storedKeyBytesMax", key.length, this.storedKeyBytesMax, "stored key");
    return key;
  }

  private write(key: Buffer, timetag: Timetag, record: Buffer | undefined, mode: WriteMode): void {
    if (mode.lastWriteWins) {
      const stored = this.records.get(key);
      if (stored !== undefined && decodeValue(stored).timetag >> 1n > timetag >> 1n) {
        this.staleEntriesSkipped++;
        return;
      }
    }
    if (record !== undefined) this.records.put(key, record);
    else if (mode.keepTombstones) this.records.put(key, encodeValue(0, timetag, EMPTY_VALUE));
    else this.records.remove(key);
  }

  applyWrite(update: DuplicableUpdate, timestampUs: number, clusterId: number, mode: WriteMode) {
    switch (update.kind) {
      case UpdateKind.PUT: {
        const timetag = makeTimetag(timestampUs, clusterId, false);
        const record = encodeValue(update.expireTs, timetag, update.value);
        this.write(this.storedKey(update.hashKey, update.sortKey), timetag, record, mode);
        return;
      }
      case UpdateKind.REMOVE: {
        const timetag = makeTimetag(timestampUs, clusterId, true);
        this.write(this.storedKey(update.hashKey, update.sortKey), timetag, undefined, mode);
        return;
      }
      case UpdateKind.MULTI_PUT: {
        const timetag = makeTimetag(timestampUs, clusterId, false);
        for (const kv of update.kvs) {
          const record = encodeValue(update.expireTs, timetag, kv.value);
          this.write(this.storedKey(update.hashKey, kv.sortKey), timetag, record, mode);
        }
        return;
      }
      case UpdateKind.MULTI_REMOVE: {
        const timetag = makeTimetag(timestampUs, clusterId, true);
        for (const sortKey of update.sortKeys) {
          this.write(this.storedKey(update.hashKey, sortKey), timetag, undefined, mode);
        }
        return;
      }
      default:
        unreachable(update, "duplicable update kind");
    }
  }
}

const DUPLICATED_MODE: WriteMode = { lastWriteWins: true, keepTombstones: true };

/**
 * Applies `mutation` on top of `meta` and returns the meta to persist with it. Throws
 * ERR_INVALID_STATE when the decree does not follow `meta.lastAppliedDecree`; any throw leaves
 * partial writes behind, so the caller must run this in a transaction it aborts on error.
 */
export function applyMutation(
  records: RecordStore,
  meta: EngineMeta,
  mutation: Mutation,
  ctx: ApplyContext,
  storedKeyBytesMax: number,
): ApplyOutcome {
  if (!isNextDecree(meta.lastAppliedDecree, mutation.decree)) {
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `decree ${mutation.decree} does not follow last applied decree ${meta.lastAppliedDecree}`,
      { details: { decree: mutation.decree, lastAppliedDecree: meta.lastAppliedDecree } },
    );
  }
  const applier = new MutationApplier(records, storedKeyBytesMax);
  const localMode: WriteMode = { lastWriteWins: false, keepTombstones: ctx.keepTombstones };
  let maxTimestampUs = Math.max(meta.maxTimestampUs, mutation.timestampUs);
  let lastResyncDecree = meta.lastResyncDecree;
  const byUpdate = countDuplicates(mutation) > 1 ? mutation.updates.map(() => 0) : undefined;
  for (const [index, update] of mutation.updates.entries()) {
    switch (update.kind) {
      case UpdateKind.PUT:
      case UpdateKind.REMOVE:
      case UpdateKind.MULTI_PUT:
      case UpdateKind.MULTI_REMOVE:
        applier.applyWrite(update, mutation.timestampUs, ctx.clusterId, localMode);
        break;
      case UpdateKind.DUPLICATE: {
        const staleBefore = applier.staleEntriesSkipped;
        for (const entry of update.entries) {
          applyDuplicateEntry(applier, entry);
          maxTimestampUs = Math.max(maxTimestampUs, entry.timestampUs);
        }
        if (byUpdate !== undefined) byUpdate[index] = applier.staleEntriesSkipped - staleBefore;
        if (update.resync === true) lastResyncDecree = mutation.decree;
        break;
      }
      case UpdateKind.EMPTY:
        break;
      default:
        unreachable(update, "update kind");
    }
  }
  assert(maxTimestampUs >= meta.maxTimestampUs, "maxTimestampUs never decreases");
  return {
    meta: { lastAppliedDecree: mutation.decree, maxTimestampUs, lastResyncDecree },
    staleEntriesSkipped: applier.staleEntriesSkipped,
    ...(byUpdate === undefined ? {} : { staleEntriesSkippedByUpdate: byUpdate }),
  };
}

function countDuplicates(mutation: Mutation): number {
  let count = 0;
  for (const update of mutation.updates) if (update.kind === UpdateKind.DUPLICATE) count++;
  return count;
}

function applyDuplicateEntry(applier: MutationApplier, entry: DuplicateEntry): void {
  applier.applyWrite(entry.update, entry.timestampUs, entry.clusterId, DUPLICATED_MODE);
}
