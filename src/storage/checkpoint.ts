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
 */
import { constants } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { TalariaError } from "../common/errors.ts";
import { LMDB_DATA_FILE, LMDB_LOCK_FILE, openLmdbEnv } from "./lmdb-env.ts";
import { checkFormatVersion, FORMAT_VERSION, readFormatVersion, readMeta } from "./meta-store.ts";
import type { CheckpointInfo } from "./types.ts";

export const CHECKPOINT_MANIFEST_FILE = "checkpoint.json";

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

/** Copies a checkpoint's environment into an empty `targetPath`; returns its manifest. */
export async function restoreCheckpointFiles(
  checkpointDir: string,
  targetPath: string,
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
  try {
    const target = join(targetPath, LMDB_DATA_FILE);
    await copyFile(source, target, constants.COPYFILE_EXCL);
    // The engine opened on this copy reports it durable up to its decree, and the log may then be
    // trimmed below that: the copy must really be on disk first, and so must its directory entry.
    await syncPath(target, "r+");
    await syncPath(targetPath, "r");
  } catch (error) {
    throw fileError("cannot copy checkpoint into", targetPath, error);
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

/**
 * Writes a checkpoint of `root` into `dir` (created, or empty). `compact` drops free pages from
 * the copy: slower, but a checkpoint is shipped to learners and kept, so smaller wins.
 */
export async function createCheckpoint(
  root: RootDatabase,
  dir: string,
  createdAtMs: number,
): Promise<CheckpointInfo> {
  await ensureEmptyDir(dir);
  try {
    await root.backup(dir, true);
  } catch (error) {
    throw fileError("cannot copy the environment into", dir, error);
  }
  const { decree, ballot } = await readContainedDecree(dir);
  const bytes = await dataFileBytes(dir);
  await writeManifest(dir, { decree, bytes, formatVersion: FORMAT_VERSION, createdAtMs });
  return { path: dir, decree, ballot, bytes };
}
