/**
 * The follower copy's state file, so a copy resumes where it stopped after this server crashes
 * or the master restarts.
 *
 * Layout of `<replica dir>/follower-copy/`:
 *   state.json   this file (below), replaced atomically (temp file, fsync, rename)
 *   files/       the checkpoint's files as copied so far; renamed to `<replica dir>/data` once done
 *
 * state.json, version 1:
 *   { "v": 1, "phase": "copying" | "installing",
 *     "masterAppId": 3, "node": "host:port",             where the checkpoint was opened
 *     "id": "…", "decree": 1234,                          the master's checkpoint (OPEN reply)
 *     "files": [{ "name", "bytes", "crc32c",              the OPEN reply's list, in its order
 *                 "doneBytes", "doneCrc32c" }] }          copied prefix and its running CRC32C
 *
 * Invariant: the first `doneBytes` bytes of `files/<name>` are durable and their CRC32C is
 * `doneCrc32c` — the data file is fsynced BEFORE a state naming more bytes is written, so after a
 * crash the file may hold more than the state says (cut back on resume) but never less.
 * "installing" is written only once every file is complete and checked; from then on only the
 * install steps remain (replica/follower-install.ts), each repeatable.
 */
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../../common/errors.ts";
import { syncDir } from "../../common/sync-dir.ts";
import type { DupCheckpointFile } from "../../protocol/index.ts";
import * as v from "../../protocol/validate.ts";

export const FOLLOWER_COPY_DIR = "follower-copy";
export const FOLLOWER_COPY_FILES_DIR = "files";
const STATE_FILE = "state.json";
const STATE_VERSION = 1;
const FILES_MAX = 100_000;

export type CopyPhase = "copying" | "installing";

export interface CopiedFile extends DupCheckpointFile {
  doneBytes: number;
  doneCrc32c: number;
}

export interface CopyState {
  phase: CopyPhase;
  readonly masterAppId: number;
  readonly node: string;
  readonly id: string;
  readonly decree: number;
  readonly files: CopiedFile[];
}

export function copyDirOf(replicaDir: string): string {
  return join(replicaDir, FOLLOWER_COPY_DIR);
}

export function copyFilesDirOf(replicaDir: string): string {
  return join(copyDirOf(replicaDir), FOLLOWER_COPY_FILES_DIR);
}

export function copiedBytes(state: CopyState | undefined): number {
  return state === undefined ? 0 : state.files.reduce((sum, f) => sum + f.doneBytes, 0);
}

export function totalBytes(state: CopyState | undefined): number {
  return state === undefined ? 0 : state.files.reduce((sum, f) => sum + f.bytes, 0);
}

/** A plain file name: no directory part, not "." or "..", at most 255 characters. */
export function plainFileName(value: unknown, field: string): string {
  const name = v.string(value, field, 255);
  if (
    name.length === 0 ||
    name.includes("/") ||
    name.includes("\\") ||
    name.includes("\0") ||
    name === "." ||
    name === ".."
  ) {
    throw new v.TalariaErrorForField(field, "a plain file name", value);
  }
  return name;
}

function decodeState(value: unknown): CopyState {
  const s = v.object(value, "state");
  if (s.v !== STATE_VERSION) {
    throw new TalariaError("ERR_INVALID_VERSION", `follower copy state version ${String(s.v)}`, {
      details: { version: s.v, expected: STATE_VERSION },
    });
  }
  const files = v.array(s.files, "files", FILES_MAX, (item, field) => {
    const f = v.object(item, field);
    const bytes = v.integer(f.bytes, `${field}.bytes`, 0);
    return {
      name: plainFileName(f.name, `${field}.name`),
      bytes,
      crc32c: v.integer(f.crc32c, `${field}.crc32c`, 0, 0xffff_ffff),
      doneBytes: v.integer(f.doneBytes, `${field}.doneBytes`, 0, bytes),
      doneCrc32c: v.integer(f.doneCrc32c, `${field}.doneCrc32c`, 0, 0xffff_ffff),
    };
  });
  return {
    phase: v.oneOf(s.phase, "phase", ["copying", "installing"] as const),
    masterAppId: v.integer(s.masterAppId, "masterAppId", 0),
    node: v.nodeAddress(s.node, "node"),
    id: v.string(s.id, "id", 256),
    decree: v.integer(s.decree, "decree", 0),
    files,
  };
}

/**
 * The state in `<replicaDir>/follower-copy/`, undefined when there is none. A file that cannot be
 * read back as a valid state throws (ERR_INVALID_DATA / ERR_INVALID_VERSION): the caller starts
 * the copy over.
 */
export async function readCopyState(replicaDir: string): Promise<CopyState | undefined> {
  const path = join(copyDirOf(replicaDir), STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot read ${path}`, {
      details: { path },
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TalariaError("ERR_INVALID_DATA", `${path} is not JSON`, { cause: error });
  }
  try {
    return decodeState(parsed);
  } catch (error) {
    throw new TalariaError("ERR_INVALID_DATA", `${path} is malformed`, { cause: error });
  }
}

/**
 * Replaces the state file atomically: the new content is durable before the rename, so after a
 * crash the file is either the previous state or this one, both true (data is synced first). The
 * directory is not fsynced: losing the rename only resumes from the previous, shorter prefix, and
 * the copy writes this file every few MiB on disks that may be busy with live traffic. The switch
 * to "installing" passes `syncDir`: the install then moves `files/` away, which a state that
 * reverted to "copying" could not follow.
 */
export async function writeCopyState(
  replicaDir: string,
  state: CopyState,
  options: { syncDir?: boolean } = {},
): Promise<void> {
  const dir = copyDirOf(replicaDir);
  const path = join(dir, STATE_FILE);
  const temp = `${path}.tmp`;
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(temp, "w");
    try {
      await handle.writeFile(`${JSON.stringify({ v: STATE_VERSION, ...state })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    if (options.syncDir === true) await syncDir(dir);
  } catch (error) {
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot write ${path}`, {
      details: { path },
      cause: error,
    });
  }
}
