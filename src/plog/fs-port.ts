/**
 * The file-system port the plog does all its I/O through. Production uses `nodeFs`; the simulator
 * and tests pass a wrapper that injects faults (failed writes, failed fsyncs) without any hook in
 * the log itself. Every failure leaves the plog as a TalariaError with a stable code.
 */
import { fdatasyncSync, writeSync } from "node:fs";
import * as fs from "node:fs/promises";
import { TalariaError } from "../common/errors.ts";
import { syncDir } from "../common/sync-dir.ts";
import {
  FdatasyncGovernor,
  type FdatasyncPlace,
  type FdatasyncSwitch,
} from "./fdatasync-governor.ts";

export interface PlogFileHandle {
  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  write(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** "wx" creates a file that must not exist yet. */
export type PlogOpenFlags = "r" | "r+" | "wx";

export interface PlogFs {
  open(path: string, flags: PlogOpenFlags): Promise<PlogFileHandle>;
  readdir(dir: string): Promise<string[]>;
  unlink(path: string): Promise<void>;
  /**
   * Creates the directory and any missing parents; no error if it exists. Resolves to the first
   * (outermost) directory it created, undefined if it created none, like node's recursive mkdir.
   */
  mkdir(dir: string): Promise<string | undefined>;
  /** Makes creates and deletes of directory entries durable. */
  syncDir(dir: string): Promise<void>;
}

/** Cumulative counts of one FdatasyncRunner's syncs. */
export interface FdatasyncStats {
  readonly inline: number;
  readonly thread: number;
  /** Event-loop time the inline syncs took, seconds. */
  readonly inlineSeconds: number;
}

/**
 * Runs fdatasyncs where its governor says (fdatasync-governor.ts): inline with `fdatasyncSync`,
 * timing it, or on the thread pool. One per process, shared by every log it opens.
 */
export class FdatasyncRunner {
  readonly governor: FdatasyncGovernor;
  private readonly nowMs: () => number;
  private readonly onSwitch: (change: FdatasyncSwitch) => void;
  private readonly counts = { inline: 0, thread: 0, inlineSeconds: 0 };

  constructor(
    governor: FdatasyncGovernor,
    deps: { nowMs?: () => number; onSwitch?: (change: FdatasyncSwitch) => void } = {},
  ) {
    this.governor = governor;
    this.nowMs = deps.nowMs ?? (() => performance.now());
    this.onSwitch = deps.onSwitch ?? (() => {});
  }

  get stats(): FdatasyncStats {
    return { ...this.counts };
  }

  get place(): FdatasyncPlace {
    return this.governor.place;
  }

  run(handle: fs.FileHandle): Promise<void> {
    const startMs = this.nowMs();
    if (this.governor.next(startMs) === "thread") {
      this.counts.thread++;
      return handle.datasync();
    }
    try {
      fdatasyncSync(handle.fd);
    } catch (error) {
      return Promise.reject(error);
    }
    const endMs = this.nowMs();
    this.counts.inline++;
    this.counts.inlineSeconds += (endMs - startMs) / 1000;
    const change = this.governor.recordInline(endMs - startMs, endMs);
    if (change !== undefined) this.onSwitch(change);
    return Promise.resolve();
  }
}

/** Every fdatasync on the thread pool: what `nodeFs` does. */
const threadPoolFdatasync = new FdatasyncRunner(
  new FdatasyncGovernor({ mode: "thread", inlineMaxMs: 1, probeIntervalMs: 1 }),
);

/**
 * A node FileHandle whose writes are synchronous `pwrite`s: a log block is a copy into the page
 * cache (microseconds), while a thread-pool round trip costs 170–185 µs of CPU on the VMs we
 * benchmark on (docs/benchmarks.md). `datasync` runs where `fdatasync` decides.
 */
function withSyncWrites(handle: fs.FileHandle, fdatasync: FdatasyncRunner): PlogFileHandle {
  return {
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write: async (buffer, offset, length, position) => ({
      bytesWritten: writeSync(handle.fd, buffer, offset, length, position),
    }),
    datasync: () => fdatasync.run(handle),
    truncate: (length) => handle.truncate(length),
    stat: () => handle.stat(),
    close: () => handle.close(),
  };
}

/** The real file system, with the log files' fdatasyncs run by `fdatasync`. */
export function createNodeFs(fdatasync: FdatasyncRunner): PlogFs {
  return {
    open: async (path, flags) => withSyncWrites(await fs.open(path, flags), fdatasync),
    readdir: (dir) => fs.readdir(dir),
    unlink: (path) => fs.unlink(path),
    mkdir: (dir) => fs.mkdir(dir, { recursive: true }),
    syncDir,
  };
}

/** The real file system with every fdatasync on the thread pool (tools, tests). */
export const nodeFs: PlogFs = createNodeFs(threadPoolFdatasync);

export function isNotFound(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    "code" in error &&
    (error as { code: unknown }).code === "ENOENT"
  );
}

/** Runs one fs operation, turning any failure into ERR_FILE_OPERATION_FAILED naming op and path. */
export async function fsOp<T>(op: string, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof TalariaError) throw error;
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `${op} ${path} failed`, {
      details: { op, path },
      cause: error,
    });
  }
}

/** Reads up to `length` bytes at `position`; fewer only at end of file. */
export async function readAt(
  handle: PlogFileHandle,
  length: number,
  position: number,
): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** Writes all of `buffer` at `position` (a short write is retried from where it stopped). */
export async function writeAt(
  handle: PlogFileHandle,
  buffer: Buffer,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(
      buffer,
      written,
      buffer.length - written,
      position + written,
    );
    if (bytesWritten <= 0) throw new Error("write made no progress");
    written += bytesWritten;
  }
}
