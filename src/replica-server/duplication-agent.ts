/**
 * A replica server's side of duplication: the duplication sync with the meta server, one shipper
 * per (duplication, partition this server is primary of), the log hold on every replica of a
 * duplicated table, and the dead-letter stores.
 *
 * Invariants:
 *  - While meta does not know a partition's start decree (-1), its primary reports one — the last
 *    decree it has applied, and so answered — once per duplication and primary term, and holds
 *    the log above it; nothing acknowledged after `add` returns can be missed.
 *  - A shipper runs only on the current primary and resumes from meta's confirmed decree (or this
 *    term's start decree): at-least-once, harmless under last-write-wins.
 *  - Every replica of a listed duplication holds its plog from the oldest decree not confirmed
 *    (everything, while the start is unknown); a duplication no longer listed holds nothing.
 *  - A duplication copying data (DS_PREPARE, DS_APP: full duplication) runs no shipper; its
 *    checkpoints, start decrees and re-syncs are FullSyncSource's (full-sync-source.ts).
 */
import { join } from "node:path";
import { createClient, type TalariaClient } from "../client/index.ts";
import type { MetaSession } from "../client/meta-session.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import type { RemoteTransportOptions } from "../config/index.ts";
import {
  type DeadLetterStore,
  type DuplicationMetrics,
  DuplicationShipper,
  FileDeadLetterStore,
  isFullSyncStatus,
  plogDuplicationReader,
  runStatusOf,
  type SourceOptions,
} from "../duplication/index.ts";
import {
  type DuplicationFailure,
  DuplicationMethod,
  type DuplicationSyncEntry,
  type DuplicationSyncPartition,
  type DuplicationSyncResponse,
  logTruncatedPartitions,
} from "../protocol/duplication-messages.ts";
import { type Gpid, gpidKey } from "../protocol/index.ts";
import type { PartitionReplica } from "../replica/index.ts";
import type { FullSyncMetrics } from "./full-sync-metrics.ts";
import { FullSyncSource } from "./full-sync-source.ts";
import { TOMBSTONE_HOLD_RELEASE_MS, TombstoneHolds } from "./tombstone-holds.ts";

export interface DuplicationAgentOptions {
  readonly self: string;
  readonly dataDir: string;
  /** `[replication] duplication_sync_period_second`, in ms. */
  readonly syncPeriodMs: number;
  readonly source: SourceOptions;
  readonly callTimeoutMs: number;
  /** How to reach a remote cluster (its `[duplication-proxy]`); absent: directly. */
  readonly remoteTransport?: (clusterName: string) => RemoteTransportOptions;
  /** `[duplication-group]` (cluster name → id): a re-sync sends a remote nothing it wrote. */
  readonly clusterIds?: Readonly<Record<string, number>>;
}

export interface DuplicationAgentDeps {
  readonly meta: MetaSession;
  /** The replicas this server hosts now. */
  readonly replicas: () => Iterable<PartitionReplica>;
  readonly logger?: Logger;
  readonly metrics?: DuplicationMetrics;
  readonly fullSyncMetrics?: FullSyncMetrics;
  /** Monotonic milliseconds (tombstone holds). Default: performance.now(). */
  readonly nowMs?: () => number;
  /**
   * Tables a remote cluster's re-sync marks (app env `duplication.resync_from.<cluster>`): app id
   * → the marking clusters. Their tombstones are held as long as the mark stays.
   */
  readonly resyncMarks?: () => ReadonlyMap<number, readonly string[]>;
}

interface Running {
  readonly shipper: DuplicationShipper;
  readonly ballot: number;
  readonly untrack: () => void;
}

const SYNC_RETRY_MS = 1000;
/** The least time between the starts of two syncs when one is asked for early (syncSoon). */
const SYNC_SOON_GAP_MS = 100;

export class DuplicationAgent {
  private readonly options: DuplicationAgentOptions;
  private readonly deps: DuplicationAgentDeps;
  private readonly logger: Logger;
  private readonly shippers = new Map<string, Running>();
  /** Start decrees reported this primary term: `<gpid>/<dupid>` → { ballot, decree }. */
  private readonly starts = new Map<string, { ballot: number; decree: number }>();
  private readonly deadLetters = new Map<string, Promise<DeadLetterStore>>();
  private readonly remotes = new Map<string, TalariaClient>();
  /** Why a shipper stopped by itself, reported in every sync until the operator starts it again. */
  private readonly failures = new Map<string, DuplicationFailure>();
  /** The status each duplication had in the previous reply (to see an operator's restart). */
  private readonly lastStatus = new Map<string, string>();
  /** Duplications listed in the last reply, per app (for confirms in the next request). */
  private listed = new Map<number, readonly DuplicationSyncEntry[]>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private started = false;
  /** A sync round trip is under way; `syncAgain`: one was asked for meanwhile (syncSoon). */
  private syncing = false;
  private syncAgain = false;
  private lastSyncStartMs = Number.NEGATIVE_INFINITY;
  /** Full duplication: dup checkpoints (and the OPEN / CHUNK server), start decrees, re-syncs. */
  readonly fullSync: FullSyncSource;
  private synced = false;
  /** Tables whose replicas here keep every tombstone (tombstone-holds.ts). */
  private readonly tombstoneHolds = new TombstoneHolds();
  /** Partitions that received re-sync writes here: gpid → when last (monotonic ms). */
  private readonly resyncReceivedMs = new Map<string, number>();
  private readonly untrackHolds: () => void;

  constructor(options: DuplicationAgentOptions, deps: DuplicationAgentDeps) {
    this.options = options;
    this.deps = deps;
    this.logger = (deps.logger ?? silentLogger).child({ component: "duplication" });
    this.fullSync = new FullSyncSource(
      {
        dataDir: options.dataDir,
        source: options.source,
        ...(options.clusterIds === undefined ? {} : { clusterIds: options.clusterIds }),
      },
      {
        replica: (gpid) => {
          for (const replica of this.deps.replicas())
            if (gpidKey(replica.gpid) === gpidKey(gpid)) return replica;
          return undefined;
        },
        listed: (appId) => (this.synced ? (this.listed.get(appId) ?? []) : undefined),
        remoteTable: (dup) => {
          const table = this.remote(dup).table(dup.remoteAppName);
          return {
            duplicate: (index, entries, options) => table.duplicate(index, entries, options),
            partitionCount: (timeoutMs) => table.partitionCount({ timeoutMs }),
          };
        },
        logger: this.logger,
        ...(deps.fullSyncMetrics === undefined ? {} : { metrics: deps.fullSyncMetrics }),
        // DS_PREPARE waits for every primary's checkpoint: report one as soon as it is made.
        prepared: () => this.syncSoon(),
      },
    );
    this.untrackHolds =
      deps.metrics?.trackTombstoneHolds(() => [
        ...new Set([...this.tombstoneHolds.heldApps(), ...(deps.resyncMarks?.().keys() ?? [])]),
      ]) ?? (() => {});
  }

  /**
   * Whether the replicas of `appId` on this server must collect no tombstone now: a duplication
   * of the table fell out of its log (or re-syncs), a remote cluster's re-sync marks the table,
   * or no sync reply has said yet.
   */
  tombstonesHeld(appId: number): boolean {
    return this.tombstoneHolds.held(appId) || this.deps.resyncMarks?.().has(appId) === true;
  }

  /**
   * A primary here received writes of a full re-sync (DuplicateRequest.resync): the next syncs
   * report it, so every replica of the table holds its tombstones (tombstone-holds.ts).
   */
  noteResyncReceived(gpid: Gpid): void {
    const key = gpidKey(gpid);
    if (!this.resyncReceivedMs.has(key)) {
      this.logger.info(
        { gpid: key },
        "receiving a re-sync from a remote cluster: this table's tombstones are held until it ends",
      );
    }
    this.resyncReceivedMs.set(key, this.nowMs());
  }

  /**
   * The last decree of `replica`'s log holding a received re-sync's writes, as its storage
   * recorded applying them (meta `last_resync_decree`: durable, whatever the role, restarts
   * included); undefined when none. This partition's own duplications pass over them before
   * their byte bound counts the log again (source-core.ts).
   */
  resyncReceivedThrough(replica: PartitionReplica): number | undefined {
    const decree = replica.lastResyncDecree;
    return decree === 0 ? undefined : decree;
  }

  /** Whether `gpid` received re-sync writes within TOMBSTONE_HOLD_RELEASE_MS. */
  private receivingResync(gpid: Gpid): boolean {
    const lastMs = this.resyncReceivedMs.get(gpidKey(gpid));
    return lastMs !== undefined && this.nowMs() - lastMs < TOMBSTONE_HOLD_RELEASE_MS;
  }

  /** Forgets re-syncs received longer than TOMBSTONE_HOLD_RELEASE_MS ago. */
  private forgetOldResyncs(): void {
    const nowMs = this.nowMs();
    for (const [key, lastMs] of this.resyncReceivedMs) {
      if (nowMs - lastMs >= TOMBSTONE_HOLD_RELEASE_MS) this.resyncReceivedMs.delete(key);
    }
  }

  private nowMs(): number {
    return this.deps.nowMs?.() ?? performance.now();
  }

  start(): void {
    this.started = true;
    this.schedule(this.options.syncPeriodMs);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.syncOnce(), delayMs);
    this.timer.unref();
  }

  /**
   * Syncs now rather than at the end of the period (something new to report), but no sooner
   * than SYNC_SOON_GAP_MS after the previous sync started; after it, if one is under way.
   */
  syncSoon(): void {
    if (!this.started || this.closed) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.schedule(this.soonDelayMs());
  }

  private soonDelayMs(): number {
    return Math.max(0, this.lastSyncStartMs + SYNC_SOON_GAP_MS - this.nowMs());
  }

  /** One duplication sync round trip; schedules the next. */
  async syncOnce(): Promise<void> {
    let next = this.options.syncPeriodMs;
    this.syncing = true;
    this.syncAgain = false;
    this.lastSyncStartMs = this.nowMs();
    try {
      const reply = (await this.deps.meta.call(
        DuplicationMethod.SYNC,
        { node: this.options.self, partitions: this.syncPartitions() },
        this.options.callTimeoutMs,
      )) as DuplicationSyncResponse;
      await this.reconcile(reply);
      next = Math.min(this.options.syncPeriodMs, Math.max(100, reply.nextSyncDelayMs));
    } catch (error) {
      this.logger.debug({ err: error }, "duplication sync failed");
      next = Math.min(this.options.syncPeriodMs, SYNC_RETRY_MS);
    } finally {
      this.syncing = false;
    }
    if (this.syncAgain) next = Math.min(next, this.soonDelayMs());
    this.schedule(next);
  }

  private syncPartitions(): DuplicationSyncPartition[] {
    this.forgetOldResyncs();
    const partitions: DuplicationSyncPartition[] = [];
    for (const replica of this.deps.replicas()) {
      const report = replica.report();
      const confirms = [];
      if (report.status === "PRIMARY") {
        for (const dup of this.listed.get(report.gpid.appId) ?? []) {
          if (isFullSyncStatus(dup.status)) {
            const confirm = this.fullSync.confirm(report, dup);
            if (confirm !== undefined) confirms.push(confirm);
            continue;
          }
          const key = this.key(report.gpid, dup.dupid);
          const running = this.shippers.get(key);
          const start = this.starts.get(key);
          const failure = this.failures.get(key);
          if (running !== undefined && running.ballot === report.ballot) {
            const snapshot = running.shipper.snapshot();
            const clock = snapshot.remoteClock;
            confirms.push({
              dupid: dup.dupid,
              confirmedDecree: snapshot.lastDecree,
              ...(failure === undefined ? {} : { failure }),
              ...(clock === undefined
                ? {}
                : {
                    remoteClock: {
                      offsetMs: Math.round(clock.offsetMs),
                      uncertaintyMs: Math.ceil(clock.uncertaintyMs),
                      skewExceeded: clock.skewExceeded,
                    },
                  }),
            });
          } else if (start !== undefined && start.ballot === report.ballot) {
            confirms.push({ dupid: dup.dupid, confirmedDecree: start.decree });
          }
        }
      }
      partitions.push({
        gpid: report.gpid,
        ballot: report.ballot,
        lastCommittedDecree: report.lastCommittedDecree,
        confirms,
        ...(report.status === "PRIMARY" && this.receivingResync(report.gpid)
          ? { receivingResync: true }
          : {}),
      });
    }
    return partitions;
  }

  private key(gpid: Gpid, dupid: number): string {
    return `${gpidKey(gpid)}/${dupid}`;
  }

  private async reconcile(reply: DuplicationSyncResponse): Promise<void> {
    this.listed = new Map(reply.apps.map((app) => [app.appId, app.duplications]));
    this.synced = true;
    for (const change of this.tombstoneHolds.update(reply.apps, this.nowMs())) {
      if (change.held) {
        this.logger.warn(
          change,
          "tombstones held: a duplication of this table fell out of its log, re-syncs or receives a re-sync; its replicas here collect no tombstone until that ends",
        );
      } else {
        this.logger.info(change, "tombstones released: the sweeper collects old tombstones again");
      }
    }
    const live = new Set<string>();
    for (const replica of this.deps.replicas()) {
      const report = replica.report();
      const dups = this.listed.get(report.gpid.appId) ?? [];
      const fullSyncHolds = this.fullSync.reconcile(replica, report, dups);
      let hold: number | undefined;
      for (const dup of dups) {
        const key = this.key(report.gpid, dup.dupid);
        live.add(key);
        const fullSyncHold = fullSyncHolds.get(dup.dupid);
        if (fullSyncHold !== undefined) {
          // Copying data: no shipper, and what an earlier run (a re-sync's DS_LOG) left is stale.
          await this.stop(key);
          this.starts.delete(key);
          this.failures.delete(key);
          this.lastStatus.set(key, dup.status);
          hold = hold === undefined ? fullSyncHold : Math.min(hold, fullSyncHold);
          continue;
        }
        // An operator's start after a pause lifts a FAIL_FAST failure (not log_truncated: only a
        // re-sync cures that).
        if (
          this.lastStatus.get(key) === "DS_PAUSE" &&
          dup.status === "DS_LOG" &&
          this.failures.get(key)?.kind === "paused_with_error"
        ) {
          this.failures.delete(key);
        }
        this.lastStatus.set(key, dup.status);
        const confirmed = dup.confirmedDecrees[report.gpid.partitionIndex] ?? -1;
        const primary = report.status === "PRIMARY";
        let from = confirmed + 1;
        if (confirmed < 0) {
          // Meta waits for this partition's start: the primary fixes it now, for this term.
          let start = this.starts.get(key);
          if (primary && (start === undefined || start.ballot !== report.ballot)) {
            start = { ballot: report.ballot, decree: replica.lastAppliedDecree };
            this.starts.set(key, start);
          }
          from = start === undefined ? 1 : start.decree + 1;
        }
        const running = this.shippers.get(key);
        if (running !== undefined && (!primary || running.ballot !== report.ballot))
          await this.stop(key);
        if (primary && confirmed >= 0) await this.run(replica, dup, confirmed, report.ballot, key);
        // Past its retention bound a duplication holds nothing: it needs a re-sync, and the log
        // must not grow without bound meanwhile (docs/duplication.md, "the log hold"). Meta's
        // word reaches the secondaries; this server's own shipper may know first.
        if (
          this.failures.get(key)?.kind === "log_truncated" ||
          this.shippers.get(key)?.shipper.snapshot().logTruncated !== undefined ||
          logTruncatedPartitions(dup).includes(report.gpid.partitionIndex)
        )
          continue;
        const shipperHold = this.shippers.get(key)?.shipper.gcHoldDecree();
        from = Math.min(from, shipperHold ?? from);
        hold = hold === undefined ? from : Math.min(hold, from);
      }
      replica.setDuplicationLogHold(hold);
    }
    for (const key of [...this.shippers.keys()]) if (!live.has(key)) await this.stop(key);
    this.fullSync.retain(live);
    for (const map of [this.starts, this.failures, this.lastStatus]) {
      for (const key of [...map.keys()]) if (!live.has(key)) map.delete(key);
    }
  }

  private async run(
    replica: PartitionReplica,
    dup: DuplicationSyncEntry,
    confirmed: number,
    ballot: number,
    key: string,
  ): Promise<void> {
    const status = runStatusOf(dup.status);
    const existing = this.shippers.get(key);
    if (existing !== undefined) {
      existing.shipper.confirm(confirmed);
      existing.shipper.configure({
        ...(status === undefined ? {} : { status }),
        failMode: dup.failMode,
      });
      return;
    }
    if (status === undefined || status === "remove") return;
    const gpid = replica.report().gpid;
    const table = this.remote(dup).table(dup.remoteAppName);
    const start = this.starts.get(key);
    const shipper = new DuplicationShipper(
      { ...this.options.source, dupid: dup.dupid, gpid: gpidKey(gpid), logger: this.logger },
      {
        log: plogDuplicationReader(replica.logReader(), () => replica.lastAppliedDecree),
        // Marked: a re-sync into the table may run through another primary, or one before this.
        receivingResync: () =>
          this.receivingResync(gpid) || this.deps.resyncMarks?.().has(gpid.appId) === true,
        resyncReceivedThrough: () => this.resyncReceivedThrough(replica),
        remote: {
          duplicate: (index, entries, options) => table.duplicate(index, entries, options),
          partitionCount: (timeoutMs) => table.partitionCount({ timeoutMs }),
        },
        deadLetters: await this.deadLetterStore(gpid),
        init: {
          // This term's start covers what meta has not persisted yet.
          confirmedDecree: Math.max(confirmed, start?.ballot === ballot ? start.decree : -1),
          targetPartitionCount: 0,
          failMode: dup.failMode,
          status,
        },
        reports: {
          onPausedWithError: (error, atDecree) => {
            this.failures.set(key, {
              kind: "paused_with_error",
              code: error.code,
              message: error.message,
              atDecree,
            });
            this.logger.error(
              { gpid: gpidKey(gpid), dupid: dup.dupid, error, atDecree },
              "duplication paused (FAIL_FAST)",
            );
          },
          onLogTruncated: (reason, firstMissingDecree, message) => {
            this.failures.set(key, {
              kind: "log_truncated",
              code: reason,
              message,
              atDecree: firstMissingDecree,
            });
            this.logger.error(
              { gpid: gpidKey(gpid), dupid: dup.dupid, reason, firstMissingDecree },
              `duplication fell out of the log: ${message}`,
            );
          },
        },
        ...(this.deps.metrics === undefined
          ? {}
          : { timings: this.deps.metrics.timings(dup.dupid) }),
      },
    );
    const untrackMetrics =
      this.deps.metrics?.track(dup.dupid, gpidKey(gpid), () => shipper.snapshot()) ?? (() => {});
    const unwatch = replica.watchApplied(() => shipper.poke());
    const untrack = () => {
      unwatch();
      untrackMetrics();
    };
    this.shippers.set(key, { shipper, ballot, untrack });
    shipper.start();
    this.logger.info(
      { gpid: gpidKey(gpid), dupid: dup.dupid, remote: dup.remoteClusterName, confirmed },
      "duplication shipper started",
    );
  }

  private remote(dup: DuplicationSyncEntry): TalariaClient {
    let client = this.remotes.get(dup.remoteClusterName);
    if (client === undefined) {
      client = createClient({
        metaServers: dup.remoteMetas,
        name: `duplication ${this.options.self}`,
        timeoutMs: this.options.callTimeoutMs,
        ...this.options.remoteTransport?.(dup.remoteClusterName),
      });
      this.remotes.set(dup.remoteClusterName, client);
    }
    return client;
  }

  /** The dead-letter store of a partition (FAIL_SKIP), opened on first use. */
  deadLetterStore(gpid: Gpid): Promise<DeadLetterStore> {
    const key = gpidKey(gpid);
    let store = this.deadLetters.get(key);
    if (store === undefined) {
      store = FileDeadLetterStore.open(join(this.options.dataDir, key, "dup-dead-letters"));
      this.deadLetters.set(key, store);
    }
    return store;
  }

  /** The remote table of a listed duplication (dead-letter replay). */
  remoteTableOf(appId: number, dupid: number) {
    const dup = (this.listed.get(appId) ?? []).find((d) => d.dupid === dupid);
    return dup === undefined ? undefined : this.remote(dup).table(dup.remoteAppName);
  }

  /** Every shipper here with what the status pages show about it. */
  statuses(): {
    gpid: string;
    dupid: number;
    snapshot: ReturnType<DuplicationShipper["snapshot"]>;
    remoteAppName: string;
    confirmedByMeta: number;
  }[] {
    return [...this.shippers].map(([key, running]) => {
      const [gpid = "", dupidText = "0"] = key.split("/");
      const dupid = Number(dupidText);
      const appId = Number(gpid.split(".")[0]);
      const partitionIndex = Number(gpid.split(".")[1]);
      const dup = (this.listed.get(appId) ?? []).find((d) => d.dupid === dupid);
      return {
        gpid,
        dupid,
        snapshot: running.shipper.snapshot(),
        remoteAppName: dup?.remoteAppName ?? "",
        confirmedByMeta: dup?.confirmedDecrees[partitionIndex] ?? -1,
      };
    });
  }

  private async stop(key: string): Promise<void> {
    const running = this.shippers.get(key);
    if (running === undefined) return;
    this.shippers.delete(key);
    running.untrack();
    await running.shipper.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.untrackHolds();
    for (const key of [...this.shippers.keys()]) await this.stop(key);
    await this.fullSync.close();
    await Promise.all([...this.remotes.values()].map((c) => c.close()));
    for (const store of this.deadLetters.values())
      await (await store.catch(() => undefined))?.close();
  }
}
