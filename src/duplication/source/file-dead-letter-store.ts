/**
 * Dead letters kept as files under the replica's directory (`<replicaDir>/dup-dead-letters/`), one
 * file per letter, so a letter is written, listed and removed without touching the others.
 *
 * File name: `dl-<id:16 digits>-<dupid>-<entryCount>.bin` (ids and counts without reading files).
 * File layout, format v1 (integers big-endian):
 *
 *   magic "TDLT" ‖ version:u8 (= 1) ‖ crc32c(body):u32 ‖ bodyLength:u32 ‖ body
 *   body = headerLength:u32 ‖ header (UTF-8 JSON: dupid, kind, fromDecree, toDecree,
 *          targetPartition, targetPartitionCount, error, attempts, createdAtMs)
 *          ‖ entries (a mutation-codec v1 mutation {ballot 0, decree toDecree, timestamp 0,
 *            updates [DUPLICATE {entries}]}: the entries with their timestamps and cluster ids)
 *
 * Crash safety: a letter is written to `<name>.tmp`, fsynced, renamed and the directory fsynced
 * before append resolves; open deletes leftover `.tmp` files. A file that fails its checksum is
 * reported by `list` (ERR_CORRUPTION naming it), never silently skipped.
 */

import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import type { DuplicateEntry } from "../../codec/mutation.ts";
import { UpdateKind } from "../../codec/mutation.ts";
import { decodeMutation, encodeMutation } from "../../codec/mutation-codec.ts";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import { syncDir } from "../../common/sync-dir.ts";
import {
  checkRoom,
  DEAD_LETTERS_MAX,
  type DeadLetterCounts,
  type DeadLetterListOptions,
  type DeadLetterStore,
  listLimit,
  type StoredDeadLetter,
} from "./dead-letter-store.ts";
import type { DeadLetterRecord } from "./events.ts";

/** The store's directory inside a replica's directory. */
export const DEAD_LETTERS_DIR = "dup-dead-letters";
export const DEAD_LETTER_FORMAT_VERSION = 1;
const MAGIC = Buffer.from("TDLT", "ascii");
const PREAMBLE_BYTES = 4 + 1 + 4 + 4;
const NAME_PATTERN = /^dl-(\d{16})-(\d+)-(\d+)\.bin$/;

interface IndexEntry {
  readonly fileName: string;
  readonly dupid: number;
  readonly entries: number;
}

function fileError(what: string, path: string, cause: unknown): TalariaError {
  return new TalariaError("ERR_FILE_OPERATION_FAILED", `dead-letter store: ${what} ${path}`, {
    details: { path },
    cause,
  });
}

export function encodeDeadLetter(letter: StoredDeadLetter): Buffer {
  const { entries, id: _id, ...rest } = letter;
  const header = Buffer.from(JSON.stringify(rest), "utf8");
  const mutation = encodeMutation({
    ballot: 0,
    decree: letter.toDecree,
    timestampUs: 0,
    updates: [{ kind: UpdateKind.DUPLICATE, entries }],
  });
  const body = Buffer.alloc(4 + header.length + mutation.length);
  body.writeUInt32BE(header.length, 0);
  header.copy(body, 4);
  mutation.copy(body, 4 + header.length);
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt8(DEAD_LETTER_FORMAT_VERSION, 4);
  preamble.writeUInt32BE(crc32c(body), 5);
  preamble.writeUInt32BE(body.length, 9);
  return Buffer.concat([preamble, body]);
}

export function decodeDeadLetter(bytes: Buffer, id: number, file: string): StoredDeadLetter {
  const corrupt = (reason: string) =>
    new TalariaError("ERR_CORRUPTION", `dead letter ${file}: ${reason}`, {
      details: { file, offset: 0, reason },
    });
  if (bytes.length < PREAMBLE_BYTES || !bytes.subarray(0, 4).equals(MAGIC)) {
    throw corrupt("bad magic");
  }
  const version = bytes.readUInt8(4);
  if (version !== DEAD_LETTER_FORMAT_VERSION) {
    throw new TalariaError("ERR_INVALID_VERSION", `dead letter ${file}: version ${version}`);
  }
  const bodyLength = bytes.readUInt32BE(9);
  const body = bytes.subarray(PREAMBLE_BYTES);
  if (body.length !== bodyLength) throw corrupt("length mismatch");
  if (crc32c(body) !== bytes.readUInt32BE(5)) throw corrupt("checksum mismatch");
  try {
    const headerLength = body.readUInt32BE(0);
    const header = JSON.parse(body.subarray(4, 4 + headerLength).toString("utf8")) as Omit<
      StoredDeadLetter,
      "id" | "entries"
    >;
    const mutation = decodeMutation(Buffer.from(body.subarray(4 + headerLength)));
    const update = mutation.updates[0];
    const entries: readonly DuplicateEntry[] =
      update?.kind === UpdateKind.DUPLICATE ? update.entries : [];
    return { ...header, id, entries };
  } catch (error) {
    if (isTalariaError(error)) throw error;
    throw corrupt(`undecodable: ${String(error)}`);
  }
}

export class FileDeadLetterStore implements DeadLetterStore {
  private readonly index = new Map<number, IndexEntry>();
  private lastId = 0;

  private constructor(
    private readonly dir: string,
    private readonly lettersMax: number,
  ) {}

  /** Opens (creating if needed) the store in `dir` (usually `<replicaDir>/dup-dead-letters`). */
  static async open(dir: string, lettersMax = DEAD_LETTERS_MAX): Promise<FileDeadLetterStore> {
    const store = new FileDeadLetterStore(dir, lettersMax);
    let names: string[];
    try {
      await mkdir(dir, { recursive: true });
      names = await readdir(dir);
    } catch (error) {
      throw fileError("cannot open", dir, error);
    }
    for (const name of names.sort()) {
      if (name.endsWith(".tmp")) {
        await rm(join(dir, name), { force: true });
        continue;
      }
      const match = NAME_PATTERN.exec(name);
      if (match === null) continue;
      const id = Number(match[1]);
      store.index.set(id, { fileName: name, dupid: Number(match[2]), entries: Number(match[3]) });
      store.lastId = Math.max(store.lastId, id);
    }
    return store;
  }

  async append(dupid: number, letter: DeadLetterRecord, createdAtMs: number): Promise<number> {
    checkRoom(this.index.size, this.lettersMax);
    // Taken before any await, so concurrent appends get distinct, increasing ids.
    const id = ++this.lastId;
    const fileName = `dl-${String(id).padStart(16, "0")}-${dupid}-${letter.entries.length}.bin`;
    const path = join(this.dir, fileName);
    const temp = `${path}.tmp`;
    const bytes = encodeDeadLetter({ ...letter, id, dupid, createdAtMs });
    try {
      const handle = await open(temp, "wx");
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      await syncDir(this.dir);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw fileError("cannot write", path, error);
    }
    this.index.set(id, { fileName, dupid, entries: letter.entries.length });
    return id;
  }

  async list(options: DeadLetterListOptions = {}): Promise<StoredDeadLetter[]> {
    const limit = listLimit(options);
    const ids = [...this.index.keys()].sort((a, b) => a - b);
    const out: StoredDeadLetter[] = [];
    for (const id of ids) {
      if (out.length >= limit) break;
      const entry = this.index.get(id);
      if (entry === undefined) continue;
      if (options.dupid !== undefined && entry.dupid !== options.dupid) continue;
      if (options.afterId !== undefined && id <= options.afterId) continue;
      const path = join(this.dir, entry.fileName);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (error) {
        throw fileError("cannot read", path, error);
      }
      out.push(decodeDeadLetter(bytes, id, entry.fileName));
    }
    return out;
  }

  async remove(id: number): Promise<void> {
    const entry = this.index.get(id);
    if (entry === undefined) return;
    const path = join(this.dir, entry.fileName);
    try {
      await rm(path, { force: true });
      await syncDir(this.dir);
    } catch (error) {
      throw fileError("cannot remove", path, error);
    }
    this.index.delete(id);
  }

  counts(dupid?: number): DeadLetterCounts {
    let letters = 0;
    let entries = 0;
    for (const entry of this.index.values()) {
      if (dupid !== undefined && entry.dupid !== dupid) continue;
      letters++;
      entries += entry.entries;
    }
    return { letters, entries };
  }

  async close(): Promise<void> {}
}
