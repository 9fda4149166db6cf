/**
 * Reading a checkpoint's records as they are stored — tombstones, expired records and timetags
 * included — without copying it: the checkpoint's environment is opened read-only in place. Full
 * duplication's re-sync sends a checkpoint's contents to another cluster this way.
 *
 * Invariants:
 *  - Nothing in the checkpoint changes: the environment is read-only (lmdb adds its lock file
 *    next to data.mdb while it is open; readers of the checkpoint's files skip it).
 *  - Records come in stored-key order; `read` resumes strictly after the key it is given, so a
 *    reader can walk the whole checkpoint in bounded steps.
 *  - The decree is the one the copy itself contains, checked against the manifest.
 */
import { decodeKey } from "../codec/key-schema.ts";
import type { Timetag } from "../codec/timetag.ts";
import { decodeValue } from "../codec/value-schema.ts";
import { TalariaError } from "../common/errors.ts";
import { readManifest } from "./checkpoint.ts";
import { type LmdbEnv, openLmdbEnv } from "./lmdb-env.ts";
import { checkFormatVersion, readFormatVersion, readMeta } from "./meta-store.ts";

/** One stored record, raw: a tombstone has the delete bit in its timetag and an empty value. */
export interface StoredRecord {
  /** The stored key (u16be hash key length ‖ hash key ‖ sort key). */
  readonly key: Buffer;
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
  /** Absolute expiry (seconds since 2016-01-01), 0 = none; may be in the past. */
  readonly expireTs: number;
  readonly timetag: Timetag;
  readonly value: Buffer;
}

/** Most records one `read` returns, whatever it is asked. */
export const CHECKPOINT_READ_RECORDS_MAX = 10_000;

export class CheckpointReader {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly env: LmdbEnv,
    /** The last applied decree the checkpoint holds. */
    readonly decree: number,
  ) {}

  /** Opens the checkpoint in `dir` (a directory written by StorageEngine.checkpoint). */
  static async open(dir: string): Promise<CheckpointReader> {
    const manifest = await readManifest(dir);
    const env = openLmdbEnv(dir, { readOnly: true });
    try {
      const version = readFormatVersion(env.meta);
      if (version === undefined) {
        throw new TalariaError("ERR_INVALID_DATA", `checkpoint ${dir} has no format version`);
      }
      checkFormatVersion(version);
      const decree = readMeta(env.meta).lastAppliedDecree;
      if (decree !== manifest.decree) {
        throw new TalariaError(
          "ERR_INVALID_DATA",
          `checkpoint ${dir} holds decree ${decree}, its manifest says ${manifest.decree}`,
        );
      }
      return new CheckpointReader(env, decree);
    } catch (error) {
      await env.root.close();
      throw error;
    }
  }

  /**
   * Up to `limit` records (at most CHECKPOINT_READ_RECORDS_MAX) after `afterKey` (from the first
   * record when undefined), in stored-key order. Fewer than asked means the end was reached.
   */
  read(afterKey: Buffer | undefined, limit: number): StoredRecord[] {
    if (this.closing !== undefined) {
      throw new TalariaError("ERR_INVALID_STATE", "read on a closed checkpoint reader");
    }
    const count = Math.max(1, Math.min(limit, CHECKPOINT_READ_RECORDS_MAX));
    const options =
      afterKey === undefined
        ? { limit: count }
        : { start: afterKey, exclusiveStart: true, limit: count };
    const out: StoredRecord[] = [];
    for (const entry of this.env.data.getRange(options)) {
      // Copies: the records outlive the read transaction.
      const key = Buffer.from(entry.key);
      const { hashKey, sortKey } = decodeKey(key);
      const stored = decodeValue(Buffer.from(entry.value));
      out.push({
        key,
        hashKey,
        sortKey,
        expireTs: stored.expireTs,
        timetag: stored.timetag,
        value: stored.value,
      });
    }
    return out;
  }

  /** Closes the environment. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.env.root.close();
    return this.closing;
  }
}
