/**
 * The engine's bookkeeping, kept in the named lmdb database "meta" of the replica's environment so
 * it commits in the same transaction as the data it describes.
 *
 * Persisted layout (format version 1); keys are ASCII, values big-endian:
 *   "format_version"       u32  FORMAT_VERSION; an environment with another value is refused
 *   "last_applied_decree"  u64  decree of the last mutation whose updates are in "data"
 *   "last_applied_ballot"  u64  `mutation.ballot` of that mutation (0 when none). Added to layout
 *                               version 1 without a bump: an environment written before it has no
 *                               such key, which reads as 0 (unknown), and its first apply adds it.
 *   "max_timestamp_us"     u64  largest timestamp (µs) of any mutation or duplicated entry applied
 *   "last_resync_decree"   u64  decree of the last applied mutation holding a remote's full re-sync
 *                               (a DUPLICATE update with `resync`); 0 when none. Added to layout
 *                               version 1 without a bump, like last_applied_ballot: absent reads as
 *                               0, and a flush writes it.
 *
 * Invariants: format_version, last_applied_decree and max_timestamp_us exist together or not at
 * all (a new environment is initialised in one transaction); last_applied_ballot is written in the
 * same transaction as last_applied_decree, so the pair always names one mutation (the replication
 * core's restart state needs both, see docs/replication.md); last_applied_decree,
 * max_timestamp_us and last_resync_decree never decrease (a checkpoint adopted from another
 * cluster's replica resets last_resync_decree to 0, as it does the ballot: adopt-checkpoint.ts).
 */
import { assert } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";

/** Version of the on-disk layout ("data" value schema v1 + this meta layout). */
export const FORMAT_VERSION = 1;

const KEY_FORMAT_VERSION = Buffer.from("format_version", "ascii");
const KEY_LAST_APPLIED_DECREE = Buffer.from("last_applied_decree", "ascii");
const KEY_MAX_TIMESTAMP_US = Buffer.from("max_timestamp_us", "ascii");
const KEY_LAST_APPLIED_BALLOT = Buffer.from("last_applied_ballot", "ascii");
const KEY_LAST_RESYNC_DECREE = Buffer.from("last_resync_decree", "ascii");

/** What applying a mutation changes (storage/apply.ts computes it). */
export interface EngineMeta {
  readonly lastAppliedDecree: number;
  readonly maxTimestampUs: number;
  /** The last applied decree holding a remote's re-sync writes; 0 when none. */
  readonly lastResyncDecree: number;
}

/** The whole persisted meta record: EngineMeta plus the ballot of the last applied mutation. */
export interface StoredMeta extends EngineMeta {
  readonly lastAppliedBallot: number;
}

/** The slice of an lmdb database the meta layout needs: binary keys and values. */
export interface MetaDb {
  get(key: Buffer): Buffer | undefined;
  putSync(key: Buffer, value: Buffer): void;
}

function encodeU64(value: number): Buffer {
  assert(Number.isSafeInteger(value) && value >= 0, `meta value ${value}`);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
}

function decodeU64(bytes: Buffer | undefined, what: string): number {
  if (bytes === undefined || bytes.length !== 8) {
    throw new TalariaError("ERR_INVALID_DATA", `meta ${what} is missing or not 8 bytes`);
  }
  const value = Number(bytes.readBigUInt64BE(0));
  if (!Number.isSafeInteger(value)) {
    throw new TalariaError("ERR_INVALID_DATA", `meta ${what} is beyond a safe integer`);
  }
  return value;
}

/** The stored format version, or undefined for an environment never initialised. */
export function readFormatVersion(meta: MetaDb): number | undefined {
  const bytes = meta.get(KEY_FORMAT_VERSION);
  if (bytes === undefined) return undefined;
  if (bytes.length !== 4)
    throw new TalariaError("ERR_INVALID_DATA", "meta format_version is not 4 bytes");
  return bytes.readUInt32BE(0);
}

/** Refuses an environment written by another layout version. */
export function checkFormatVersion(version: number): void {
  if (version !== FORMAT_VERSION) {
    throw new TalariaError(
      "ERR_INVALID_VERSION",
      `storage format version ${version}, this build reads ${FORMAT_VERSION}`,
      { details: { version, expected: FORMAT_VERSION } },
    );
  }
}

/** Writes a fresh layout; call inside the transaction that creates the environment. */
export function initMeta(meta: MetaDb): void {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(FORMAT_VERSION);
  meta.putSync(KEY_FORMAT_VERSION, version);
  writeMeta(meta, {
    lastAppliedDecree: 0,
    lastAppliedBallot: 0,
    maxTimestampUs: 0,
    lastResyncDecree: 0,
  });
}

export function readMeta(meta: MetaDb): StoredMeta {
  const ballot = meta.get(KEY_LAST_APPLIED_BALLOT);
  const resync = meta.get(KEY_LAST_RESYNC_DECREE);
  return {
    lastAppliedDecree: decodeU64(meta.get(KEY_LAST_APPLIED_DECREE), "last_applied_decree"),
    lastAppliedBallot: ballot === undefined ? 0 : decodeU64(ballot, "last_applied_ballot"),
    maxTimestampUs: decodeU64(meta.get(KEY_MAX_TIMESTAMP_US), "max_timestamp_us"),
    lastResyncDecree: resync === undefined ? 0 : decodeU64(resync, "last_resync_decree"),
  };
}

export function writeMeta(meta: MetaDb, value: StoredMeta): void {
  for (const [key, bytes] of metaRecords(value)) meta.putSync(key, bytes);
}

/** The records writeMeta puts, for a caller that writes them through another path. */
export function metaRecords(value: StoredMeta): readonly (readonly [Buffer, Buffer])[] {
  return [
    [KEY_LAST_APPLIED_DECREE, encodeU64(value.lastAppliedDecree)],
    [KEY_LAST_APPLIED_BALLOT, encodeU64(value.lastAppliedBallot)],
    [KEY_MAX_TIMESTAMP_US, encodeU64(value.maxTimestampUs)],
    [KEY_LAST_RESYNC_DECREE, encodeU64(value.lastResyncDecree)],
  ];
}
