/**
 * Full duplication, follower side: a checkpoint copied from a replica of ANOTHER cluster becomes
 * this replica's storage in place (renamed, never copied a second time; replica/follower-install.ts).
 *
 * The copy's meta records the master's last applied decree and ballot. The decree is kept: the
 * follower's decrees continue from it. The ballot is not: it numbers the master partition's
 * configurations, which have nothing to do with the follower's, and the replication core never
 * acts as primary at a ballot ≤ the largest in its storage or log. Left as it is, a follower
 * created at ballot 1 would refuse to be primary of a partition whose master had reached ballot 7.
 * So the ballot is reset to 0 ("none"), which is what a replica that never applied a mutation of
 * its own configuration holds. The master's `last_resync_decree` (re-sync writes the master
 * received, in its log) is reset to 0 too. Idempotent: adopting twice (a crash in between) gives
 * the same environment.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import { LMDB_LOCK_FILE, openLmdbEnv } from "./lmdb-env.ts";
import { checkFormatVersion, readFormatVersion, readMeta, writeMeta } from "./meta-store.ts";

export interface AdoptedCheckpoint {
  /** The last applied decree the environment holds. */
  readonly decree: number;
  /** The ballot the environment held before the reset (the master's). */
  readonly masterBallot: number;
}

/** Resets the stored ballot and re-sync decree of the lmdb environment in `dir` to 0; returns what it holds. */
export async function adoptCopiedCheckpoint(dir: string): Promise<AdoptedCheckpoint> {
  const env = openLmdbEnv(dir, { readOnly: false });
  try {
    const version = readFormatVersion(env.meta);
    if (version === undefined) {
      throw new TalariaError(
        "ERR_INVALID_DATA",
        `copied environment in ${dir} has no format version`,
        {
          details: { path: dir },
        },
      );
    }
    checkFormatVersion(version);
    const meta = readMeta(env.meta);
    // The master's ballot and re-sync decree describe its log, not the follower's.
    if (meta.lastAppliedBallot !== 0 || meta.lastResyncDecree !== 0) {
      env.root.transactionSync(() =>
        writeMeta(env.meta, { ...meta, lastAppliedBallot: 0, lastResyncDecree: 0 }),
      );
    }
    await env.root.flushed;
    return { decree: meta.lastAppliedDecree, masterBallot: meta.lastAppliedBallot };
  } finally {
    await env.root.close();
    await rm(join(dir, LMDB_LOCK_FILE), { force: true });
  }
}
