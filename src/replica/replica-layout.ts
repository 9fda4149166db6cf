/**
 * The directory of one partition replica and the one file that says which storage is current.
 *
 * Layout of `<dir>`:
 *   plog/              the private log
 *   data/ | data-<n>/  lmdb storage environments; only the one CURRENT names is in use
 *   CURRENT            JSON {version: 1, dataDir, logResetDecree?}; absent = {dataDir: "data"}
 *   checkpoints/<id>/  checkpoints made for learners (a bounded number, newest kept)
 *   fetch/             scratch space for a checkpoint being fetched from a primary
 *
 * Installing a checkpoint swaps storage AND empties the log, two things that cannot change in
 * one step. CURRENT makes the pair roll forward: it is rewritten (temp file, fsync, rename, fsync
 * of the directory) to name the new environment together with `logResetDecree` BEFORE the log is
 * reset, and rewritten without it afterwards. An open that finds `logResetDecree` finishes the
 * reset first. So storage and log never disagree after a crash: either the old environment with
 * the old log, or the new environment with a log that starts after its decree.
 */
import { open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import { syncDir } from "../common/sync-dir.ts";

export const PLOG_DIR = "plog";
export const CHECKPOINTS_DIR = "checkpoints";
export const FETCH_DIR = "fetch";
/** A learned checkpoint's log tail between fetch and install (checkpoint-install.ts). */
export const LEARNED_LOG_TAIL = "learned-log-tail";
const CURRENT_FILE = "CURRENT";
const LAYOUT_VERSION = 1;
/** The storage environment of a replica that never installed a checkpoint. */
export const INITIAL_DATA_DIR = "data";
const DATA_DIR_PATTERN = /^data(?:-(\d{1,9}))?$/;

export interface LayoutState {
  /** Name (inside the replica's directory) of the storage environment in use. */
  readonly dataDir: string;
  /** Present while a checkpoint install has not yet reset the log to this decree. */
  readonly logResetDecree?: number;
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

export async function readLayoutState(dir: string): Promise<LayoutState> {
  const path = join(dir, CURRENT_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return { dataDir: INITIAL_DATA_DIR };
    throw fileError("cannot read", path, error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TalariaError("ERR_INVALID_DATA", `${path} is not JSON`, { cause: error });
  }
  const state = parsed as { version?: unknown; dataDir?: unknown; logResetDecree?: unknown };
  if (state === null || typeof state !== "object") {
    throw new TalariaError("ERR_INVALID_DATA", `${path} is malformed`);
  }
  if (state.version !== LAYOUT_VERSION) {
    throw new TalariaError("ERR_INVALID_VERSION", `${path} has layout version ${state.version}`, {
      details: { version: state.version, expected: LAYOUT_VERSION },
    });
  }
  const reset = state.logResetDecree;
  if (
    typeof state.dataDir !== "string" ||
    !DATA_DIR_PATTERN.test(state.dataDir) ||
    (reset !== undefined && (!Number.isSafeInteger(reset) || (reset as number) < 0))
  ) {
    throw new TalariaError("ERR_INVALID_DATA", `${path} is malformed`);
  }
  return reset === undefined
    ? { dataDir: state.dataDir }
    : { dataDir: state.dataDir, logResetDecree: reset as number };
}

/** Replaces CURRENT atomically and durably. */
export async function writeLayoutState(dir: string, state: LayoutState): Promise<void> {
  const path = join(dir, CURRENT_FILE);
  const temp = `${path}.tmp`;
  try {
    const handle = await open(temp, "w");
    try {
      await handle.writeFile(`${JSON.stringify({ version: LAYOUT_VERSION, ...state })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await syncDir(dir);
  } catch (error) {
    throw fileError("cannot write", path, error);
  }
}

/** The environment name the next checkpoint install uses. */
export function nextDataDir(current: string): string {
  const match = DATA_DIR_PATTERN.exec(current);
  const generation = match?.[1] === undefined ? 0 : Number(match[1]);
  return `data-${generation + 1}`;
}

/**
 * Removes what an interrupted install or fetch left behind: every storage environment other
 * than the current one, and the fetch scratch directory.
 */
export async function removeLeftovers(dir: string, current: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return;
    throw fileError("cannot list", dir, error);
  }
  for (const name of names) {
    if (
      (DATA_DIR_PATTERN.test(name) && name !== current) ||
      name === FETCH_DIR ||
      name === LEARNED_LOG_TAIL
    ) {
      await rm(join(dir, name), { recursive: true, force: true });
    }
  }
}
