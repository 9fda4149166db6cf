/**
 * Installing a checkpoint on a learner (INSTALL_CHECKPOINT): fetch it, open it as a new storage
 * environment, then switch storage and reset the log so the next append is `decree + 1`.
 *
 * Two phases, with different failure handling:
 *  1. prepare — fetch into `<dir>/fetch`, rename its data.mdb into a fresh `<dir>/data-<n>` (the
 *     same file system: nothing is copied a second time; the file, `data-<n>` and `<dir>` are
 *     fsynced) and open it, check it holds the decree (and ballot) the ref names. Nothing in use
 *     changes: on failure `data-<n>` is removed and the core is told CHECKPOINT_INSTALL_FAILED
 *     (the learner asks again and fetches again). A crash here leaves `data-<n>` unnamed by
 *     CURRENT, so the next open removes it with the fetch directory (replica-layout.ts): the old
 *     storage and log, untouched.
 *  2. commit — close the old environment, point CURRENT at the new one with `logResetDecree`,
 *     reset the log, clear `logResetDecree`, delete the old environment. A crash anywhere rolls
 *     forward on the next open (replica-layout.ts); a failure here stops the replica, since
 *     storage and log may then disagree until it reopens.
 * Step-back (log-tail.ts): a checkpoint with a log tail leaves the log starting at the tail's first
 * decree instead of empty. A crash before the install completes rolls forward to an empty log
 * (the tail is only kept for duplication; storage and log agree either way), and a tail that
 * cannot be applied is dropped the same way, with a warning.
 */
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { TalariaError } from "../common/errors.ts";
import type { CheckpointRef } from "../protocol/replica-messages.ts";
import { StorageEngine, type StorageEngineOptions } from "../storage/index.ts";
import { applyLogTail, LOG_TAIL_FILE } from "./log-tail.ts";
import { FETCH_DIR, LEARNED_LOG_TAIL, nextDataDir, writeLayoutState } from "./replica-layout.ts";
import type { ReplicaLog } from "./replica-log.ts";

export interface PreparedCheckpoint {
  readonly engine: StorageEngine;
  readonly dataDir: string;
  /** The checkpoint's log tail, moved out of the fetch directory (step-back). */
  readonly logTailPath?: string;
}

/** What the commit did with the log. */
export interface CommittedCheckpoint {
  /** The log's first decree after the install (decree + 1 without a tail). */
  readonly logFirstDecree: number;
  /** Why a tail that came with the checkpoint was dropped. */
  readonly tailDropped?: unknown;
}

export async function prepareCheckpoint(
  dir: string,
  currentDataDir: string,
  ref: CheckpointRef,
  fetchCheckpoint: (ref: CheckpointRef, scratchDir: string) => Promise<string>,
  storageOptions: Omit<StorageEngineOptions, "path">,
): Promise<PreparedCheckpoint> {
  const scratch = join(dir, FETCH_DIR);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  try {
    const local = await fetchCheckpoint(ref, scratch);
    const logTailPath = await takeLogTail(local, dir);
    const dataDir = nextDataDir(currentDataDir);
    const path = join(dir, dataDir);
    await rm(path, { recursive: true, force: true });
    // The fetch directory is scratch inside `dir`: what was fetched into it is renamed, not copied
    // (a directory elsewhere, which a fetch may resolve to, is not ours to consume).
    const transfer = isInside(local, scratch) ? "move" : "copy";
    const engine = await StorageEngine.openFromCheckpoint(local, path, storageOptions, transfer);
    const decree = engine.lastAppliedDecree;
    const ballot = engine.lastAppliedBallot;
    if (decree !== ref.decree || (ref.ballot !== 0 && ballot !== ref.ballot)) {
      await engine.close();
      await rm(path, { recursive: true, force: true });
      throw new TalariaError(
        "ERR_INVALID_DATA",
        `checkpoint ${ref.id} from ${ref.node} holds (${decree}, ballot ${ballot}), the ref says (${ref.decree}, ballot ${ref.ballot})`,
        { details: { id: ref.id, node: ref.node } },
      );
    }
    return logTailPath === undefined ? { engine, dataDir } : { engine, dataDir, logTailPath };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export async function commitCheckpoint(
  dir: string,
  log: ReplicaLog,
  oldEngine: StorageEngine,
  oldDataDir: string,
  prepared: PreparedCheckpoint,
): Promise<CommittedCheckpoint> {
  const decree = prepared.engine.lastAppliedDecree;
  await oldEngine.close();
  await writeLayoutState(dir, { dataDir: prepared.dataDir, logResetDecree: decree });
  await log.resetTo(decree);
  let result: CommittedCheckpoint = { logFirstDecree: decree + 1 };
  if (prepared.logTailPath !== undefined) {
    try {
      result = { logFirstDecree: await applyLogTail(log, prepared.logTailPath, decree) };
    } catch (error) {
      await log.resetTo(decree);
      result = { logFirstDecree: decree + 1, tailDropped: error };
    }
    await rm(prepared.logTailPath, { force: true });
  }
  await writeLayoutState(dir, { dataDir: prepared.dataDir });
  await rm(join(dir, oldDataDir), { recursive: true, force: true });
  return result;
}

/** Whether `path` is `dir` or lies under it. */
function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** Moves the fetched checkpoint's log tail (if any) next to the replica's files. */
async function takeLogTail(fetched: string, dir: string): Promise<string | undefined> {
  const tail = join(fetched, LOG_TAIL_FILE);
  const present = await stat(tail).then(
    () => true,
    () => false,
  );
  if (!present) return undefined;
  const path = join(dir, LEARNED_LOG_TAIL);
  await rename(tail, path);
  return path;
}
