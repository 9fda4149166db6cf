/**
 * The mutation codec: how a `Mutation` is stored in the private log and shipped between replicas.
 *
 * Layout, format v1. Integers are unsigned big-endian (as in the key and value schemas); a u64
 * must hold a safe integer (<= 2^53 - 1). `bytes16` / `bytes32` are a u16 / u32 length followed by
 * that many bytes.
 *
 *   mutation     = version:u8 (= 1) ‖ ballot:u64 ‖ decree:u64 ‖ timestampUs:u64
 *                  ‖ updateCount:u32 ‖ update × updateCount
 *   update       = kind:u8 (UpdateKind wire value) ‖ body
 *   PUT          = hashKey:bytes16 ‖ sortKey:bytes32 ‖ value:bytes32 ‖ expireTs:u32
 *   REMOVE       = hashKey:bytes16 ‖ sortKey:bytes32
 *   MULTI_PUT    = hashKey:bytes16 ‖ expireTs:u32 ‖ kvCount:u32 ‖ (sortKey:bytes32 ‖ value:bytes32) × kvCount
 *   MULTI_REMOVE = hashKey:bytes16 ‖ sortKeyCount:u32 ‖ sortKey:bytes32 × sortKeyCount
 *   DUPLICATE    = entryCount:u32 ‖ entry × entryCount
 *   DUPLICATE_RESYNC (wire kind 7) = as DUPLICATE; decodes to a DUPLICATE update with `resync: true`
 *                  (a remote's full re-sync). Added to format v1 without a bump: older logs never
 *                  hold it; a build before it refuses a log that does (ERR_INVALID_DATA).
 *   entry        = timestampUs:u64 ‖ clusterId:u8 (1..127) ‖ update (kind PUT..MULTI_REMOVE only)
 *   EMPTY        = (no body)
 *
 * Hash keys are bounded by the stored-key format (u16); sort keys take a u32 so the log format
 * does not depend on the storage engine's key limit (formatLimits.storedKeyBytesMax).
 *
 * Invariants: the encoding is canonical — every mutation has exactly one encoding, and any bytes
 * that decode re-encode to themselves — because there are no optional fields, no padding, and the
 * decoder rejects trailing bytes, out-of-range values and DUPLICATE/EMPTY nested in DUPLICATE
 * (`resync` is only ever `true` or absent, and each has its own kind byte).
 * Decoding is total: malformed input throws ERR_INVALID_DATA, an unknown version
 * ERR_INVALID_VERSION. Decoded Buffers are zero-copy subarrays of the input: a caller that reuses
 * or mutates the input buffer must copy them first.
 */
import { assert, unreachable } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";
import { formatLimits } from "../common/limits.ts";
import { ByteReader } from "./byte-reader.ts";
import { ByteWriter } from "./byte-writer.ts";
import { checkHashKey } from "./key-schema.ts";
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  type Mutation,
  type Update,
  UpdateKind,
} from "./mutation.ts";

export const MUTATION_FORMAT_VERSION = 1;

/** version + ballot + decree + timestampUs + updateCount. */
const MUTATION_HEADER_BYTES = 1 + 8 + 8 + 8 + 4;
/** timestampUs + clusterId, before the entry's update. */
const DUPLICATE_ENTRY_HEADER_BYTES = 8 + 1;
/** The kind byte of a DUPLICATE update with `resync: true` (not an UpdateKind of its own). */
const DUPLICATE_RESYNC_WIRE = 7;
const U32_MAX = 0xffff_ffff;

/** Smallest encodings, used to reject corrupt counts before looping over them. */
const MIN_UPDATE_BYTES = 1; // EMPTY
const MIN_DUPLICABLE_UPDATE_BYTES = 1 + 2 + 4; // REMOVE with empty keys
const MIN_DUPLICATE_ENTRY_BYTES = DUPLICATE_ENTRY_HEADER_BYTES + MIN_DUPLICABLE_UPDATE_BYTES;
const MIN_KV_BYTES = 4 + 4;
const MIN_SORT_KEY_BYTES = 4;

// ---------------------------------------------------------------------------------------------
// Sizes

/** Encoded size of one update, kind byte included; lets callers bound batches without encoding. */
export function encodedUpdateBytes(update: Update): number {
  switch (update.kind) {
    case UpdateKind.PUT:
      return (
        1 + 2 + update.hashKey.length + 4 + update.sortKey.length + 4 + update.value.length + 4
      );
    case UpdateKind.REMOVE:
      return 1 + 2 + update.hashKey.length + 4 + update.sortKey.length;
    case UpdateKind.MULTI_PUT: {
      let size = 1 + 2 + update.hashKey.length + 4 + 4;
      for (const kv of update.kvs) size += 4 + kv.sortKey.length + 4 + kv.value.length;
      return size;
    }
    case UpdateKind.MULTI_REMOVE: {
      let size = 1 + 2 + update.hashKey.length + 4;
      for (const sortKey of update.sortKeys) size += 4 + sortKey.length;
      return size;
    }
    case UpdateKind.DUPLICATE: {
      let size = 1 + 4;
      for (const entry of update.entries) {
        size += DUPLICATE_ENTRY_HEADER_BYTES + encodedUpdateBytes(entry.update);
      }
      return size;
    }
    case UpdateKind.EMPTY:
      return 1;
    default:
      return unreachable(update, "update kind");
  }
}

export function encodedMutationBytes(mutation: Mutation): number {
  let size = MUTATION_HEADER_BYTES;
  for (const update of mutation.updates) size += encodedUpdateBytes(update);
  return size;
}

// ---------------------------------------------------------------------------------------------
// Encode

/**
 * Encodes `mutation` in format v1. Out-of-range numbers (unsafe u64, expireTs, clusterId) are
 * programmer errors and fail an assertion; an over-long hash key throws ERR_INVALID_HASH_KEY.
 */
export function encodeMutation(mutation: Mutation): Buffer {
  assertU64("ballot", mutation.ballot);
  assertU64("decree", mutation.decree);
  assertU64("timestampUs", mutation.timestampUs);
  assertU32("updateCount", mutation.updates.length);
  const writer = new ByteWriter(encodedMutationBytes(mutation));
  writer.u8(MUTATION_FORMAT_VERSION);
  writer.u64(mutation.ballot);
  writer.u64(mutation.decree);
  writer.u64(mutation.timestampUs);
  writer.u32(mutation.updates.length);
  for (const update of mutation.updates) writeUpdate(writer, update);
  return writer.finish();
}

function writeUpdate(writer: ByteWriter, update: Update): void {
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
    case UpdateKind.MULTI_PUT:
    case UpdateKind.MULTI_REMOVE:
      writeDuplicableUpdate(writer, update);
      return;
    case UpdateKind.DUPLICATE:
      writer.u8(update.resync === true ? DUPLICATE_RESYNC_WIRE : update.kind);
      assertU32("entryCount", update.entries.length);
      writer.u32(update.entries.length);
      for (const entry of update.entries) writeDuplicateEntry(writer, entry);
      return;
    case UpdateKind.EMPTY:
      writer.u8(update.kind);
      return;
    default:
      unreachable(update, "update kind");
  }
}

function writeDuplicateEntry(writer: ByteWriter, entry: DuplicateEntry): void {
  assertU64("entry timestampUs", entry.timestampUs);
  assert(isClusterId(entry.clusterId), `clusterId ${entry.clusterId} is outside 1..127`);
  // The static type already excludes DUPLICATE and EMPTY; this guards untyped callers, because
  // the decoder would reject such an entry and the log record would be unreadable.
  assert(isDuplicableKind(entry.update.kind), `duplicate entry of kind ${entry.update.kind}`);
  writer.u64(entry.timestampUs);
  writer.u8(entry.clusterId);
  writeDuplicableUpdate(writer, entry.update);
}

function writeDuplicableUpdate(writer: ByteWriter, update: DuplicableUpdate): void {
  writer.u8(update.kind);
  writeHashKey(writer, update.hashKey);
  switch (update.kind) {
    case UpdateKind.PUT:
      writeBytes32(writer, update.sortKey);
      writeBytes32(writer, update.value);
      writeExpireTs(writer, update.expireTs);
      return;
    case UpdateKind.REMOVE:
      writeBytes32(writer, update.sortKey);
      return;
    case UpdateKind.MULTI_PUT:
      writeExpireTs(writer, update.expireTs);
      assertU32("kvCount", update.kvs.length);
      writer.u32(update.kvs.length);
      for (const kv of update.kvs) {
        writeBytes32(writer, kv.sortKey);
        writeBytes32(writer, kv.value);
      }
      return;
    case UpdateKind.MULTI_REMOVE:
      assertU32("sortKeyCount", update.sortKeys.length);
      writer.u32(update.sortKeys.length);
      for (const sortKey of update.sortKeys) writeBytes32(writer, sortKey);
      return;
    default:
      unreachable(update, "duplicable update kind");
  }
}

function writeHashKey(writer: ByteWriter, hashKey: Buffer): void {
  checkHashKey(hashKey);
  writer.u16(hashKey.length);
  writer.bytes(hashKey);
}

function writeBytes32(writer: ByteWriter, bytes: Buffer): void {
  assertU32("byte field length", bytes.length);
  writer.u32(bytes.length);
  writer.bytes(bytes);
}

function writeExpireTs(writer: ByteWriter, expireTs: number): void {
  assert(
    Number.isInteger(expireTs) && expireTs >= 0 && expireTs <= formatLimits.expireTsMax,
    `expireTs ${expireTs} is outside 0..${formatLimits.expireTsMax}`,
  );
  writer.u32(expireTs);
}

function assertU64(field: string, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${field} ${value} is not a safe u64`);
}

function assertU32(field: string, value: number): void {
  assert(value <= U32_MAX, `${field} ${value} does not fit a u32`);
}

// ---------------------------------------------------------------------------------------------
// Decode

/**
 * Decodes a mutation. Total over all inputs: returns a Mutation or throws TalariaError
 * (ERR_INVALID_VERSION for an unknown version, ERR_INVALID_DATA for anything else malformed).
 * The returned Buffers alias `bytes` (zero-copy).
 */
export function decodeMutation(bytes: Uint8Array): Mutation {
  const reader = new ByteReader(bytes, "mutation");
  const version = reader.u8("version");
  if (version !== MUTATION_FORMAT_VERSION) {
    throw new TalariaError("ERR_INVALID_VERSION", `mutation format version ${version}`, {
      details: { version, supported: [MUTATION_FORMAT_VERSION] },
    });
  }
  const ballot = reader.u64Safe("ballot");
  const decree = reader.u64Safe("decree");
  const timestampUs = reader.u64Safe("timestampUs");
  const updateCount = reader.count32("updateCount", MIN_UPDATE_BYTES);
  const updates: Update[] = [];
  for (let i = 0; i < updateCount; i++) updates.push(readUpdate(reader));
  reader.expectEnd();
  return { ballot, decree, timestampUs, updates };
}

function readUpdate(reader: ByteReader): Update {
  const kind = reader.u8("update kind");
  switch (kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
    case UpdateKind.MULTI_PUT:
    case UpdateKind.MULTI_REMOVE:
      return readDuplicableBody(reader, kind);
    case UpdateKind.DUPLICATE:
    case DUPLICATE_RESYNC_WIRE: {
      const entryCount = reader.count32("entryCount", MIN_DUPLICATE_ENTRY_BYTES);
      const entries: DuplicateEntry[] = [];
      for (let i = 0; i < entryCount; i++) entries.push(readDuplicateEntry(reader));
      return kind === DUPLICATE_RESYNC_WIRE
        ? { kind: UpdateKind.DUPLICATE, entries, resync: true }
        : { kind: UpdateKind.DUPLICATE, entries };
    }
    case UpdateKind.EMPTY:
      return { kind: UpdateKind.EMPTY };
    default:
      return reader.fail(`unknown update kind ${kind}`);
  }
}

function readDuplicateEntry(reader: ByteReader): DuplicateEntry {
  const timestampUs = reader.u64Safe("entry timestampUs");
  const clusterId = reader.u8("clusterId");
  if (!isClusterId(clusterId)) reader.fail(`clusterId ${clusterId} is outside 1..127`);
  const kind = reader.u8("entry update kind");
  if (!isDuplicableKind(kind)) reader.fail(`duplicate entry of update kind ${kind}`);
  return { timestampUs, clusterId, update: readDuplicableBody(reader, kind) };
}

type DuplicableKind = DuplicableUpdate["kind"];

function readDuplicableBody(reader: ByteReader, kind: DuplicableKind): DuplicableUpdate {
  const hashKey = reader.bytes(reader.u16("hashKey length"), "hashKey");
  switch (kind) {
    case UpdateKind.PUT: {
      const sortKey = readBytes32(reader, "sortKey");
      const value = readBytes32(reader, "value");
      const expireTs = reader.u32("expireTs");
      return { kind, hashKey, sortKey, value, expireTs };
    }
    case UpdateKind.REMOVE:
      return { kind, hashKey, sortKey: readBytes32(reader, "sortKey") };
    case UpdateKind.MULTI_PUT: {
      const expireTs = reader.u32("expireTs");
      const kvCount = reader.count32("kvCount", MIN_KV_BYTES);
      const kvs: { sortKey: Buffer; value: Buffer }[] = [];
      for (let i = 0; i < kvCount; i++) {
        const sortKey = readBytes32(reader, "sortKey");
        kvs.push({ sortKey, value: readBytes32(reader, "value") });
      }
      return { kind, hashKey, kvs, expireTs };
    }
    case UpdateKind.MULTI_REMOVE: {
      const sortKeyCount = reader.count32("sortKeyCount", MIN_SORT_KEY_BYTES);
      const sortKeys: Buffer[] = [];
      for (let i = 0; i < sortKeyCount; i++) sortKeys.push(readBytes32(reader, "sortKey"));
      return { kind, hashKey, sortKeys };
    }
    default:
      return unreachable(kind, "duplicable update kind");
  }
}

function readBytes32(reader: ByteReader, field: string): Buffer {
  return reader.bytes(reader.u32(`${field} length`), field);
}

function isClusterId(clusterId: number): boolean {
  return Number.isInteger(clusterId) && clusterId >= 1 && clusterId <= formatLimits.clusterIdMax;
}

function isDuplicableKind(kind: number): kind is DuplicableKind {
  return (
    kind === UpdateKind.PUT ||
    kind === UpdateKind.REMOVE ||
    kind === UpdateKind.MULTI_PUT ||
    kind === UpdateKind.MULTI_REMOVE
  );
}
