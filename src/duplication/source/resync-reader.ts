/**
 * Full re-sync, source side: a checkpoint's records presented as the "log" a DuplicationShipper
 * ships, so a re-sync reuses the shipper's loading, routing, batching, ordered streams, retries
 * and fail modes instead of being a second sender.
 *
 * Record n (1-based, stored-key order) of the checkpoint is "decree" n: a mutation holding one
 * DUPLICATE entry with the record's OWN timetag — its timestamp, cluster id and delete bit — so
 * the remote's last-write-wins keeps whatever it has that is newer. Tombstones become REMOVEs,
 * expired records PUTs with their past expiry (the remote then holds the same invisible record,
 * which still beats older data). The core ships DUPLICATE entries only with
 * `shipDuplicateEntries` (options.ts), which only re-syncs set.
 *
 * Invariants:
 *  - Numbering is a pure function of the (immutable) checkpoint, so any decree can be read again
 *    and means the same record; the sequential case costs one bounded lmdb range read per LOAD.
 *  - A record the remote must not receive becomes an EMPTY mutation (skipped, not renumbered).
 *  - Progress in bytes counts encoded entry bytes, the same measure as `totals.bytes`.
 */
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  type Mutation,
  UpdateKind,
} from "../../codec/mutation.ts";
import { timetagClusterId, timetagIsDelete, timetagTimestampUs } from "../../codec/timetag.ts";
import { TalariaError } from "../../common/errors.ts";
import type { ReadOptions } from "../../plog/index.ts";
import { CHECKPOINT_READ_RECORDS_MAX, type StoredRecord } from "../../storage/index.ts";
import { duplicateEntryBytes } from "./batch-plan.ts";
import type { DecodedBatch, DuplicationLogReader } from "./ports.ts";

/** A checkpoint's records in stored-key order (storage's CheckpointReader). */
export interface RecordSource {
  /** Up to `limit` records strictly after `afterKey` (from the first when undefined). */
  read(afterKey: Buffer | undefined, limit: number): readonly StoredRecord[];
}

export interface ResyncIds {
  /** This cluster's id: stamped on records written before it had one (cluster id 0). */
  readonly sourceClusterId: number;
  /** The remote cluster's id in `[duplication-group]`, when known. */
  readonly remoteClusterId?: number;
}

export interface ResyncTotals {
  /** Records in the checkpoint: the last "decree". */
  readonly records: number;
  /** Encoded entry bytes of every record that ships. */
  readonly bytes: number;
}

/**
 * The entry record `record` ships as, or undefined when the remote must not receive it: a record
 * whose timetag names the remote cluster came from there (the remote holds it or something
 * newer, and refuses its own id as a self-duplication).
 */
export function recordEntry(record: StoredRecord, ids: ResyncIds): DuplicateEntry | undefined {
  const stamped = timetagClusterId(record.timetag);
  if (ids.remoteClusterId !== undefined && stamped === ids.remoteClusterId) return undefined;
  const update: DuplicableUpdate = timetagIsDelete(record.timetag)
    ? { kind: UpdateKind.REMOVE, hashKey: record.hashKey, sortKey: record.sortKey }
    : {
        kind: UpdateKind.PUT,
        hashKey: record.hashKey,
        sortKey: record.sortKey,
        value: record.value,
        expireTs: record.expireTs,
      };
  return {
    timestampUs: timetagTimestampUs(record.timetag),
    clusterId: stamped === 0 ? ids.sourceClusterId : stamped,
    update,
  };
}

/** Record `decree` of the checkpoint as the mutation the core loads. */
export function recordMutation(record: StoredRecord, decree: number, ids: ResyncIds): Mutation {
  const entry = recordEntry(record, ids);
  return entry === undefined
    ? { ballot: 0, decree, timestampUs: 0, updates: [{ kind: UpdateKind.EMPTY }] }
    : {
        ballot: 0,
        decree,
        timestampUs: entry.timestampUs,
        updates: [{ kind: UpdateKind.DUPLICATE, entries: [entry] }],
      };
}

function shippedBytes(record: StoredRecord, ids: ResyncIds): number {
  const entry = recordEntry(record, ids);
  return entry === undefined ? 0 : duplicateEntryBytes(entry);
}

/**
 * Counts a checkpoint's records and bytes, one bounded read per step: yields between reads, and
 * returns the totals once a read comes back short.
 */
function* countSteps(source: RecordSource, ids: ResyncIds): Generator<void, ResyncTotals> {
  let records = 0;
  let bytes = 0;
  let afterKey: Buffer | undefined;
  for (;;) {
    const chunk = source.read(afterKey, CHECKPOINT_READ_RECORDS_MAX);
    for (const record of chunk) bytes += shippedBytes(record, ids);
    records += chunk.length;
    const last = chunk.at(-1);
    if (last === undefined || chunk.length < CHECKPOINT_READ_RECORDS_MAX) return { records, bytes };
    afterKey = last.key;
    yield;
  }
}

/** Counts a checkpoint's records and bytes, yielding between bounded reads. */
export async function countRecords(
  source: RecordSource,
  ids: ResyncIds,
  yieldBetween: () => Promise<void>,
): Promise<ResyncTotals> {
  const steps = countSteps(source, ids);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return step.value;
    await yieldBetween();
  }
}

/** countRecords in one synchronous go (the simulator's, and small checkpoints'). */
export function countRecordsNow(source: RecordSource, ids: ResyncIds): ResyncTotals {
  const steps = countSteps(source, ids);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return step.value;
  }
}

interface Position {
  /** The decree of the next record. */
  readonly decree: number;
  /** The stored key of the record before it (undefined: from the first record). */
  readonly afterKey: Buffer | undefined;
  /** Shipped bytes of the records before it. */
  readonly bytesBefore: number;
}

const START: Position = { decree: 1, afterKey: undefined, bytesBefore: 0 };
/** Records one step of a LOAD reads (a LOAD may take several, up to its bytes). */
const READ_CHUNK_RECORDS = 1024;
/** Ends of recent reads remembered for progress (one batch is in flight at a time). */
const READ_ENDS_KEPT = 16;

/** The checkpoint as a DuplicationLogReader; `committedDecree` = its record count. */
export class ResyncLogReader implements DuplicationLogReader {
  /** Where the next sequential read starts, and where the previous one started (a retry). */
  private next: Position = START;
  private previous: Position = START;
  /** Decree ending a read → shipped bytes through it. */
  private readonly readEnds = new Map<number, number>();

  constructor(
    private readonly source: RecordSource,
    private readonly ids: ResyncIds,
    readonly totals: ResyncTotals,
  ) {}

  committedDecree(): number {
    return this.totals.records;
  }

  /** A checkpoint holds no plog: nothing counts against the log retention bounds. */
  retainedBytesFrom(): number {
    return 0;
  }

  read(): Promise<never> {
    return Promise.reject(
      new TalariaError("ERR_INVALID_STATE", "a re-sync reader holds mutations, not log records"),
    );
  }

  async readMutations(fromDecree: number, options: ReadOptions): Promise<DecodedBatch> {
    return this.readMutationsNow(fromDecree, options);
  }

  /** readMutations, synchronously (a checkpoint read does not wait on anything). */
  readMutationsNow(fromDecree: number, options: ReadOptions): DecodedBatch {
    const toDecree = Math.min(options.toDecree ?? this.totals.records, this.totals.records);
    if (fromDecree > toDecree) return { mutations: [], bytes: 0 };
    let position = this.positionOf(fromDecree);
    this.previous = position;
    const mutations: Mutation[] = [];
    let bytes = 0;
    while (position.decree <= toDecree && (mutations.length === 0 || bytes < options.bytesMax)) {
      const limit = Math.min(READ_CHUNK_RECORDS, toDecree - position.decree + 1);
      const chunk = this.source.read(position.afterKey, limit);
      if (chunk.length === 0) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `the checkpoint ends before record ${position.decree} of ${this.totals.records}`,
        );
      }
      for (const record of chunk) {
        const mutation = recordMutation(record, position.decree, this.ids);
        const recordBytes = shippedBytes(record, this.ids);
        mutations.push(mutation);
        bytes += recordBytes;
        position = {
          decree: position.decree + 1,
          afterKey: record.key,
          bytesBefore: position.bytesBefore + recordBytes,
        };
        if (bytes >= options.bytesMax || position.decree > toDecree) break;
      }
    }
    this.next = position;
    this.readEnds.set(position.decree - 1, position.bytesBefore);
    while (this.readEnds.size > READ_ENDS_KEPT) {
      const oldest = this.readEnds.keys().next().value;
      if (oldest === undefined) break;
      this.readEnds.delete(oldest);
    }
    return { mutations, bytes };
  }

  /** Shipped bytes of records 1..decree, when `decree` ended a recent read (the core's progress). */
  bytesThrough(decree: number): number | undefined {
    if (decree <= 0) return 0;
    if (decree >= this.totals.records) return this.totals.bytes;
    return this.readEnds.get(decree);
  }

  private positionOf(decree: number): Position {
    if (decree === this.next.decree) return this.next;
    if (decree === this.previous.decree) return this.previous;
    // Anything else (never the core's pattern): walk from the start. Correct, just slower.
    let position = START;
    while (position.decree < decree) {
      const limit = Math.min(CHECKPOINT_READ_RECORDS_MAX, decree - position.decree);
      const chunk = this.source.read(position.afterKey, limit);
      const last = chunk.at(-1);
      if (last === undefined) {
        throw new TalariaError("ERR_INVALID_DATA", `the checkpoint has no record ${decree}`);
      }
      let bytes = position.bytesBefore;
      for (const record of chunk) bytes += shippedBytes(record, this.ids);
      position = { decree: position.decree + chunk.length, afterKey: last.key, bytesBefore: bytes };
    }
    return position;
  }
}
