/**
 * One partition of one simulated cluster, as its primary sees it: a log of mutations (the plog a
 * shipper reads, garbage-collected below the duplications' hold), an in-memory store written with
 * the real storage apply rule, and the real HybridClock on a skewed wall clock. Replication inside
 * the cluster is the single-cluster simulator's business: here a primary change is a short
 * outage after which the new primary's hybrid clock resumes past every timestamp in store and log
 * (as replica-files.ts does) on another node's — differently skewed — clock.
 */

import { decodeKey, encodeKey } from "../../codec/key-schema.ts";
import {
  type DuplicateEntry,
  type Mutation,
  type Update,
  UpdateKind,
} from "../../codec/mutation.ts";
import { encodedMutationBytes } from "../../codec/mutation-codec.ts";
import { timetagIsDelete, timetagTimestampUs } from "../../codec/timetag.ts";
import { decodeValue } from "../../codec/value-schema.ts";
import { assert } from "../../common/assert.ts";
import type { Clock } from "../../common/clock.ts";
import type { RecordSource } from "../../duplication/index.ts";
import { HybridClock } from "../../replica/index.ts";
import {
  type ApplyOutcome,
  applyMutation,
  STORED_KEY_BYTES_MAX,
  type StoredRecord,
} from "../../storage/index.ts";
import { MemoryRecordStore } from "./memory-record-store.ts";

type EngineMeta = ApplyOutcome["meta"];

export interface LogEntry {
  readonly mutation: Mutation;
  readonly bytes: number;
}

/** Largest timestamp a mutation carries (its own, or a duplicated entry's). */
function maxTimestampUs(mutation: Mutation): number {
  let max = mutation.timestampUs;
  for (const update of mutation.updates) {
    if (update.kind !== UpdateKind.DUPLICATE) continue;
    for (const entry of update.entries) max = Math.max(max, entry.timestampUs);
  }
  return max;
}

export class SimPartition {
  readonly store = new MemoryRecordStore();
  private meta: EngineMeta = { lastAppliedDecree: 0, maxTimestampUs: 0, lastResyncDecree: 0 };
  private log: LogEntry[] = [];
  /** Decree of log[0] (everything below was collected). */
  firstDecree = 1;
  lastDecree = 0;
  logBytes = 0;
  private ballot = 1;
  private clock: HybridClock;
  /** The wall clock of the node the primary runs on (changes with the primary). */
  private wallClock: Clock;
  /** Unavailable (primary change in progress) until this sim time. */
  downUntilMs = 0;
  staleEntriesSkipped = 0;

  constructor(
    readonly clusterId: number,
    readonly index: number,
    wallClock: Clock,
  ) {
    this.wallClock = wallClock;
    this.clock = new HybridClock(wallClock, 0);
  }

  /** The primary's wall clock now (ms). */
  wallNowMs(): number {
    return this.wallClock.nowMs();
  }

  available(nowMs: number): boolean {
    return nowMs >= this.downUntilMs;
  }

  /** A client write: stamped by the hybrid clock, logged, applied (committed at once). */
  writeLocal(updates: readonly Update[]): number {
    return this.append(updates, this.clock.next());
  }

  /**
   * The last decree holding a received re-sync's writes, as storage records it on applying them
   * (meta `last_resync_decree`: every replica, restarts and new primaries included); 0 when none.
   */
  resyncReceivedThrough = 0;

  /** A DUPLICATE request: its entries' timestamps are observed first, then it is one mutation. */
  receiveDuplicate(entries: readonly DuplicateEntry[]): number {
    for (const entry of entries) this.clock.observe(entry.timestampUs);
    return this.append([{ kind: UpdateKind.DUPLICATE, entries }], this.clock.next());
  }

  private append(updates: readonly Update[], timestampUs: number): number {
    const mutation: Mutation = {
      ballot: this.ballot,
      decree: this.lastDecree + 1,
      timestampUs,
      updates,
    };
    this.clock.observe(maxTimestampUs(mutation));
    const outcome = applyMutation(
      this.store,
      this.meta,
      mutation,
      { clusterId: this.clusterId, keepTombstones: true },
      STORED_KEY_BYTES_MAX,
    );
    this.meta = outcome.meta;
    this.staleEntriesSkipped += outcome.staleEntriesSkipped;
    const bytes = encodedMutationBytes(mutation);
    this.log.push({ mutation, bytes });
    this.logBytes += bytes;
    this.lastDecree = mutation.decree;
    return mutation.decree;
  }

  /**
   * Committed mutations `fromDecree..toDecree`, about `bytesMax` payload bytes (at least one), or
   * "gone" when the log was collected past `fromDecree`.
   */
  read(fromDecree: number, toDecree: number, bytesMax: number): LogEntry[] | "gone" {
    if (fromDecree < this.firstDecree) return "gone";
    const out: LogEntry[] = [];
    let bytes = 0;
    for (let d = fromDecree; d <= Math.min(toDecree, this.lastDecree); d++) {
      if (out.length > 0 && bytes >= bytesMax) break;
      const entry = this.log[d - this.firstDecree];
      assert(entry !== undefined && entry.mutation.decree === d, "the log is contiguous");
      out.push(entry);
      bytes += entry.bytes;
    }
    return out;
  }

  /** Plog bytes at or above `decree`. */
  bytesFrom(decree: number): number {
    let bytes = 0;
    for (let i = Math.max(0, decree - this.firstDecree); i < this.log.length; i++) {
      bytes += (this.log[i] as LogEntry).bytes;
    }
    return bytes;
  }

  /** Drops log entries below `belowDecree` (never above what storage holds: everything here). */
  gc(belowDecree: number): void {
    const drop = Math.min(belowDecree, this.lastDecree + 1) - this.firstDecree;
    if (drop <= 0) return;
    for (const entry of this.log.slice(0, drop)) this.logBytes -= entry.bytes;
    this.log = this.log.slice(drop);
    this.firstDecree += drop;
  }

  /** The timetag stored for a key, tombstones included (a dead-letter replay's question). */
  storedTimetag(hashKey: Buffer, sortKey: Buffer): bigint | undefined {
    const stored = this.store.get(encodeKey(hashKey, sortKey));
    return stored === undefined ? undefined : decodeValue(stored).timetag;
  }

  /**
   * The sweeper's tombstone collection (storage/sweep.ts): removes every tombstone whose timetag
   * timestamp is below `collectBeforeUs`; returns how many. (Sim writes never expire.)
   */
  collectTombstones(collectBeforeUs: number): number {
    const old: Buffer[] = [];
    for (const [, { key, value }] of this.store.entries()) {
      const { timetag } = decodeValue(value);
      if (timetagIsDelete(timetag) && timetagTimestampUs(timetag) < collectBeforeUs) old.push(key);
    }
    for (const key of old) this.store.remove(key);
    return old.length;
  }

  /**
   * A dup checkpoint (DS_PREPARE): the applied state as of the last decree, every stored record
   * (tombstones included) in stored-key order, as CheckpointReader reads an lmdb checkpoint.
   */
  checkpoint(): { readonly decree: number; readonly source: RecordSource } {
    const records: StoredRecord[] = [];
    for (const [, { key, value }] of this.store.entries()) {
      const { hashKey, sortKey } = decodeKey(key);
      const stored = decodeValue(value);
      records.push({
        key: Buffer.from(key),
        hashKey,
        sortKey,
        expireTs: stored.expireTs,
        timetag: stored.timetag,
        value: stored.value,
      });
    }
    records.sort((a, b) => Buffer.compare(a.key, b.key));
    return { decree: this.lastDecree, source: sortedRecordSource(records) };
  }

  /**
   * A new primary on another node: a higher ballot, and a hybrid clock on that node's wall clock
   * resuming past every timestamp in store and log.
   */
  changePrimary(wallClock: Clock, downUntilMs: number): void {
    this.ballot++;
    let resume = this.meta.maxTimestampUs;
    for (const entry of this.log) resume = Math.max(resume, maxTimestampUs(entry.mutation));
    this.wallClock = wallClock;
    this.clock = new HybridClock(wallClock, resume);
    this.downUntilMs = downUntilMs;
  }
}

/** A RecordSource over records already in stored-key order. */
function sortedRecordSource(records: readonly StoredRecord[]): RecordSource {
  return {
    read(afterKey, limit) {
      let low = 0;
      if (afterKey !== undefined) {
        let high = records.length;
        while (low < high) {
          const mid = (low + high) >>> 1;
          if (Buffer.compare((records[mid] as StoredRecord).key, afterKey) <= 0) low = mid + 1;
          else high = mid;
        }
      }
      return records.slice(low, low + limit);
    },
  };
}
