/**
 * One follower partition's checkpoint copy (full duplication, notes §3.8): find the master
 * partition's primary through the master meta servers, OPEN its checkpoint, pull every file in
 * CHUNKs into `<replica dir>/follower-copy/files/`, check each file's CRC32C, then install the
 * copy as the replica's storage (replica/follower-install.ts). The replica server opens the
 * PartitionReplica afterwards.
 *
 * Invariants:
 *  - Nothing is installed unless every file has its full length and its CRC32C matches the OPEN
 *    reply, and the environment holds the decree OPEN named.
 *  - The state file never claims a byte that is not durable (copy-state.ts), so a crash of this
 *    server resumes after the last synced prefix; a master restart that still serves the same
 *    checkpoint (same id, decree, files, primary) resumes too. Anything else — the id gone
 *    (ERR_OBJECT_NOT_FOUND), another checkpoint or another primary, an unreadable state — starts
 *    over from an empty directory.
 *  - A failed attempt is retried with capped exponential backoff, forever, until the copy is
 *    installed or aborted: every reply is validated, and a bad one fails only that attempt.
 *  - CHUNK calls stay in order of offset: at most `followerCopyChunksInFlight` in flight, their
 *    data written and CRC'd in offset order, each admitted by the server's shared token bucket.
 *  - When OPEN names the master's HTTP server, files are streamed over it instead (file-stream.ts:
 *    same prefix, CRC and sync rules). Any failure of that path falls back to CHUNK for the rest
 *    of the attempt, from the synced prefix; whether the checkpoint is still there is CHUNK's
 *    answer, so resume, refetch and start-over are the same on both paths.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { DUP_CHECKPOINT_NO_FULL_DUPLICATION } from "../../protocol/dup-checkpoint-messages.ts";
import {
  type DupCheckpointOpenResponse,
  type FollowerCopyProgress,
  type Gpid,
  gpidKey,
} from "../../protocol/index.ts";
import { discardCopiedCheckpoint, installCopiedCheckpoint } from "../../replica/index.ts";
import { type CheckpointHttpClient, CheckpointHttpError } from "./checkpoint-http.ts";
import {
  type CopiedFile,
  type CopyState,
  copiedBytes,
  copyDirOf,
  copyFilesDirOf,
  readCopyState,
  totalBytes,
  writeCopyState,
} from "./copy-state.ts";
import { abortable, pumpFile } from "./file-pump.ts";
import { streamFile } from "./file-stream.ts";
import type { MasterClient, MasterPartition, MasterRef } from "./master-client.ts";
import type { FollowerCopyMetrics } from "./metrics.ts";
import type { FollowerCopyLimits } from "./options.ts";
import type { TokenBucket } from "./token-bucket.ts";

export interface FollowerCopyInit {
  /** The follower partition. */
  readonly gpid: Gpid;
  /** Its replica directory. */
  readonly dir: string;
  readonly master: MasterRef;
  /** The follower table's partition count; the master's must be the same. */
  readonly partitionCount: number;
}

export interface FollowerCopyDeps {
  readonly client: MasterClient;
  /** The master cluster's HTTP bulk path; absent: CHUNK only. */
  readonly http?: CheckpointHttpClient;
  readonly bucket: TokenBucket;
  readonly limits: FollowerCopyLimits;
  readonly logger: Logger;
  readonly metrics?: FollowerCopyMetrics;
  /** Monotonic ms, for progress logs. */
  readonly nowMs: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Waits for one of the server's copy slots; resolves to its release. */
  readonly acquireSlot?: (signal: AbortSignal) => Promise<() => void>;
}

export interface InstalledCopy {
  readonly decree: number;
  /** The master's ballot the checkpoint carried (reset to 0 in the installed storage). */
  readonly masterBallot: number;
  readonly bytes: number;
}

function errorCode(error: unknown): string {
  return isTalariaError(error) ? error.code : "INTERNAL";
}

/** Same master checkpoint as the state describes: same table, primary, id, decree and files. */
function sameCheckpoint(
  state: CopyState,
  partition: MasterPartition,
  opened: DupCheckpointOpenResponse,
): boolean {
  return (
    state.masterAppId === partition.gpid.appId &&
    state.node === partition.primary &&
    state.id === opened.id &&
    state.decree === opened.decree &&
    state.files.length === opened.files.length &&
    state.files.every((file, i) => {
      const other = opened.files[i];
      return (
        other !== undefined &&
        file.name === other.name &&
        file.bytes === other.bytes &&
        file.crc32c === other.crc32c
      );
    })
  );
}

export class FollowerCopy {
  readonly init: FollowerCopyInit;
  private readonly deps: FollowerCopyDeps;
  private readonly logger: Logger;
  private state: CopyState | undefined;
  /** Bytes of the current checkpoint held (synced or not): the progress reported. */
  private copied = 0;
  private lastLogMs: number;
  private lastLogCopied = 0;
  /** An HTTP failure was logged (once per copy; each one is counted). */
  private httpFailureLogged = false;

  constructor(init: FollowerCopyInit, deps: FollowerCopyDeps) {
    this.init = init;
    this.deps = deps;
    this.logger = deps.logger.child({
      gpid: gpidKey(init.gpid),
      masterCluster: init.master.cluster,
    });
    this.lastLogMs = deps.nowMs();
  }

  /** Progress for the server's beacon (totalBytes 0 while the file list is not known). */
  progress(): FollowerCopyProgress {
    return { copiedBytes: this.copied, totalBytes: totalBytes(this.state) };
  }

  /** Attempts until the copy is installed; rejects only when `signal` aborts. */
  async run(signal: AbortSignal): Promise<InstalledCopy> {
    const { followerCopyRetryDelayMsMin: delayMin, followerCopyRetryDelayMsMax: delayMax } =
      this.deps.limits;
    let delayMs = delayMin;
    for (;;) {
      signal.throwIfAborted();
      const before = this.copied;
      const release = (await this.deps.acquireSlot?.(signal)) ?? (() => {});
      try {
        return await this.attempt(signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        // Progress in the failed attempt means the master works, and ERR_BUSY (the master is
        // making the checkpoint) asks to come back: retry soon in both cases.
        const busy = isTalariaError(error, "ERR_BUSY");
        if (this.copied > before || busy) delayMs = delayMin;
        this.deps.metrics?.failures.inc({ code: errorCode(error) });
        const fields = {
          err: error,
          code: errorCode(error),
          copiedBytes: this.copied,
          totalBytes: totalBytes(this.state),
          retryInMs: delayMs,
        };
        if (busy) {
          this.logger.info(fields, "follower copy: the master is busy (making the checkpoint)");
        } else if (isTalariaError(error, "ERR_INCONSISTENT_STATE")) {
          this.logger.error(
            fields,
            "follower copy: the master table does not match the follower table",
          );
        } else if (
          isTalariaError(error, "ERR_OBJECT_NOT_FOUND") &&
          error.details.reason === DUP_CHECKPOINT_NO_FULL_DUPLICATION
        ) {
          this.logger.error(
            fields,
            "follower copy: the master table has no full duplication in progress any more (removed?); this follower table stays incomplete and keeps asking: add the duplication again, or drop the follower table",
          );
        } else {
          this.logger.warn(fields, "follower copy attempt failed");
        }
      } finally {
        release();
      }
      await this.deps.sleep(delayMs, signal);
      delayMs = Math.min(delayMax, Math.max(1, delayMs) * 2);
    }
  }

  /** One attempt: resume or start the copy, finish it, install it. */
  async attempt(signal: AbortSignal): Promise<InstalledCopy> {
    const state = await this.loadState();
    if (state?.phase === "installing") return this.install(state);
    const { client, limits } = this.deps;
    const partition = await abortable(
      client.partition(this.init.gpid.partitionIndex, this.init.partitionCount),
      signal,
    );
    const opened = await abortable(
      client.open(partition.primary, partition.gpid, limits.followerCopyFilesMax),
      signal,
    );
    const current = await this.resumeOrStartOver(state, partition, opened);
    // The HTTP path for this attempt, until it fails once.
    let httpAddress = this.deps.http === undefined ? undefined : opened.httpAddress;
    for (const file of current.files) {
      if (file.doneBytes === file.bytes && file.bytes > 0) continue;
      let crc: number | undefined;
      if (httpAddress !== undefined) {
        try {
          crc = await this.streamFile(current, file, partition, httpAddress, signal);
        } catch (error) {
          if (signal.aborted || !(error instanceof CheckpointHttpError)) throw error;
          this.httpFailed(error, httpAddress);
          httpAddress = undefined;
          // Bytes past the synced prefix are copied again.
          this.copied = copiedBytes(current);
        }
      }
      crc ??= await this.pumpFile(current, file, partition, signal);
      await this.checkFile(current, file, crc);
    }
    current.phase = "installing";
    await writeCopyState(this.init.dir, current, { syncDir: true });
    return this.install(current);
  }

  /** The state on disk; an unreadable one is removed with the copy (start over). */
  private async loadState(): Promise<CopyState | undefined> {
    try {
      this.state = await readCopyState(this.init.dir);
    } catch (error) {
      this.logger.warn({ err: error }, "follower copy: state unreadable, starting over");
      this.deps.metrics?.restarts.inc();
      await rm(copyDirOf(this.init.dir), { recursive: true, force: true });
      this.state = undefined;
    }
    this.copied = copiedBytes(this.state);
    return this.state;
  }

  private async resumeOrStartOver(
    state: CopyState | undefined,
    partition: MasterPartition,
    opened: DupCheckpointOpenResponse,
  ): Promise<CopyState> {
    if (state !== undefined && sameCheckpoint(state, partition, opened)) {
      if (copiedBytes(state) > 0) {
        this.deps.metrics?.resumes.inc();
        this.logger.info(
          {
            id: state.id,
            decree: state.decree,
            copiedBytes: copiedBytes(state),
            totalBytes: totalBytes(state),
          },
          "follower copy: resuming",
        );
      }
      return state;
    }
    if (state !== undefined) {
      this.deps.metrics?.restarts.inc();
      this.logger.info(
        { previous: { id: state.id, node: state.node }, id: opened.id, node: partition.primary },
        "follower copy: the master offers another checkpoint, starting over",
      );
    }
    await rm(copyDirOf(this.init.dir), { recursive: true, force: true });
    await mkdir(copyFilesDirOf(this.init.dir), { recursive: true });
    const fresh: CopyState = {
      phase: "copying",
      masterAppId: partition.gpid.appId,
      node: partition.primary,
      id: opened.id,
      decree: opened.decree,
      files: opened.files.map((f) => ({ ...f, doneBytes: 0, doneCrc32c: 0 })),
    };
    await writeCopyState(this.init.dir, fresh);
    this.state = fresh;
    this.copied = 0;
    this.logger.info(
      {
        id: opened.id,
        decree: opened.decree,
        node: partition.primary,
        files: opened.files.length,
        totalBytes: totalBytes(fresh),
      },
      "follower copy: copying the master checkpoint",
    );
    return fresh;
  }

  private httpFailed(error: CheckpointHttpError, address: string): void {
    this.deps.metrics?.httpFallbacks.inc();
    const fields = { err: error, httpAddress: address };
    if (this.httpFailureLogged) {
      this.logger.debug(fields, "follower copy: HTTP path failed, copying with CHUNK");
      return;
    }
    this.httpFailureLogged = true;
    this.logger.warn(
      fields,
      "follower copy: HTTP path failed, copying with CHUNK for the rest of this attempt (logged once per copy)",
    );
  }

  private onBytes(state: CopyState): (bytes: number) => void {
    return (bytes) => {
      this.copied += bytes;
      if (bytes > 0) this.deps.metrics?.bytes.inc(bytes);
      this.logProgress(state);
    };
  }

  /** The rest of `file` over the master's HTTP server; resolves to the whole file's CRC32C. */
  private streamFile(
    state: CopyState,
    file: CopiedFile,
    partition: MasterPartition,
    address: string,
    signal: AbortSignal,
  ): Promise<number> {
    const http = this.deps.http;
    if (http === undefined) throw new Error("streamFile without an HTTP client");
    const ref = { gpid: partition.gpid, id: state.id, file: file.name, bytes: file.bytes };
    return streamFile({
      path: join(copyFilesDirOf(this.init.dir), file.name),
      file,
      get: (start, sink) =>
        http.get(
          address,
          ref,
          start,
          { stallMs: this.deps.limits.followerCopyHttpStallMs, signal },
          sink,
        ),
      bucket: this.deps.bucket,
      limits: this.deps.limits,
      saveState: () => writeCopyState(this.init.dir, state),
      onBytes: this.onBytes(state),
      logger: this.logger,
      signal,
    });
  }

  /** The rest of `file` in CHUNKs; resolves to the whole file's CRC32C. */
  private pumpFile(
    state: CopyState,
    file: CopiedFile,
    partition: MasterPartition,
    signal: AbortSignal,
  ): Promise<number> {
    const { client } = this.deps;
    return pumpFile({
      path: join(copyFilesDirOf(this.init.dir), file.name),
      file,
      fetch: (offset, length) =>
        client.chunk(partition.primary, {
          gpid: partition.gpid,
          id: state.id,
          file: file.name,
          offset,
          length,
        }),
      bucket: this.deps.bucket,
      limits: this.deps.limits,
      saveState: () => writeCopyState(this.init.dir, state),
      onBytes: this.onBytes(state),
      logger: this.logger,
      signal,
    });
  }

  /** Marks `file` done when `crc` is the master's, else resets it and fails the attempt. */
  private async checkFile(state: CopyState, file: CopiedFile, crc: number): Promise<void> {
    const { metrics } = this.deps;
    if (crc !== file.crc32c) {
      // Fetch the whole file again on the next attempt.
      this.copied -= file.bytes;
      file.doneBytes = 0;
      file.doneCrc32c = 0;
      await writeCopyState(this.init.dir, state);
      throw new TalariaError(
        "ERR_INVALID_DATA",
        `checkpoint file ${file.name} failed its CRC32C check (got ${crc}, the master listed ${file.crc32c})`,
        { retriable: true, details: { file: file.name, reason: "crc_mismatch" } },
      );
    }
    file.doneBytes = file.bytes;
    file.doneCrc32c = crc;
    await writeCopyState(this.init.dir, state);
    metrics?.files.inc();
  }

  private logProgress(state: CopyState): void {
    const now = this.deps.nowMs();
    const elapsedMs = now - this.lastLogMs;
    if (elapsedMs < this.deps.limits.followerCopyProgressLogMs) return;
    const mbPerSec = ((this.copied - this.lastLogCopied) / 1024 / 1024 / elapsedMs) * 1000;
    this.lastLogMs = now;
    this.lastLogCopied = this.copied;
    this.logger.info(
      {
        id: state.id,
        copiedBytes: this.copied,
        totalBytes: totalBytes(state),
        mbPerSec: Math.round(mbPerSec * 10) / 10,
      },
      "follower copy: progress",
    );
  }

  /**
   * Installs the finished copy. A copy whose environment does not hold the decree OPEN named (or
   * cannot be read) is discarded so the next attempt starts over.
   */
  private async install(state: CopyState): Promise<InstalledCopy> {
    const dir = this.init.dir;
    let adopted: { decree: number; masterBallot: number };
    try {
      adopted = await installCopiedCheckpoint(dir, copyFilesDirOf(dir), state.decree);
    } catch (error) {
      if (
        isTalariaError(error, "ERR_INVALID_DATA") ||
        isTalariaError(error, "ERR_INVALID_VERSION")
      ) {
        this.logger.warn(
          { err: error },
          "follower copy: the copied checkpoint is unusable, starting over",
        );
        await discardCopiedCheckpoint(dir, copyDirOf(dir));
        this.state = undefined;
        this.copied = 0;
      }
      throw error;
    }
    const bytes = totalBytes(state);
    await rm(copyDirOf(dir), { recursive: true, force: true });
    return { ...adopted, bytes };
  }
}
