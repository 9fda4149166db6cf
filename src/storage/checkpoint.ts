/**
 * Checkpoints: a consistent copy of a replica's lmdb environment plus a manifest.
 *
 * Layout of a checkpoint directory:
 *   data.mdb         lmdb's own consistent copy of the whole environment ("data" and "meta")
 *   checkpoint.json  { decree, bytes, formatVersion, createdAtMs }, written last (temp + rename),
 *                    so a directory without it is an unfinished checkpoint
 *
 * Invariant: the manifest's decree is the last applied decree the copy contains. lmdb copies the
 * environment inside one read transaction, and "meta" commits with "data" in every apply, so the
 * copy is a state between two decrees; we read the decree (and the ballot of the mutation at it,
 * which learners need) back from the copy itself rather than from the live engine, which may
 * have moved on while the copy ran. The ballot stays in the copy's "meta", not in the manifest.
 *
 * The copy is lmdb's plain one (the file's pages as they are, read in order) unless the free pages
 * are at least CHECKPOINT_COMPACT_FREE_SHARE_MIN of the file and CHECKPOINT_COMPACT_FREE_BYTES_MIN;
 * then the compacting one, which walks every tree page by page: several times slower per byte,
 * most of all on an environment not in the page cache (a follower copy or a learned checkpoint
 * just installed with O_DIRECT writes), so only worth it when it leaves much out.
 *
 * Restoring (installing) a checkpoint puts its data.mdb into an empty environment directory,
 * copied or (when the checkpoint is scratch not needed again, on the same file system) renamed.
 * Either way the file, its directory and the directory's own entry are fsynced before the engine
 * opened on it may report anything durable, because the log may then be trimmed.
 */
import { constants } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import { LMDB_DATA_FILE, LMDB_LOCK_FILE, type LmdbEnv, openLmdbEnv } from "./lmdb-env.ts";
import { checkFormatVersion, FORMAT_VERSION, readFormatVersion, readMeta } from "./meta-store.ts";
import type { CheckpointInfo } from "./types.ts";

export const CHECKPOINT_MANIFEST_FILE = "checkpoint.json";

/** A checkpoint is compacted only when free pages are at least this share of the file... */
export const CHECKPOINT_COMPACT_FREE_SHARE_MIN = 0.25;
/** ...and at least this many bytes (below it the pages left out cost less than the walk). */
export const CHECKPOINT_COMPACT_FREE_BYTES_MIN = 8 * 1024 * 1024;

/** How a checkpoint's data.mdb gets into the environment directory it is restored into. */
export type CheckpointTransfer = "copy" | "move";

export interface CheckpointManifest {
  readonly decree: number;
  readonly bytes: number;
  readonly formatVersion: number;
  readonly createdAtMs: number;
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

function fileError(what: string, path: string, cause: unknown): TalariaError {
  return new TalariaError("ERR_FILE_OPERATION_FAILED", `${what} ${path}`, {
    details: { path },
    cause,
  });
}

/** Creates `dir` or accepts it empty; anything already in it is refused, never overwritten. */
export async function ensureEmptyDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw fileError("cannot list", dir, error);
    entries = [];
  }
  if (entries.length > 0) {
    throw new TalariaError("ERR_INVALID_STATE", `directory ${dir} is not empty`, {
      details: { path: dir },
    });
  }
  await mkdir(dir, { recursive: true });
}

/** Opens a copied environment read-only and reads the decree (and its ballot) it contains. */
export async function readContainedDecree(
  dir: string,
): Promise<{ readonly decree: number; readonly ballot: number }> {
  const env = openLmdbEnv(dir, { readOnly: true });
  try {
    const version = readFormatVersion(env.meta);
    if (version === undefined) {
      throw new TalariaError(
        "ERR_INVALID_DATA",
        `environment copy in ${dir} has no format version`,
      );
    }
    checkFormatVersion(version);
    const meta = readMeta(env.meta);
    return { decree: meta.lastAppliedDecree, ballot: meta.lastAppliedBallot };
  } finally {
    await env.root.close();
    // The read-only open created a lock file; a checkpoint holds only data.mdb and its manifest.
    await rm(join(dir, LMDB_LOCK_FILE), { force: true });
  }
}

export async function dataFileBytes(dir: string): Promise<number> {
  return (await stat(join(dir, LMDB_DATA_FILE))).size;
}

export async function writeManifest(dir: string, manifest: CheckpointManifest): Promise<void> {
  const finalPath = join(dir, CHECKPOINT_MANIFEST_FILE);
  const tempPath = `${finalPath}.tmp`;
  try {
    const handle = await open(tempPath, "w");
    try {
      await handle.writeFile(`${JSON.stringify(manifest)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempPath, finalPath);
  } catch (error) {
    throw fileError("cannot write checkpoint manifest", finalPath, error);
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export async function readManifest(dir: string): Promise<CheckpointManifest> {
  const path = join(dir, CHECKPOINT_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT") || isErrno(error, "ENOTDIR")) {
      throw new TalariaError("ERR_OBJECT_NOT_FOUND", `no checkpoint at ${dir}`, {
        details: { path: dir },
        cause: error,
      });
    }
    throw fileError("cannot read", path, error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TalariaError("ERR_INVALID_DATA", `checkpoint manifest ${path} is not JSON`, {
      cause: error,
    });
  }
  const m = parsed as Partial<Record<keyof CheckpointManifest, unknown>> | null;
  if (
    m === null ||
    typeof m !== "object" ||
    !isCount(m.decree) ||
    !isCount(m.bytes) ||
    !isCount(m.formatVersion) ||
    !isCount(m.createdAtMs)
  ) {
    throw new TalariaError("ERR_INVALID_DATA", `checkpoint manifest ${path} is malformed`);
  }
  checkFormatVersion(m.formatVersion);
  return {
    decree: m.decree,
    bytes: m.bytes,
    formatVersion: m.formatVersion,
    createdAtMs: m.createdAtMs,
  };
}

/**
 * Puts a checkpoint's environment into an empty `targetPath` and makes it durable there; returns
 * the checkpoint's manifest. "copy" leaves the checkpoint as it is; "move" renames its data.mdb
 * (the checkpoint directory must be on the same file system and is consumed: it no longer holds
 * an environment afterwards), so nothing is read or written again.
 */
export async function restoreCheckpointFiles(
  checkpointDir: string,
  targetPath: string,
  transfer: CheckpointTransfer = "copy",
): Promise<CheckpointManifest> {
  const manifest = await readManifest(checkpointDir);
  const source = join(checkpointDir, LMDB_DATA_FILE);
  let bytes: number;
  try {
    bytes = await dataFileBytes(checkpointDir);
  } catch (error) {
    throw new TalariaError(
      "ERR_OBJECT_NOT_FOUND",
      `checkpoint ${checkpointDir} has no ${LMDB_DATA_FILE}`,
      {
        details: { path: checkpointDir },
        cause: error,
      },
    );
  }
  if (bytes !== manifest.bytes) {
    throw new TalariaError(
      "ERR_INVALID_DATA",
      `checkpoint ${checkpointDir}: ${LMDB_DATA_FILE} is ${bytes} bytes, manifest says ${manifest.bytes}`,
    );
  }
  await ensureEmptyDir(targetPath);
  const target = join(targetPath, LMDB_DATA_FILE);
  try {
    if (transfer === "move") await rename(source, target);
    else await copyFile(source, target, constants.COPYFILE_EXCL);
  } catch (error) {
    throw fileError(`cannot ${transfer} checkpoint into`, targetPath, error);
  }
  try {
    // The engine opened on this file reports it durable up to its decree, and the log may then be
    // trimmed below that: the file must really be on disk first (a moved file was fsynced by
    // whoever wrote it; syncing it again costs nothing then), and so must its directory entry and
    // the entry of the directory itself.
    await syncPath(target, "r+");
    await syncPath(targetPath, "r");
    await syncPath(dirname(targetPath), "r");
  } catch (error) {
    throw fileError("cannot sync the restored checkpoint in", targetPath, error);
  }
  return manifest;
}

async function syncPath(path: string, flags: "r" | "r+"): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes what restoreCheckpointFiles (and a failed open) left in `targetPath`. */
export async function removeRestoredFiles(targetPath: string): Promise<void> {
  await rm(join(targetPath, LMDB_DATA_FILE), { force: true });
  await rm(join(targetPath, LMDB_LOCK_FILE), { force: true });
}

/** Pages of the environment's file and how many of them hold nothing (free or unused). */
export interface EnvironmentPages {
  readonly pageBytes: number;
  readonly total: number;
  readonly free: number;
}

interface PageStats {
  readonly pageSize?: unknown;
  readonly treeBranchPageCount?: unknown;
  readonly treeLeafPageCount?: unknown;
  readonly overflowPages?: unknown;
}

function treePages(stats: PageStats | undefined): number | undefined {
  const counts = [stats?.treeBranchPageCount, stats?.treeLeafPageCount, stats?.overflowPages];
  if (!counts.every(isCount)) return undefined;
  return (counts as number[]).reduce((sum, count) => sum + count, 0);
}

/**
 * Counts the environment's pages in the current snapshot: the file's (up to the last page in use)
 * and those no tree holds (lmdb's two meta pages, the main database with the names, "data",
 * "meta" and the free list's own tree are in use). Undefined when lmdb does not report them. A
 * database we do not know of would be counted as free, which only makes compaction likelier.
 */
export function environmentPages(env: LmdbEnv): EnvironmentPages | undefined {
  const stats = env.root.getStats() as {
    readonly root?: PageStats;
    readonly free?: PageStats;
    readonly lastPageNumber?: unknown;
  };
  const lmdbMetaPages = 2;
  const parts = [stats.root, stats.free, env.data.getStats(), env.meta.getStats()].map((s) =>
    treePages(s as PageStats),
  );
  const pageBytes = stats.root?.pageSize;
  if (!isCount(stats.lastPageNumber) || !isCount(pageBytes) || parts.some((p) => p === undefined))
    return undefined;
  const total = stats.lastPageNumber + 1;
  const used = lmdbMetaPages + (parts as number[]).reduce((sum, pages) => sum + pages, 0);
  return { pageBytes, total, free: Math.max(0, total - used) };
}

/** Whether a checkpoint of an environment with these pages is made by the compacting copy. */
export function checkpointCompacts(pages: EnvironmentPages | undefined): boolean {
  if (pages === undefined) return true;
  return (
    pages.free >= CHECKPOINT_COMPACT_FREE_SHARE_MIN * pages.total &&
    pages.free * pages.pageBytes >= CHECKPOINT_COMPACT_FREE_BYTES_MIN
  );
}

/**
 * Writes a checkpoint of `env` into `dir` (created, or empty): lmdb's plain copy, or its
 * compacting one when that leaves out enough free pages (checkpointCompacts).
 */
export async function createCheckpoint(
  env: LmdbEnv,
  dir: string,
  createdAtMs: number,
): Promise<{ readonly info: CheckpointInfo; readonly compacted: boolean }> {
  await ensureEmptyDir(dir);
  const compacted = checkpointCompacts(environmentPages(env));
  try {
    await env.root.backup(dir, compacted);
  } catch (error) {
    throw fileError("cannot copy the environment into", dir, error);
  }
  const { decree, ballot } = await readContainedDecree(dir);
  const bytes = await dataFileBytes(dir);
  await writeManifest(dir, { decree, bytes, formatVersion: FORMAT_VERSION, createdAtMs });
  return { info: { path: dir, decree, ballot, bytes }, compacted };
}
