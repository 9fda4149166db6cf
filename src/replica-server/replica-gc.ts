/**
 * Deleting the replica directories of tables removed for good (docs/storage.md, "Replicas a server
 * no longer serves"). Only the meta server's word decides what is garbage: it names a table in a
 * beacon reply's `removedAppIds` once the table was dropped, its hold period ended and its removal
 * was recorded (meta layout `removed_apps/`); app ids are never reused, so no later table can own
 * the directories. This module only moves and deletes them.
 *
 * Invariants:
 *  - A directory is first renamed to `<appId>.<partition>.gar` (one atomic rename), then deleted.
 *    A crash mid-delete leaves a `.gar` directory, which startup deletes; it never leaves a
 *    half-deleted `<appId>.<partition>` that would be opened as a replica.
 *  - Only directories named exactly `<appId>.<partition>` of a removed appId, and `.gar`
 *    directories, are touched; anything else in the data directory is left alone.
 */
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, silentLogger } from "../common/logger.ts";
import { parseGpid } from "../protocol/index.ts";

/** Suffix of a replica directory on its way out. */
export const GARBAGE_SUFFIX = ".gar";
/** Suffix of a stale replica's directory kept for its hold period: `<gpid>.<retired ms>.stale`. */
export const STALE_SUFFIX = ".stale";

const GARBAGE_NAME = /^\d{1,9}\.\d{1,6}\.gar$/;
const STALE_NAME = /^\d{1,9}\.\d{1,6}\.(\d{1,16})\.stale$/;

/** The names of the replica directories of `appIds` in `dataDir`, sorted. */
export async function replicaDirsOf(
  dataDir: string,
  appIds: ReadonlySet<number>,
): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    let appId: number;
    try {
      appId = parseGpid(entry.name).appId;
    } catch {
      continue;
    }
    if (appIds.has(appId)) names.push(entry.name);
  }
  return names.sort();
}

/**
 * Moves each named replica directory to `<name>.gar`, then deletes it. Returns how many were
 * deleted; a failure is logged and leaves that directory (under either name) for a later pass.
 */
export async function deleteReplicaDirs(
  dataDir: string,
  names: readonly string[],
  logger: Logger = silentLogger,
): Promise<number> {
  let deleted = 0;
  for (const name of names) {
    const garbage = join(dataDir, `${name}${GARBAGE_SUFFIX}`);
    try {
      await rename(join(dataDir, name), garbage);
      await rm(garbage, { recursive: true, force: true });
      deleted += 1;
      logger.info({ gpid: name }, "deleted the replica of a table removed for good");
    } catch (error) {
      logger.warn({ err: error, gpid: name }, "cannot delete the replica of a removed table");
    }
  }
  return deleted;
}

/** Deletes the `.gar` directories a crash left behind; returns their names. */
export async function deleteLeftoverGarbage(
  dataDir: string,
  logger: Logger = silentLogger,
): Promise<string[]> {
  const done: string[] = [];
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !GARBAGE_NAME.test(entry.name)) continue;
    try {
      await rm(join(dataDir, entry.name), { recursive: true, force: true });
      done.push(entry.name);
      logger.info({ dir: entry.name }, "deleted a replica directory left half-deleted");
    } catch (error) {
      logger.warn(
        { err: error, dir: entry.name },
        "cannot delete a half-deleted replica directory",
      );
    }
  }
  return done.sort();
}

/**
 * Moves a stale replica's directory (`<gpid>`) aside as `<gpid>.<nowMs>.stale`, out of the names
 * the server opens, where it waits for its hold period (deleteExpiredStale). Returns the new name.
 */
export async function retireReplicaDir(
  dataDir: string,
  name: string,
  nowMs: number,
): Promise<string> {
  const retired = `${name}.${Math.max(0, Math.floor(nowMs))}${STALE_SUFFIX}`;
  await rename(join(dataDir, name), join(dataDir, retired));
  return retired;
}

/** Deletes the stale replica directories retired at least `holdMs` before `nowMs`; their names. */
export async function deleteExpiredStale(
  dataDir: string,
  nowMs: number,
  holdMs: number,
  logger: Logger = silentLogger,
): Promise<string[]> {
  const done: string[] = [];
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    const match = STALE_NAME.exec(entry.name);
    if (!entry.isDirectory() || match === null) continue;
    if (Number(match[1]) + holdMs > nowMs) continue;
    try {
      await rm(join(dataDir, entry.name), { recursive: true, force: true });
      done.push(entry.name);
      logger.info({ dir: entry.name }, "deleted a stale replica after its hold period");
    } catch (error) {
      logger.warn({ err: error, dir: entry.name }, "cannot delete a stale replica");
    }
  }
  return done.sort();
}
