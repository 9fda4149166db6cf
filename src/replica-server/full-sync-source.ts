/**
 * Full duplication on a source replica server (DS_PREPARE, DS_APP), driven by the duplication
 * agent on each sync reply; decisions are full-sync-plan.ts's, this file performs them.
 *
 * For every duplication in DS_PREPARE / DS_APP and every partition this server is primary of:
 *  - start decree C: meta's listed decree, or (listed -1) the primary's last applied decree,
 *    picked once per primary term;
 *  - the log is held from C + 1 (everything while C is unknown; secondaries likewise);
 *  - a dup checkpoint covering C is made in the background (flush, checkpoint, fsync) and kept;
 *  - each sync reports { dupid, confirmedDecree: C, checkpointPrepared } (+ resyncProgress);
 *  - "resync" in DS_APP: a ResyncSender sends the checkpoint to the remote table.
 * Dup checkpoints of a table are deleted once none of its listed duplications copies data.
 */
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../common/logger.ts";
import {
  chooseFullSyncStart,
  fullSyncConfirm,
  fullSyncDecree,
  fullSyncHoldFrom,
  isFullSyncStatus,
  keepsDupCheckpoints,
  newestCovering,
  type OpenFloor,
  openFloor,
  type RemoteTableWithCount,
  type SourceOptions,
} from "../duplication/index.ts";
import type { DuplicationConfirm, DuplicationSyncEntry } from "../protocol/duplication-messages.ts";
import { type Gpid, gpidKey } from "../protocol/index.ts";
import { type ReplicaReport, ReplicaStatus } from "../protocol/partition-config.ts";
import type { PartitionReplica } from "../replica/index.ts";
import { DupCheckpointServer } from "./dup-checkpoint-server.ts";
import {
  DUP_CHECKPOINTS_DIR,
  type DupCheckpoint,
  DupCheckpointStore,
} from "./dup-checkpoint-store.ts";
import type { FullSyncMetrics } from "./full-sync-metrics.ts";
import { ResyncSender } from "./resync-sender.ts";

export interface FullSyncSourceOptions {
  readonly dataDir: string;
  readonly source: SourceOptions;
  /** `[duplication-group]`: cluster name → id (the remote's id is never sent back to it). */
  readonly clusterIds?: Readonly<Record<string, number>>;
  /** Re-sync batch bytes (resyncLimits.resyncBatchBytes when absent). */
  readonly resyncBatchBytes?: number;
  /** Wait after a failed checkpoint before trying again. */
  readonly prepareRetryMs?: number;
}

export interface FullSyncSourceDeps {
  readonly replica: (gpid: Gpid) => PartitionReplica | undefined;
  /** The duplications listed for a table by the latest sync reply (undefined before the first). */
  readonly listed: (appId: number) => readonly DuplicationSyncEntry[] | undefined;
  readonly remoteTable: (dup: DuplicationSyncEntry) => RemoteTableWithCount;
  readonly logger: Logger;
  readonly metrics?: FullSyncMetrics;
  /**
   * A dup checkpoint was made: the primary has something new to report (DS_PREPARE's
   * `checkpointPrepared`), so the duplication sync need not wait for its period.
   */
  readonly prepared?: (gpid: Gpid) => void;
}

interface Pick {
  readonly ballot: number;
  readonly decree: number;
}

interface Resync {
  readonly ballot: number;
  sender: ResyncSender | undefined;
  /** Resolves once the sender runs (undefined: no checkpoint covers the decree yet). */
  starting: Promise<ResyncSender | undefined>;
  release: () => void;
  untrack: () => void;
}

const PREPARE_RETRY_MS_DEFAULT = 5_000;

export class FullSyncSource {
  private readonly stores = new Map<string, Promise<DupCheckpointStore>>();
  private readonly openStores = new Map<string, DupCheckpointStore>();
  /** Start decrees picked this term: `<gpid>/<dupid>` → { ballot, decree }. */
  private readonly picks = new Map<string, Pick>();
  private readonly resyncs = new Map<string, Resync>();
  /** gpid → when a failed checkpoint may be tried again (ms since epoch). */
  private readonly retryAt = new Map<string, number>();
  /** Partitions whose dup checkpoint directory is known to be gone (no stat every sync). */
  private readonly cleared = new Set<string>();
  readonly server: DupCheckpointServer;
  private closed = false;

  constructor(
    private readonly options: FullSyncSourceOptions,
    private readonly deps: FullSyncSourceDeps,
  ) {
    this.server = new DupCheckpointServer(
      {
        status: (gpid) => this.deps.replica(gpid)?.report().status,
        openFloor: (gpid) => this.openFloorOf(gpid),
        store: (gpid) => this.store(gpid),
        prepare: (gpid, floor) => {
          const replica = this.deps.replica(gpid);
          // Asked by a follower's OPEN.
          if (replica !== undefined) this.prepare(replica, floor, true);
        },
      },
      deps.logger,
      deps.metrics,
    );
  }

  private key(gpid: Gpid, dupid: number): string {
    return `${gpidKey(gpid)}/${dupid}`;
  }

  private pickOf(gpid: Gpid, dupid: number, ballot: number): number | undefined {
    const pick = this.picks.get(this.key(gpid, dupid));
    return pick?.ballot === ballot ? pick.decree : undefined;
  }

  private openFloorOf(gpid: Gpid): OpenFloor | undefined {
    const dups = this.deps.listed(gpid.appId);
    if (dups === undefined) return undefined;
    const replica = this.deps.replica(gpid);
    const ballot = replica?.report().ballot ?? -1;
    return openFloor(dups, gpid.partitionIndex, (dupid) => this.pickOf(gpid, dupid, ballot));
  }

  /** The partition's dup checkpoint store, opened on first use. */
  store(gpid: Gpid): Promise<DupCheckpointStore> {
    const key = gpidKey(gpid);
    let store = this.stores.get(key);
    if (store === undefined) {
      store = DupCheckpointStore.open(
        join(this.options.dataDir, key),
        this.deps.logger.child({ gpid: key }),
        { onMade: () => this.deps.metrics?.checkpointMade(key) },
      );
      store.then(
        (opened) => this.openStores.set(key, opened),
        () => this.stores.delete(key),
      );
      this.stores.set(key, store);
      this.cleared.delete(key);
    }
    return store;
  }

  /**
   * One replica's part of a sync reply: for each of its table's duplications in DS_PREPARE /
   * DS_APP, pick / prepare / re-sync as the plan says. Returns, per such dupid, the first decree
   * its log must keep.
   */
  reconcile(
    replica: PartitionReplica,
    report: ReplicaReport,
    dups: readonly DuplicationSyncEntry[],
  ): Map<number, number> {
    const holds = new Map<number, number>();
    const primary = report.status === ReplicaStatus.PRIMARY;
    const gpid = report.gpid;
    for (const dup of dups) {
      const key = this.key(gpid, dup.dupid);
      if (!isFullSyncStatus(dup.status)) {
        // Done copying (DS_LOG, DS_PAUSE) or not started: nothing of this duplication runs here.
        void this.stopResync(key);
        this.picks.delete(key);
        continue;
      }
      const listed = dup.confirmedDecrees[gpid.partitionIndex] ?? -1;
      let picked: number | undefined;
      if (primary) {
        picked = this.pickOf(gpid, dup.dupid, report.ballot);
        if (listed < 0 && picked === undefined) {
          picked = chooseFullSyncStart(replica.lastAppliedDecree);
          if (picked !== undefined) {
            this.picks.set(key, { ballot: report.ballot, decree: picked });
            this.deps.logger.info(
              { gpid: gpidKey(gpid), dupid: dup.dupid, decree: picked, ballot: report.ballot },
              "full duplication: start decree picked",
            );
          }
        }
        const decree = fullSyncDecree(listed, picked);
        if (decree !== undefined) this.prepare(replica, decree, dup.fullSync === "create");
        if (decree !== undefined && dup.status === "DS_APP" && dup.fullSync === "resync") {
          this.runResync(replica, report.ballot, dup, decree);
        } else {
          void this.stopResync(key);
        }
      } else {
        void this.stopResync(key);
      }
      holds.set(dup.dupid, fullSyncHoldFrom(listed, picked));
    }
    this.collect(gpid, dups);
    return holds;
  }

  /** What the primary reports for `dup` (DS_PREPARE / DS_APP), if anything yet. */
  confirm(report: ReplicaReport, dup: DuplicationSyncEntry): DuplicationConfirm | undefined {
    const gpid = report.gpid;
    const listed = dup.confirmedDecrees[gpid.partitionIndex] ?? -1;
    const decree = fullSyncDecree(listed, this.pickOf(gpid, dup.dupid, report.ballot));
    if (decree === undefined) return undefined;
    const newest = this.openStores.get(gpidKey(gpid))?.newest()?.decree;
    const resync = this.resyncs.get(this.key(gpid, dup.dupid));
    const running = resync?.ballot === report.ballot ? resync.sender : undefined;
    return fullSyncConfirm(dup.dupid, decree, newest, running?.report());
  }

  /**
   * Makes a checkpoint covering `floor` in the background, unless one is kept or being made. One
   * a follower will copy (`forFollower`) has its files listed with their CRC32C at once, while
   * meta gathers the other partitions and creates the follower table: the follower's OPEN then
   * answers without reading the whole checkpoint first (a re-sync reads records, not files).
   */
  private prepare(replica: PartitionReplica, floor: number, forFollower: boolean): void {
    const key = gpidKey(replica.gpid);
    if ((this.retryAt.get(key) ?? 0) > Date.now() || this.closed) return;
    void this.store(replica.gpid)
      .then(async (store) => {
        const newest = store.newest();
        if (store.busy || (newest !== undefined && newest.decree >= floor)) return;
        const made = await store.ensure(replica, floor);
        this.retryAt.delete(key);
        this.deps.prepared?.(replica.gpid);
        // A failure here is the OPEN's to report: it lists the files again.
        if (forFollower) store.files(made).catch(() => {});
      })
      .catch((error: unknown) => {
        const retryMs = this.options.prepareRetryMs ?? PREPARE_RETRY_MS_DEFAULT;
        this.retryAt.set(key, Date.now() + retryMs);
        this.deps.logger.warn({ err: error, gpid: key, floor }, "dup checkpoint not made");
      });
  }

  private runResync(
    replica: PartitionReplica,
    ballot: number,
    dup: DuplicationSyncEntry,
    decree: number,
  ): void {
    const gpid = replica.gpid;
    const key = this.key(gpid, dup.dupid);
    const existing = this.resyncs.get(key);
    if (existing !== undefined) {
      const sender = existing.sender;
      // FAIL_FAST stopped it: an operator's fail-mode change starts it again (from the start).
      const restart =
        existing.ballot !== ballot || (sender?.failed === true && sender.failMode !== dup.failMode);
      if (!restart) {
        if (sender !== undefined && sender.failMode !== dup.failMode)
          sender.configure(dup.failMode);
        return;
      }
      void this.stopResync(key);
    }
    const store = this.openStores.get(gpidKey(gpid));
    const checkpoint = store === undefined ? undefined : newestCovering(store.list(), decree);
    if (store === undefined || checkpoint === undefined) return; // not prepared yet: next sync
    const entry: Resync = {
      ballot,
      sender: undefined,
      starting: Promise.resolve(undefined),
      release: store.pin(checkpoint.id),
      untrack: () => {},
    };
    entry.starting = this.startResync(entry, key, dup, checkpoint);
    this.resyncs.set(key, entry);
  }

  private async startResync(
    entry: Resync,
    key: string,
    dup: DuplicationSyncEntry,
    checkpoint: DupCheckpoint,
  ): Promise<ResyncSender | undefined> {
    const gpid = key.slice(0, key.lastIndexOf("/"));
    const remoteClusterId = this.options.clusterIds?.[dup.remoteClusterName];
    try {
      const sender = await ResyncSender.start(
        {
          dupid: dup.dupid,
          gpid,
          checkpoint,
          source: this.options.source,
          failMode: dup.failMode,
          ids: {
            sourceClusterId: this.options.source.sourceClusterId,
            ...(remoteClusterId === undefined ? {} : { remoteClusterId }),
          },
          ...(this.options.resyncBatchBytes === undefined
            ? {}
            : { batchBytes: this.options.resyncBatchBytes }),
          logger: this.deps.logger,
        },
        { remote: this.deps.remoteTable(dup) },
      );
      entry.sender = sender;
      entry.untrack =
        this.deps.metrics?.trackResync(dup.dupid, gpid, () => sender.report().progress) ??
        (() => {});
      // Stopped while it was starting.
      if (this.resyncs.get(key) !== entry) await this.closeResync(entry);
      return sender;
    } catch (error) {
      entry.release();
      if (this.resyncs.get(key) === entry) this.resyncs.delete(key);
      this.deps.logger.warn({ err: error, gpid, dupid: dup.dupid }, "re-sync not started");
      return undefined;
    }
  }

  private async stopResync(key: string): Promise<void> {
    const entry = this.resyncs.get(key);
    if (entry === undefined) return;
    this.resyncs.delete(key);
    await entry.starting;
    await this.closeResync(entry);
  }

  private async closeResync(entry: Resync): Promise<void> {
    entry.untrack();
    await entry.sender?.close();
    entry.release();
  }

  /** Deletes the table's dup checkpoints once no listed duplication copies data. */
  private collect(gpid: Gpid, dups: readonly DuplicationSyncEntry[]): void {
    if (keepsDupCheckpoints(dups)) return;
    const key = gpidKey(gpid);
    for (const resyncKey of [...this.resyncs.keys()]) {
      if (resyncKey.startsWith(`${key}/`)) void this.stopResync(resyncKey);
    }
    for (const pickKey of [...this.picks.keys()]) {
      if (pickKey.startsWith(`${key}/`)) this.picks.delete(pickKey);
    }
    const store = this.stores.get(key);
    const removal =
      store !== undefined ? store.then((opened) => opened.clear()) : this.removeDirOnce(key);
    removal.catch((error: unknown) => {
      this.cleared.delete(key);
      this.deps.logger.warn({ err: error, gpid: key }, "dup checkpoints not removed");
    });
  }

  /** A partition whose store was never opened: remove what an earlier run left, once. */
  private async removeDirOnce(key: string): Promise<number> {
    if (this.cleared.has(key)) return 0;
    this.cleared.add(key);
    const dir = join(this.options.dataDir, key, DUP_CHECKPOINTS_DIR);
    const exists = await stat(dir).then(
      () => true,
      () => false,
    );
    if (!exists) return 0;
    await rm(dir, { recursive: true, force: true });
    this.deps.logger.info({ gpid: key }, "dup checkpoints removed: no duplication copies data");
    return 1;
  }

  /** Forgets what belongs to duplications or partitions no longer listed here. */
  retain(liveKeys: ReadonlySet<string>): void {
    for (const key of [...this.resyncs.keys()]) if (!liveKeys.has(key)) void this.stopResync(key);
    for (const key of [...this.picks.keys()]) if (!liveKeys.has(key)) this.picks.delete(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.resyncs.keys()].map((key) => this.stopResync(key)));
    for (const store of this.stores.values()) await (await store.catch(() => undefined))?.close();
  }
}
