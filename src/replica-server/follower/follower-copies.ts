/**
 * The follower side of full duplication on one replica server: which replicas it must fill from
 * the master cluster before they open, their copies, and what its beacons say about them.
 *
 * A replica is copied, instead of opened, when the meta server's configuration makes this server
 * its PRIMARY, its table carries the follower envs (FollowerEnv: master cluster, master metas,
 * master app name) and either
 *  - the table is still `follower_app_status=creating` and the replica directory holds nothing
 *    yet (a brand-new replica), or
 *  - an unfinished copy is on disk (`<replica dir>/follower-copy/`, whatever the status now).
 * Until the copy is installed the server must not open that replica (it would start empty), and
 * it reports it as `{ballot: 0, status: INACTIVE, lastCommittedDecree: 0, lastPreparedDecree: 0,
 * followerCopy: {copiedBytes, totalBytes}}`: present (so the meta server does not count it
 * missing) and at ballot 0 (so it never counts as refusing its role, nor as ready).
 *
 * Invariants: at most one copy per gpid; at most `followerCopiesConcurrentMax` attempts run at
 * once; all copies share one token bucket (`dup_checkpoint_copy_rate_mb`).
 */
import { access, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../common/logger.ts";
import {
  type AppInfo,
  FollowerAppStatus,
  FollowerEnv,
  type Gpid,
  gpidKey,
  type NodeAddress,
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../../protocol/index.ts";
import {
  discardCopiedCheckpoint,
  replicaDirHasData,
  replicaDirInstalled,
} from "../../replica/index.ts";
import type { CheckpointHttpClient } from "./checkpoint-http.ts";
import {
  copiedBytes,
  copyDirOf,
  FOLLOWER_COPY_DIR,
  readCopyState,
  totalBytes,
} from "./copy-state.ts";
import { FollowerCopy, type InstalledCopy } from "./follower-copy.ts";
import { MasterClient, type MasterConnector, type MasterRef } from "./master-client.ts";
import type { FollowerCopyMetrics } from "./metrics.ts";
import { type FollowerCopyLimits, resolveFollowerCopyLimits } from "./options.ts";
import { systemBucketDeps, TokenBucket, type TokenBucketDeps } from "./token-bucket.ts";

export interface FollowerCopiesOptions {
  readonly self: NodeAddress;
  readonly dataDir: string;
  /** `[replication] dup_checkpoint_copy_rate_mb` in bytes per second; 0 = unlimited. */
  readonly rateBytesPerSec: number;
  readonly limits?: Partial<FollowerCopyLimits>;
}

export interface FollowerCopiesDeps {
  /** How to reach a master cluster (see MasterConnector). */
  readonly connect: MasterConnector;
  /** The HTTP bulk path to a master cluster (same proxy rules); absent: CHUNK only. */
  readonly connectHttp?: (cluster: string) => CheckpointHttpClient;
  readonly logger: Logger;
  readonly metrics?: FollowerCopyMetrics;
  /**
   * A copy is installed: open the replica and feed it `config`, the latest configuration the
   * meta server sent for it. The copy is forgotten once this settles.
   */
  readonly onInstalled: (gpid: Gpid, config: PartitionConfiguration | undefined) => Promise<void>;
  /** Time for the token bucket and the retry backoff (tests). */
  readonly time?: TokenBucketDeps;
}

interface Task {
  readonly gpid: Gpid;
  readonly dir: string;
  /** Progress read from disk, until the copy runs. */
  saved: { copiedBytes: number; totalBytes: number };
  config: PartitionConfiguration | undefined;
  app: AppInfo | undefined;
  copyOf: FollowerCopy | undefined;
  running: Promise<void> | undefined;
  readonly abort: AbortController;
  installed: boolean;
}

/** The master the follower envs name, or undefined when the table is not a (complete) follower. */
export function followerMasterOf(envs: Readonly<Record<string, string>>): MasterRef | undefined {
  const cluster = envs[FollowerEnv.MASTER_CLUSTER];
  const metas = envs[FollowerEnv.MASTER_METAS];
  const appName = envs[FollowerEnv.MASTER_APP_NAME];
  if (cluster === undefined || metas === undefined || appName === undefined) return undefined;
  const list = metas
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  if (list.length === 0 || cluster === "" || appName === "") return undefined;
  return { cluster, metas: list, appName };
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** At most `max` holders at once, served in arrival order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(max: number) {
    this.free = max;
  }

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const index = this.waiting.indexOf(wake);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        this.waiting.push(wake);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) this.free++;
      else next();
    };
  }
}

export class FollowerCopies {
  private readonly options: FollowerCopiesOptions;
  private readonly deps: FollowerCopiesDeps;
  private readonly logger: Logger;
  private readonly limits: FollowerCopyLimits;
  private readonly bucket: TokenBucket;
  private readonly slots: Slots;
  private readonly time: TokenBucketDeps;
  private readonly tasks = new Map<string, Task>();
  private closed = false;

  constructor(options: FollowerCopiesOptions, deps: FollowerCopiesDeps) {
    this.options = options;
    this.deps = deps;
    this.logger = deps.logger.child({ component: "follower-copy" });
    this.limits = resolveFollowerCopyLimits(options.limits);
    this.time = deps.time ?? systemBucketDeps;
    // A tenth of a second of rate may pass at once, and never less than one chunk.
    const burstBytes = Math.max(
      this.limits.followerCopyChunkBytes,
      Math.ceil(options.rateBytesPerSec / 10),
    );
    this.bucket = new TokenBucket(options.rateBytesPerSec, burstBytes, this.time);
    this.slots = new Slots(this.limits.followerCopiesConcurrentMax);
  }

  /** Whether the follower side owns `gpid` now: the server must not open its replica. */
  owns(gpid: Gpid): boolean {
    const task = this.tasks.get(gpidKey(gpid));
    return task !== undefined && !task.installed;
  }

  /**
   * At start, for a replica directory found on disk: true when it holds an unfinished copy (the
   * server must not open it; the copy resumes once the meta server's configuration arrives). A
   * copy whose install had finished is cleaned up and the replica opens normally.
   */
  async adoptFromDisk(gpid: Gpid, dir: string): Promise<boolean> {
    if (!(await pathExists(copyDirOf(dir)))) return false;
    if (await replicaDirInstalled(dir)) {
      await rm(copyDirOf(dir), { recursive: true, force: true });
      return false;
    }
    const task = this.newTask(gpid, dir);
    await this.loadSaved(task);
    this.logger.info(
      { gpid: gpidKey(gpid), ...this.progressOf(task) },
      "unfinished follower copy found; it resumes once the configuration arrives",
    );
    return true;
  }

  /**
   * A configuration naming this server for a gpid it does not host. true: the follower side
   * handles it (a copy runs or waits) and the server must not open the replica; false: open it
   * as usual.
   */
  async claim(config: PartitionConfiguration, app: AppInfo | undefined): Promise<boolean> {
    if (this.closed) return false;
    const key = gpidKey(config.gpid);
    const primaryHere = config.primary === this.options.self;
    const existing = this.tasks.get(key);
    if (existing !== undefined) {
      if (existing.installed) return true; // opening now
      if (!primaryHere) {
        // Another node is primary: it has the data, and this one learns from it as usual.
        this.logger.warn(
          { gpid: key, ballot: config.ballot, primary: config.primary },
          "follower copy abandoned: the configuration makes another node primary",
        );
        await this.discard(existing);
        return false;
      }
      existing.config = config;
      if (app !== undefined) existing.app = app;
      this.startIfReady(existing);
      return true;
    }
    if (!primaryHere || app === undefined) return false;
    if (followerMasterOf(app.envs) === undefined) return false;
    const dir = join(this.options.dataDir, key);
    const unfinished = (await pathExists(copyDirOf(dir))) && !(await replicaDirInstalled(dir));
    const creating =
      app.envs[FollowerEnv.FOLLOWER_APP_STATUS] === FollowerAppStatus.CREATING &&
      !(await replicaDirHasData(dir, [FOLLOWER_COPY_DIR]));
    if (!unfinished && !creating) return false;
    const task = this.newTask(config.gpid, dir);
    task.config = config;
    task.app = app;
    await this.loadSaved(task);
    this.startIfReady(task);
    return true;
  }

  /** Beacon reports of the replicas being copied. */
  reports(): ReplicaReport[] {
    const out: ReplicaReport[] = [];
    for (const task of this.tasks.values()) {
      if (task.installed) continue;
      out.push({
        gpid: task.gpid,
        ballot: 0,
        status: ReplicaStatus.INACTIVE,
        lastCommittedDecree: 0,
        lastPreparedDecree: 0,
        followerCopy: this.progressOf(task),
      });
    }
    return out;
  }

  /** Copies in progress: gpid key → progress (HTTP, tests). */
  progress(): Map<string, { copiedBytes: number; totalBytes: number; running: boolean }> {
    const out = new Map<string, { copiedBytes: number; totalBytes: number; running: boolean }>();
    for (const [key, task] of this.tasks) {
      if (!task.installed)
        out.set(key, { ...this.progressOf(task), running: task.running !== undefined });
    }
    return out;
  }

  /** The table was dropped: stop its copies, keeping what they copied (a recall resumes them). */
  async dropApp(appId: number): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const [key, task] of this.tasks) {
      if (task.gpid.appId !== appId || task.installed) continue;
      this.tasks.delete(key);
      task.abort.abort(new Error("table dropped"));
      if (task.running !== undefined) stopping.push(task.running);
    }
    await Promise.allSettled(stopping);
  }

  async close(): Promise<void> {
    this.closed = true;
    const running: Promise<void>[] = [];
    for (const task of this.tasks.values()) {
      task.abort.abort(new Error("replica server closing"));
      if (task.running !== undefined) running.push(task.running);
    }
    await Promise.allSettled(running);
    this.tasks.clear();
  }

  private newTask(gpid: Gpid, dir: string): Task {
    const task: Task = {
      gpid,
      dir,
      saved: { copiedBytes: 0, totalBytes: 0 },
      config: undefined,
      app: undefined,
      copyOf: undefined,
      running: undefined,
      abort: new AbortController(),
      installed: false,
    };
    this.tasks.set(gpidKey(gpid), task);
    return task;
  }

  private progressOf(task: Task): { copiedBytes: number; totalBytes: number } {
    return task.copyOf?.progress() ?? task.saved;
  }

  private async loadSaved(task: Task): Promise<void> {
    try {
      const state = await readCopyState(task.dir);
      task.saved = { copiedBytes: copiedBytes(state), totalBytes: totalBytes(state) };
    } catch {
      // Unreadable: the copy's first attempt starts over.
    }
  }

  private startIfReady(task: Task): void {
    if (task.running !== undefined || this.closed) return;
    if (task.app === undefined || task.config?.primary !== this.options.self) return;
    const master = followerMasterOf(task.app.envs);
    if (master === undefined) {
      this.logger.error(
        { gpid: gpidKey(task.gpid) },
        "unfinished follower copy, but the table no longer names its master: the replica stays closed",
      );
      return;
    }
    const copy =
      task.copyOf ??
      new FollowerCopy(
        { gpid: task.gpid, dir: task.dir, master, partitionCount: task.app.partitionCount },
        {
          client: new MasterClient(
            master,
            this.deps.connect,
            this.limits.followerCopyCallTimeoutMs,
          ),
          ...(this.deps.connectHttp === undefined
            ? {}
            : { http: this.deps.connectHttp(master.cluster) }),
          bucket: this.bucket,
          limits: this.limits,
          logger: this.logger,
          ...(this.deps.metrics === undefined ? {} : { metrics: this.deps.metrics }),
          nowMs: () => this.time.nowMs(),
          sleep: (ms, signal) => this.time.sleep(ms, signal),
          acquireSlot: (signal) => this.slots.acquire(signal),
        },
      );
    task.copyOf = copy;
    task.running = this.runTask(task, copy);
  }

  private async runTask(task: Task, copy: FollowerCopy): Promise<void> {
    const key = gpidKey(task.gpid);
    const startedMs = this.time.nowMs();
    this.deps.metrics?.inProgress.inc();
    let installed: InstalledCopy;
    try {
      installed = await copy.run(task.abort.signal);
    } catch (error) {
      if (!task.abort.signal.aborted)
        this.logger.error({ err: error, gpid: key }, "follower copy stopped unexpectedly");
      return;
    } finally {
      this.deps.metrics?.inProgress.dec();
    }
    task.installed = true;
    this.deps.metrics?.completed.inc();
    const seconds = (this.time.nowMs() - startedMs) / 1000;
    this.logger.info(
      {
        gpid: key,
        decree: installed.decree,
        masterBallot: installed.masterBallot,
        bytes: installed.bytes,
        seconds: Math.round(seconds * 10) / 10,
      },
      "follower copy installed; opening the replica",
    );
    try {
      await this.deps.onInstalled(task.gpid, task.config);
    } catch (error) {
      this.logger.error(
        { err: error, gpid: key },
        "cannot open the replica after its follower copy; it opens on the next configuration",
      );
    } finally {
      if (this.tasks.get(key) === task) this.tasks.delete(key);
    }
  }

  /** Stops a copy and deletes what it copied. */
  private async discard(task: Task): Promise<void> {
    this.tasks.delete(gpidKey(task.gpid));
    task.abort.abort(new Error("follower copy abandoned"));
    await task.running;
    try {
      await discardCopiedCheckpoint(task.dir, copyDirOf(task.dir));
    } catch (error) {
      this.logger.warn({ err: error, gpid: gpidKey(task.gpid) }, "cannot remove a follower copy");
    }
  }
}
