/**
 * An in-memory PlogFs that knows what a crash keeps, for crash tests and the simulator: run the
 * log on it, stop it at any step, and reopen the log on what survived.
 *
 * Model (a journaled POSIX file system, at its least generous):
 * - file data: writes and truncates change a file at once; fdatasync makes its current data
 *   durable. A crash keeps the durable data plus some prefix of the changes since (in order);
 * - directory entries: creates (open "wx") and unlinks change a directory at once; syncDir makes
 *   them durable. A crash keeps the durable entries plus some prefix of the changes since;
 * - directories themselves (mkdir) are durable at once;
 * - `crash(keep)` builds the file system a restart would find; `keep` picks each prefix (default:
 *   nothing unsynced survives), and may tear a file's next write after that prefix (a write
 *   reaches the disk in pieces). `stopAfter(n)` lets n more mutating calls (create, write,
 *   truncate, fdatasync, unlink, syncDir, mkdir) happen and fails every call after them, as if
 *   the process died there.
 * Memory: the current and the durable copy of every file.
 */
import * as path from "node:path";
import type { PlogFileHandle, PlogFs, PlogOpenFlags } from "./fs-port.ts";

type DataChange =
  | { readonly kind: "write"; readonly position: number; readonly bytes: Buffer }
  | { readonly kind: "truncate"; readonly length: number };

type EntryChange =
  | { readonly kind: "create"; readonly name: string; readonly file: MemoryFile }
  | { readonly kind: "unlink"; readonly name: string };

class MemoryFile {
  data: Buffer;
  durable: Buffer;
  changes: DataChange[] = [];

  constructor(data: Buffer = Buffer.alloc(0)) {
    this.data = data;
    this.durable = Buffer.from(data);
  }

  apply(change: DataChange): void {
    this.data = applyChange(this.data, change);
    this.changes.push(change);
  }

  sync(): void {
    this.durable = Buffer.from(this.data);
    this.changes = [];
  }
}

function applyChange(data: Buffer, change: DataChange): Buffer {
  if (change.kind === "truncate") {
    if (change.length <= data.length) return Buffer.from(data.subarray(0, change.length));
    return Buffer.concat([data, Buffer.alloc(change.length - data.length)]);
  }
  const end = change.position + change.bytes.length;
  const out = end > data.length ? Buffer.concat([data, Buffer.alloc(end - data.length)]) : data;
  change.bytes.copy(out, change.position);
  return out;
}

class MemoryDir {
  entries = new Map<string, MemoryFile>();
  durable = new Map<string, MemoryFile>();
  changes: EntryChange[] = [];
}

/**
 * What a crash keeps of the changes not yet synced: how many of `pending`, in order, and for a
 * file optionally the first `tornBytes` bytes of the next one if it is a write.
 */
export type CrashKeep = (what: {
  readonly kind: "file" | "dir";
  readonly path: string;
  readonly pending: number;
}) => number | { readonly whole: number; readonly tornBytes: number };

function fsError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

export class MemoryFs implements PlogFs {
  private readonly dirs = new Map<string, MemoryDir>([["/", new MemoryDir()]]);
  private mutationsLeft = Number.POSITIVE_INFINITY;
  /** Mutating calls made so far. */
  mutations = 0;

  /** Lets `count` more mutating calls happen; every call after them fails with EIO. */
  stopAfter(count: number): void {
    this.mutationsLeft = count;
  }

  /** Whether stopAfter's budget is spent (the simulated process is dead). */
  get stopped(): boolean {
    return this.mutationsLeft <= 0;
  }

  /** The file system a restart finds after a crash now (see the header). */
  crash(keep: CrashKeep = () => 0): MemoryFs {
    const after = new MemoryFs();
    const files = new Map<MemoryFile, MemoryFile>();
    for (const [dirPath, dir] of this.dirs) {
      const entries = new Map(dir.durable);
      const kept = keep({ kind: "dir", path: dirPath, pending: dir.changes.length });
      const whole = typeof kept === "number" ? kept : kept.whole;
      for (const change of dir.changes.slice(0, Math.max(0, whole))) {
        if (change.kind === "create") entries.set(change.name, change.file);
        else entries.delete(change.name);
      }
      const copy = new MemoryDir();
      for (const [name, file] of entries) {
        let survivor = files.get(file);
        if (survivor === undefined) {
          const filePath = path.join(dirPath, name);
          const kept = keep({ kind: "file", path: filePath, pending: file.changes.length });
          const whole = Math.max(0, typeof kept === "number" ? kept : kept.whole);
          let data: Buffer = Buffer.from(file.durable);
          for (const change of file.changes.slice(0, whole)) data = applyChange(data, change);
          const next = file.changes[whole];
          if (typeof kept !== "number" && next?.kind === "write" && kept.tornBytes > 0) {
            const bytes = next.bytes.subarray(0, Math.min(kept.tornBytes, next.bytes.length));
            data = applyChange(data, { kind: "write", position: next.position, bytes });
          }
          survivor = new MemoryFile(data);
          files.set(file, survivor);
        }
        copy.entries.set(name, survivor);
        copy.durable.set(name, survivor);
      }
      after.dirs.set(dirPath, copy);
    }
    return after;
  }

  /** Current contents of a file (for tests that inspect or damage them). */
  fileData(filePath: string): Buffer | undefined {
    return this.lookup(filePath)?.data;
  }

  async open(filePath: string, flags: PlogOpenFlags): Promise<PlogFileHandle> {
    const dir = this.dirOf(filePath);
    const name = path.basename(filePath);
    let file = dir.entries.get(name);
    if (flags === "wx") {
      this.mutate();
      if (file !== undefined) throw fsError("EEXIST", `file already exists, open '${filePath}'`);
      file = new MemoryFile();
      dir.entries.set(name, file);
      dir.changes.push({ kind: "create", name, file });
    } else {
      this.check();
      if (file === undefined) throw fsError("ENOENT", `no such file, open '${filePath}'`);
    }
    return this.handle(file, flags !== "r", filePath);
  }

  async readdir(dirPath: string): Promise<string[]> {
    this.check();
    const dir = this.dirs.get(path.resolve(dirPath));
    if (dir === undefined) throw fsError("ENOENT", `no such directory, scandir '${dirPath}'`);
    return [...dir.entries.keys()].sort();
  }

  async unlink(filePath: string): Promise<void> {
    this.mutate();
    const dir = this.dirOf(filePath);
    const name = path.basename(filePath);
    if (!dir.entries.delete(name)) throw fsError("ENOENT", `no such file, unlink '${filePath}'`);
    dir.changes.push({ kind: "unlink", name });
  }

  async mkdir(dirPath: string): Promise<string | undefined> {
    const resolved = path.resolve(dirPath);
    const missing: string[] = [];
    // Bounded by the path's depth.
    for (let current = resolved; !this.dirs.has(current); current = path.dirname(current)) {
      missing.unshift(current);
    }
    if (missing.length === 0) {
      this.check();
      return undefined;
    }
    this.mutate();
    for (const created of missing) this.dirs.set(created, new MemoryDir());
    return missing[0];
  }

  async syncDir(dirPath: string): Promise<void> {
    this.mutate();
    const dir = this.dirs.get(path.resolve(dirPath));
    if (dir === undefined) throw fsError("ENOENT", `no such directory, open '${dirPath}'`);
    dir.durable = new Map(dir.entries);
    dir.changes = [];
  }

  private handle(file: MemoryFile, writable: boolean, filePath: string): PlogFileHandle {
    let closed = false;
    const usable = (write: boolean): void => {
      if (closed) throw fsError("EBADF", `file closed, '${filePath}'`);
      if (write && !writable) throw fsError("EBADF", `file opened read-only, '${filePath}'`);
    };
    return {
      read: async (buffer, offset, length, position) => {
        this.check();
        usable(false);
        const bytesRead = Math.max(0, Math.min(length, file.data.length - position));
        file.data.copy(buffer, offset, position, position + bytesRead);
        return { bytesRead };
      },
      write: async (buffer, offset, length, position) => {
        this.mutate();
        usable(true);
        const bytes = Buffer.from(buffer.subarray(offset, offset + length));
        file.apply({ kind: "write", position, bytes });
        return { bytesWritten: length };
      },
      truncate: async (length) => {
        this.mutate();
        usable(true);
        file.apply({ kind: "truncate", length });
      },
      datasync: async () => {
        this.mutate();
        usable(false);
        file.sync();
      },
      stat: async () => {
        this.check();
        usable(false);
        return { size: file.data.length };
      },
      // Closing never fails, even on a stopped file system: a dead process's files are closed.
      close: async () => {
        closed = true;
      },
    };
  }

  private lookup(filePath: string): MemoryFile | undefined {
    return this.dirs
      .get(path.dirname(path.resolve(filePath)))
      ?.entries.get(path.basename(filePath));
  }

  private dirOf(filePath: string): MemoryDir {
    const dirPath = path.dirname(path.resolve(filePath));
    const dir = this.dirs.get(dirPath);
    if (dir === undefined) throw fsError("ENOENT", `no such directory '${dirPath}'`);
    return dir;
  }

  private check(): void {
    if (this.mutationsLeft <= 0) throw fsError("EIO", "the process stopped (MemoryFs.stopAfter)");
  }

  private mutate(): void {
    this.check();
    this.mutationsLeft -= 1;
    this.mutations += 1;
  }
}
