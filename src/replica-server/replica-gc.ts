/**
 * Deleting the replica directories of tables removed for good (docs/storage.md, "Replicas a server
 * no longer serves"). Only the meta server's word decides what is garbage: it names a table in a
 * beacon reply's `removedAppIds` once the table was dropped, its hold period ended and its removal
 * was recorded (meta layout `removed_apps/`); app ids are never reused, so no later table can own
 * the directories. This module only moves and deletes them.
 *
 * Stale replicas (meta core stale-replicas.ts) are moved aside as `<gpid>.<ms>.stale` instead, and
 * deleted once `gc_disk_garbage_replica_interval_seconds` has passed.
 *
 * Invariants:
 *  - A directory is first renamed to `<appId>.<partition>.gar` (one atomic rename), then deleted.
 *    A crash mid-delete leaves a `.gar` directory, which startup deletes; it never leaves a
 *    half-deleted `<appId>.<partition>` that would be opened as a replica.
 *  - Only directories named exactly `<appId>.<partition>` of a removed appId or of a replica named
 *    stale, and `.gar` and `.stale` directories, are touched; anything else in the data directory
 *    is left alone.
 */
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import type { ReplicaMetrics } from "../metrics/index.ts";
import { type Gpid, gpidKey, parseGpid, type ReplicaStatus } from "../protocol/index.ts";

/** Suffix of a replica directory on its way out. */
const GARBAGE_SUFFIX = ".gar";
/** Suffix of a stale replica's directory kept for its hold period: `<gpid>.<retired ms>.stale`. */
const STALE_SUFFIX = ".stale";

const GARBAGE_NAME = /^\d{1,9}\.\d{1,6}\.gar$/;
const STALE_NAME = /^\d{1,9}\.\d{1,6}\.(\d{1,16})\.stale$/;

/** The names of the replica directories of `appIds` in `dataDir`, sorted. */
export async function replicaDirsOf(
  dataDir: string,
  appIds: ReadonlySet<number>,
): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    let appId: number;
    try {
      appId = parseGpid(entry.name).appId;
    } catch {
      continue;
    }
    if (appIds.has(appId)) names.push(entry.name);
  }
  return names.sort();
}

/**
 * Moves each named replica directory to `<name>.gar`, then deletes it. Returns how many were
 * deleted; a failure is logged and leaves that directory (under either name) for a later pass.
 */
export async function deleteReplicaDirs(
  dataDir: string,
  names: readonly string[],
  logger: Logger = silentLogger,
): Promise<number> {
  let deleted = 0;
  for (const name of names) {
    const garbage = join(dataDir, `${name}${GARBAGE_SUFFIX}`);
    try {
      await rename(join(dataDir, name), garbage);
      await rm(garbage, { recursive: true, force: true });
      deleted += 1;
      logger.info({ gpid: name }, "deleted the replica of a table removed for good");
    } catch (error) {
      logger.warn({ err: error, gpid: name }, "cannot delete the replica of a removed table");
    }
  }
  return deleted;
}

/** Deletes the `.gar` directories a crash left behind; returns their names. */
export async function deleteLeftoverGarbage(
  dataDir: string,
  logger: Logger = silentLogger,
): Promise<string[]> {
  const done: string[] = [];
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !GARBAGE_NAME.test(entry.name)) continue;
    try {
      await rm(join(dataDir, entry.name), { recursive: true, force: true });
      done.push(entry.name);
      logger.info({ dir: entry.name }, "deleted a replica directory left half-deleted");
    } catch (error) {
      logger.warn(
        { err: error, dir: entry.name },
        "cannot delete a half-deleted replica directory",
      );
    }
  }
  return done.sort();
}

/**
 * Moves a stale replica's directory (`<gpid>`) aside as `<gpid>.<nowMs>.stale`, out of the names
 * the server opens, where it waits for its hold period (deleteExpiredStale). Returns the new name.
 */
export async function retireReplicaDir(
  dataDir: string,
  name: string,
  nowMs: number,
): Promise<string> {
  const retired = `${name}.${Math.max(0, Math.floor(nowMs))}${STALE_SUFFIX}`;
  await rename(join(dataDir, name), join(dataDir, retired));
  return retired;
}

/** Deletes the stale replica directories retired at least `holdMs` before `nowMs`; their names. */
export async function deleteExpiredStale(
  dataDir: string,
  nowMs: number,
  holdMs: number,
  logger: Logger = silentLogger,
): Promise<string[]> {
  const done: string[] = [];
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    const match = STALE_NAME.exec(entry.name);
    if (!entry.isDirectory() || match === null) continue;
    if (Number(match[1]) + holdMs > nowMs) continue;
    try {
      await rm(join(dataDir, entry.name), { recursive: true, force: true });
      done.push(entry.name);
      logger.info({ dir: entry.name }, "deleted a stale replica after its hold period");
    } catch (error) {
      logger.warn({ err: error, dir: entry.name }, "cannot delete a stale replica");
    }
  }
  return done.sort();
}

/** What the collector needs from its replica server. */
export interface CollectorHost {
  readonly dataDir: string;
  /** How long a stale replica is kept once moved aside. */
  readonly staleHoldMs: number;
  readonly logger: Logger;
  readonly metrics: ReplicaMetrics | undefined;
  /** The server is closing: touch nothing more. */
  isClosed(): boolean;
  /** Stops hosting (and closes) every replica `which` picks, once any open in progress is done. */
  release(which: (gpid: Gpid, status: ReplicaStatus) => boolean): Promise<void>;
  /** Stops the table's unfinished follower copies (their directories stay). */
  stopFollowerCopies(appId: number): Promise<void>;
  ownsFollowerCopy(gpid: Gpid): boolean;
}

/**
 * The replica server's garbage collection on the meta server's word: tables removed for good
 * (beacon reply `removedAppIds`) and stale replicas (`staleReplicas`). Deletions run in the
 * background, one after another, so a beacon never waits for the disk; it also tracks the tables
 * whose data the server keeps without hosting them (beacon `storedAppIds`).
 */
export class ReplicaCollector {
  /** Tables whose replica data is on disk without being hosted (reported as storedAppIds). */
  private readonly keptOnDisk = new Set<number>();
  /** Tables removed for good: never opened again. */
  private readonly removed = new Set<number>();
  /** Removed tables being deleted or deleted (a failed pass is retried). */
  private readonly collected = new Set<number>();
  /** Stale replicas being closed and moved aside: not opened meanwhile. */
  private readonly retiring = new Set<string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly host: CollectorHost) {}

  /** Deletes what a crash left half-deleted; call before opening replicas. */
  async start(): Promise<void> {
    await deleteLeftoverGarbage(this.host.dataDir, this.host.logger);
  }

  storedAppIds(): number[] {
    return [...this.keptOnDisk].sort((a, b) => a - b);
  }

  /** The table was dropped: its replicas are closed, their data kept. */
  noteDropped(appId: number): void {
    this.keptOnDisk.add(appId);
  }

  /** The table is served here (again). */
  noteServed(appId: number): void {
    this.keptOnDisk.delete(appId);
  }

  /** Why the replica must not be opened now; undefined when it may. */
  openRefusal(gpid: Gpid): TalariaError | undefined {
    const key = gpidKey(gpid);
    if (this.removed.has(gpid.appId))
      return new TalariaError("ERR_OBJECT_NOT_FOUND", `table ${gpid.appId} was removed for good`, {
        details: { gpid: key },
      });
    if (this.retiring.has(key))
      return new TalariaError("ERR_BUSY", `replica ${key} is being retired as stale`, {
        details: { gpid: key },
      });
    return undefined;
  }

  /** Closes and deletes every replica of tables removed for good (follower copies included). */
  collectRemoved(appIds: readonly number[]): void {
    const fresh = appIds.filter((appId) => !this.collected.has(appId));
    if (fresh.length === 0) return;
    for (const appId of fresh) {
      this.removed.add(appId);
      this.collected.add(appId);
      // Reported as stored until deleted, so a failed pass is named again and retried.
      this.keptOnDisk.add(appId);
    }
    const ids = new Set(fresh);
    this.enqueue(async () => {
      const { host } = this;
      try {
        for (const appId of fresh) await host.stopFollowerCopies(appId);
        await host.release((gpid) => ids.has(gpid.appId));
        if (host.isClosed()) return;
        const names = await replicaDirsOf(host.dataDir, ids);
        const deleted = await deleteReplicaDirs(host.dataDir, names, host.logger);
        host.metrics?.removedReplicasDeleted.inc(deleted);
        host.logger.info(
          { appIds: fresh, replicas: deleted },
          "tables removed for good: their replicas here are deleted",
        );
        if (deleted < names.length) throw new Error(`${names.length - deleted} left`);
        for (const appId of fresh) this.keptOnDisk.delete(appId);
      } catch (error) {
        for (const appId of fresh) this.collected.delete(appId);
        host.logger.warn({ err: error, appIds: fresh }, "deleting removed tables' replicas failed");
      }
    });
  }

  /** Stops hosting the named stale replicas and moves their directories aside for the hold. */
  retireStale(gpids: readonly Gpid[]): void {
    const keys = gpids.map(gpidKey).filter((key) => !this.retiring.has(key));
    if (keys.length === 0) return;
    for (const key of keys) this.retiring.add(key);
    this.enqueue(async () => {
      const { host } = this;
      for (const key of keys) {
        try {
          const gpid = parseGpid(key);
          if (host.ownsFollowerCopy(gpid) || host.isClosed()) continue;
          let member = false;
          await host.release((other, status) => {
            if (gpidKey(other) !== key) return false;
            // Only a replica kept without a role; a member's or a learner's is never touched.
            member = status === "PRIMARY" || status === "SECONDARY" || status === "LEARNER";
            return !member;
          });
          if (member) continue;
          if (!(await replicaDirsOf(host.dataDir, new Set([gpid.appId]))).includes(key)) continue;
          const retired = await retireReplicaDir(host.dataDir, key, Date.now());
          host.metrics?.staleReplicasRetired.inc();
          host.logger.info(
            { gpid: key, dir: retired, holdMs: host.staleHoldMs },
            "stale replica closed and moved aside: its partition is whole on other servers",
          );
        } catch (error) {
          host.logger.warn({ err: error, gpid: key }, "retiring a stale replica failed");
        } finally {
          this.retiring.delete(key);
        }
      }
    });
  }

  /** Deletes the stale replicas whose hold period is over (the periodic garbage collection). */
  async sweep(nowMs: number): Promise<void> {
    try {
      const { host } = this;
      const deleted = await deleteExpiredStale(host.dataDir, nowMs, host.staleHoldMs, host.logger);
      host.metrics?.staleReplicasDeleted.inc(deleted.length);
    } catch (error) {
      this.host.logger.warn({ err: error }, "deleting expired stale replicas failed");
    }
  }

  /** Resolves once every deletion started so far is done. */
  settled(): Promise<void> {
    return this.chain;
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task);
  }
}
