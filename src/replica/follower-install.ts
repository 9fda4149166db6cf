/**
 * Full duplication, follower side: turning a checkpoint copied from the master cluster into a
 * brand-new replica's files, so that PartitionReplica.open then opens it like any replica.
 *
 * The copy already sits on this disk (replica-server/follower/), so it is renamed into place,
 * never copied again. Steps, each safe to repeat after a crash:
 *  1. adopt the copied environment (storage/adopt-checkpoint.ts: check its decree, reset the
 *     master's ballot to 0);
 *  2. rename it to `<dir>/data` (the initial environment name) and fsync `<dir>`;
 *  3. write CURRENT = {dataDir: "data", logResetDecree: decree} (replica-layout.ts).
 * The first open then resets the (new, empty) private log to the decree, as it finishes any
 * interrupted learner install, so the replica's next decree is `decree + 1` and its ballot floor
 * is 0: it takes the follower's configuration at whatever ballot the follower table is at.
 *
 * Only a replica directory with no storage of its own may receive a copy: CURRENT or a plog
 * present means the replica has a history here, and it is refused (ERR_INVALID_STATE).
 */
import { readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import { syncDir } from "../common/sync-dir.ts";
import { adoptCopiedCheckpoint } from "../storage/index.ts";
import { INITIAL_DATA_DIR, PLOG_DIR, readLayoutState, writeLayoutState } from "./replica-layout.ts";

const CURRENT_FILE = "CURRENT";

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot stat ${path}`, {
      details: { path },
      cause: error,
    });
  }
}

/**
 * Whether `dir` holds replica files of its own (a CURRENT, a plog or a storage environment).
 * Entries named in `ignore` (e.g. the follower copy's own directory) do not count.
 */
export async function replicaDirHasData(
  dir: string,
  ignore: readonly string[] = [],
): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot list ${dir}`, {
      details: { path: dir },
      cause: error,
    });
  }
  return names.some(
    (name) =>
      !ignore.includes(name) &&
      (name === CURRENT_FILE || name === PLOG_DIR || /^data(?:-\d{1,9})?$/.test(name)),
  );
}

/** Whether an install already wrote CURRENT (step 3): the replica is then ready to open. */
export async function replicaDirInstalled(dir: string): Promise<boolean> {
  return exists(join(dir, CURRENT_FILE));
}

/**
 * Installs the environment copied into `copiedDir` as the storage of the replica in `dir` (steps
 * above). `expectedDecree` is the decree the master said the checkpoint holds; the copy must hold
 * exactly that. Resolves to the decree and the master's ballot (now reset).
 */
export async function installCopiedCheckpoint(
  dir: string,
  copiedDir: string,
  expectedDecree: number,
): Promise<{ decree: number; masterBallot: number }> {
  if (await exists(join(dir, CURRENT_FILE))) {
    const layout = await readLayoutState(dir);
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `replica ${dir} already has storage (${layout.dataDir}); a copied checkpoint is not installed over it`,
      { details: { path: dir } },
    );
  }
  if (await exists(join(dir, PLOG_DIR))) {
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `replica ${dir} already has a private log; a copied checkpoint is not installed over it`,
      { details: { path: dir } },
    );
  }
  const target = join(dir, INITIAL_DATA_DIR);
  const copied = await exists(copiedDir);
  const renamed = await exists(target);
  if (copied && renamed) {
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `both ${copiedDir} and ${target} exist: cannot tell which one to install`,
      { details: { path: dir } },
    );
  }
  if (!copied && !renamed) {
    throw new TalariaError("ERR_OBJECT_NOT_FOUND", `no copied checkpoint in ${copiedDir}`, {
      details: { path: copiedDir },
    });
  }
  // Step 1 on whichever name the environment has now (a crash may have come after the rename).
  const adopted = await adoptCopiedCheckpoint(copied ? copiedDir : target);
  if (adopted.decree !== expectedDecree) {
    throw new TalariaError(
      "ERR_INVALID_DATA",
      `the copied checkpoint holds decree ${adopted.decree}, the master named ${expectedDecree}`,
      { details: { decree: adopted.decree, expectedDecree } },
    );
  }
  if (copied) {
    try {
      await rename(copiedDir, target);
    } catch (error) {
      throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot rename ${copiedDir}`, {
        details: { path: copiedDir },
        cause: error,
      });
    }
  }
  await syncDir(dir);
  await writeLayoutState(dir, { dataDir: INITIAL_DATA_DIR, logResetDecree: adopted.decree });
  return adopted;
}

/**
 * Removes an unusable copy: `copiedDir` and, while no CURRENT names it yet, the environment an
 * interrupted install already renamed into place.
 */
export async function discardCopiedCheckpoint(dir: string, copiedDir: string): Promise<void> {
  if (!(await exists(join(dir, CURRENT_FILE)))) {
    await rm(join(dir, INITIAL_DATA_DIR), { recursive: true, force: true });
  }
  await rm(copiedDir, { recursive: true, force: true });
}
