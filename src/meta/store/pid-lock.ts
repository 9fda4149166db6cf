/**
 * One process per embedded meta store. lmdb itself lets several processes share an environment,
 * which is safe for the data but not for the meta server: two meta servers on one store would each
 * believe they lead. So the store directory holds `meta.pid`, created exclusively (O_EXCL) with the
 * owner's pid and removed on close.
 *
 * A pid file left by a crashed process is stale when no process with that pid is alive; it is then
 * taken over (under an exclusive `meta.pid.takeover`, so two racing processes cannot both win).
 * If the OS has reused the pid for an unrelated live process, the open is refused and
 * the operator removes the file (the message says so). A second open inside the same process is
 * refused too: the recorded pid is alive (it is ours).
 */
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../../common/errors.ts";

export const PID_FILE = "meta.pid";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function createExclusive(file: string): Promise<boolean> {
  try {
    const handle = await open(file, "wx");
    try {
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot create ${file}`, {
      details: { path: file },
      cause: error,
    });
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(file, "utf8"), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot read ${file}`, {
      details: { path: file },
      cause: error,
    });
  }
}

function inUse(dir: string, file: string, owner: number): TalariaError {
  return new TalariaError(
    "ERR_INVALID_STATE",
    `meta store ${dir} is in use by process ${owner} (remove ${file} if that process is not a meta server)`,
    { details: { path: dir, pid: owner } },
  );
}

/** Takes the directory's pid lock; returns the function that releases it. */
export async function acquirePidLock(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, PID_FILE);
  const release = () => rm(file, { force: true });
  if (await createExclusive(file)) return release;
  const owner = await readPid(file);
  if (owner !== undefined && isAlive(owner)) throw inUse(dir, file, owner);
  // Stale, or unreadable (torn by a crash mid-write). Taking over is itself guarded by an exclusive
  // file so that of two processes racing here, the loser re-reads the winner's live pid.
  const takeover = `${file}.takeover`;
  if (!(await createExclusive(takeover))) {
    throw new TalariaError(
      "ERR_INVALID_STATE",
      `another process is taking over meta store ${dir} (remove ${takeover} if none is)`,
      { details: { path: dir } },
    );
  }
  try {
    const current = await readPid(file);
    if (current !== owner && current !== undefined && isAlive(current)) {
      throw inUse(dir, file, current);
    }
    await release();
    if (await createExclusive(file)) return release;
    throw new TalariaError("ERR_INVALID_STATE", `meta store ${dir} was taken by another process`, {
      details: { path: dir },
    });
  } finally {
    await rm(takeover, { force: true });
  }
}
