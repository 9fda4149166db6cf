/**
 * The dup checkpoints of one partition replica: checkpoints of its storage made for full
 * duplication (DS_PREPARE), kept on disk so a follower pulling one, or a re-sync sending one,
 * finds the same files again after either side restarts.
 *
 * Layout of `<replica dir>/dup-checkpoints/`:
 *   <decree>/    data.mdb + checkpoint.json (StorageEngine.checkpoint); its id is `dup-<decree>`
 *   tmp-<n>/     one being made: renamed to <decree> once durable, removed on open
 *
 * Invariants:
 *  - A `<decree>/` directory is complete and durable: it is made in tmp-<n>, its files and the
 *    directory are fsynced, then it is renamed (and the parent fsynced). Its decree is the one
 *    the copy contains (the manifest, checked on open); a directory that fails the check is removed.
 *  - One checkpoint is made at a time; a request meanwhile waits for it and uses it if it covers.
 *  - At most `dupCheckpointsKeptMax` are kept (newest by decree), except those pinned by a
 *    re-sync reading them; `clear` removes every unpinned one.
 *  - The files listed (and served) are the checkpoint's own: lmdb's lock file, which a reader
 *    of the checkpoint creates next to data.mdb, is never listed.
 */
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { DupCheckpointFile } from "../protocol/dup-checkpoint-messages.ts";
import { type CheckpointInfo, LMDB_LOCK_FILE, readManifest } from "../storage/index.ts";
import { checkpointFiles } from "./checkpoint-transfer.ts";

export const DUP_CHECKPOINTS_DIR = "dup-checkpoints";

/** Named bounds of the dup checkpoint store (docs/limits.md). */
export const dupCheckpointLimits = {
  /** Dup checkpoints kept per partition (newest by decree; pinned ones are never evicted). */
  dupCheckpointsKeptMax: 3,
} as const;

const DECREE_DIR = /^\d{1,15}$/;
const ID_PATTERN = /^dup-(\d{1,15})$/;
const TEMP_PREFIX = "tmp-";
const APPLY_WAIT_MS_DEFAULT = 60_000;

export interface DupCheckpoint {
  /** `dup-<decree>`: stable across restarts while the checkpoint exists. */
  readonly id: string;
  /** The last decree the checkpoint holds. */
  readonly decree: number;
  readonly path: string;
}

/** What the store needs of the replica it checkpoints (PartitionReplica). */
export interface CheckpointedReplica {
  readonly lastAppliedDecree: number;
  whenApplied(decree: number): Promise<void>;
  flushStorage(): Promise<number>;
  checkpoint(dir: string): Promise<CheckpointInfo>;
}

export function dupCheckpointId(decree: number): string {
  return `dup-${decree}`;
}

/** The decree an id names, or undefined when it is not a dup checkpoint id. */
export function decreeOfId(id: string): number | undefined {
  const match = ID_PATTERN.exec(id);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function withDeadline<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(error()), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (cause: unknown) => {
        clearTimeout(timer);
        reject(cause);
      },
    );
  });
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class DupCheckpointStore {
  /** Ascending by decree. */
  private kept: DupCheckpoint[] = [];
  private readonly fileLists = new Map<string, Promise<DupCheckpointFile[]>>();
  private readonly pins = new Map<string, number>();
  private making: Promise<DupCheckpoint> | undefined;
  private nextTemp = 1;

  private constructor(
    readonly root: string,
    private readonly logger: Logger,
    private readonly keptMax: number,
    private readonly onMade: (checkpoint: DupCheckpoint) => void,
    private readonly applyWaitMs: number,
  ) {}

  /** Opens `<replicaDir>/dup-checkpoints`, keeping every complete checkpoint found there. */
  static async open(
    replicaDir: string,
    logger: Logger,
    options: {
      keptMax?: number;
      onMade?: (checkpoint: DupCheckpoint) => void;
      /** How long a checkpoint waits for its floor decree to be applied (60 s). */
      applyWaitMs?: number;
    } = {},
  ): Promise<DupCheckpointStore> {
    const store = new DupCheckpointStore(
      join(replicaDir, DUP_CHECKPOINTS_DIR),
      logger,
      options.keptMax ?? dupCheckpointLimits.dupCheckpointsKeptMax,
      options.onMade ?? (() => {}),
      options.applyWaitMs ?? APPLY_WAIT_MS_DEFAULT,
    );
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot list ${this.root}`, {
        cause: error,
      });
    }
    for (const name of names) {
      const path = join(this.root, name);
      if (name.startsWith(TEMP_PREFIX)) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (!DECREE_DIR.test(name)) continue;
      try {
        const manifest = await readManifest(path);
        if (manifest.decree !== Number(name)) {
          throw new TalariaError("ERR_INVALID_DATA", `manifest decree ${manifest.decree}`);
        }
        // A reader open when the server stopped left lmdb's lock file behind.
        await rm(join(path, LMDB_LOCK_FILE), { force: true });
        this.kept.push({ id: dupCheckpointId(manifest.decree), decree: manifest.decree, path });
      } catch (error) {
        this.logger.warn({ err: error, path }, "removing an unusable dup checkpoint");
        await rm(path, { recursive: true, force: true });
      }
    }
    this.kept.sort((a, b) => a.decree - b.decree);
    if (this.kept.length > 0) {
      this.logger.info(
        { dupCheckpoints: this.kept.map((c) => c.id) },
        "dup checkpoints found on disk",
      );
    }
  }

  list(): readonly DupCheckpoint[] {
    return this.kept;
  }

  get(id: string): DupCheckpoint | undefined {
    return this.kept.find((checkpoint) => checkpoint.id === id);
  }

  newest(): DupCheckpoint | undefined {
    return this.kept.at(-1);
  }

  /** Whether a checkpoint is being made now. */
  get busy(): boolean {
    return this.making !== undefined;
  }

  /**
   * Resolves to a kept checkpoint whose decree ≥ `floor`, making one (flush, then checkpoint)
   * when none does. One is made at a time; callers meanwhile share it.
   */
  async ensure(replica: CheckpointedReplica, floor: number): Promise<DupCheckpoint> {
    for (;;) {
      const newest = this.newest();
      if (newest !== undefined && newest.decree >= floor) return newest;
      if (this.making === undefined) {
        this.making = this.make(replica, floor).finally(() => {
          this.making = undefined;
        });
      }
      const made = await this.making;
      if (made.decree >= floor) return made;
    }
  }

  private async make(replica: CheckpointedReplica, floor: number): Promise<DupCheckpoint> {
    // A primary has applied every decree meta can name; wait (bounded) for the apply to catch up.
    await withDeadline(replica.whenApplied(floor), this.applyWaitMs, () => {
      return new TalariaError(
        "ERR_TIMEOUT",
        `decree ${floor} not applied within ${this.applyWaitMs} ms (applied ${replica.lastAppliedDecree})`,
        { retriable: true },
      );
    });
    await replica.flushStorage();
    await mkdir(this.root, { recursive: true });
    const temp = join(this.root, `${TEMP_PREFIX}${this.nextTemp++}`);
    await rm(temp, { recursive: true, force: true });
    let info: CheckpointInfo;
    try {
      info = await replica.checkpoint(temp);
      if (info.decree < floor) {
        throw new TalariaError(
          "ERR_INVALID_STATE",
          `the checkpoint holds decree ${info.decree}, below the ${floor} it must cover`,
        );
      }
      for (const name of await readdir(temp)) await syncPath(join(temp, name));
      await syncPath(temp);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw error;
    }
    const existing = this.kept.find((c) => c.decree === info.decree);
    if (existing !== undefined) {
      await rm(temp, { recursive: true, force: true });
      return existing;
    }
    const path = join(this.root, String(info.decree));
    await rm(path, { recursive: true, force: true });
    await rename(temp, path);
    await syncPath(this.root);
    const checkpoint: DupCheckpoint = {
      id: dupCheckpointId(info.decree),
      decree: info.decree,
      path,
    };
    this.kept.push(checkpoint);
    this.kept.sort((a, b) => a.decree - b.decree);
    this.logger.info(
      { dupCheckpoint: checkpoint.id, decree: info.decree, bytes: info.bytes, floor },
      "dup checkpoint made",
    );
    this.onMade(checkpoint);
    await this.evict();
    return checkpoint;
  }

  /**
   * The checkpoint's files with sizes and CRC32C, computed once per checkpoint: a read of the
   * whole checkpoint (from disk: lmdb writes its copies past the page cache), so a full
   * duplication asks for it right after making one (FullSyncSource), before a follower's OPEN.
   */
  files(checkpoint: DupCheckpoint): Promise<DupCheckpointFile[]> {
    let files = this.fileLists.get(checkpoint.id);
    if (files === undefined) {
      const startedMs = performance.now();
      files = checkpointFiles(checkpoint.path, (name) => name === LMDB_LOCK_FILE);
      files.then(
        (listed) =>
          this.logger.info(
            {
              dupCheckpoint: checkpoint.id,
              files: listed.length,
              bytes: listed.reduce((sum, file) => sum + file.bytes, 0),
              seconds: Number(((performance.now() - startedMs) / 1000).toFixed(3)),
            },
            "dup checkpoint files listed with their CRC32C",
          ),
        () => this.fileLists.delete(checkpoint.id),
      );
      this.fileLists.set(checkpoint.id, files);
    }
    return files;
  }

  /** Keeps `id` from being evicted or cleared until the returned function is called. */
  pin(id: string): () => void {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const count = (this.pins.get(id) ?? 1) - 1;
      if (count <= 0) this.pins.delete(id);
      else this.pins.set(id, count);
    };
  }

  /** Removes every checkpoint that is not pinned (no duplication copies data any more). */
  async clear(): Promise<number> {
    let removed = 0;
    for (const checkpoint of [...this.kept]) {
      if (this.pins.has(checkpoint.id)) continue;
      await this.remove(checkpoint);
      removed++;
    }
    return removed;
  }

  private async evict(): Promise<void> {
    while (this.kept.length > this.keptMax) {
      const oldest = this.kept.find((checkpoint) => !this.pins.has(checkpoint.id));
      if (oldest === undefined || oldest === this.newest()) return;
      await this.remove(oldest);
    }
  }

  private async remove(checkpoint: DupCheckpoint): Promise<void> {
    this.kept = this.kept.filter((c) => c !== checkpoint);
    this.fileLists.delete(checkpoint.id);
    await rm(checkpoint.path, { recursive: true, force: true });
    this.logger.info({ dupCheckpoint: checkpoint.id }, "dup checkpoint removed");
  }

  /** Waits for a checkpoint being made (its outcome is not needed). */
  async close(): Promise<void> {
    await this.making?.catch(() => undefined);
  }
}
