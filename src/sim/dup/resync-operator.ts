/**
 * The operator's side of re-syncs in the duplication simulator (dup-simulation.ts): when a
 * duplication falls out of its log, `resync_dup` runs — promptly, or (two clusters) only after the
 * tombstone retention, often for both directions at once. A re-sync stops the log shippers,
 * checkpoints every source partition (DS_PREPARE), marks the target table (a meta-to-meta call
 * over the link; the target holds its tombstones while marked), runs a re-sync shipper per
 * partition over the real ResyncLogReader (DS_APP; half the two-cluster re-syncs then stall on a
 * cut link), removes the mark and starts the log shippers from the checkpoints (DS_LOG).
 */
import { countRecordsNow, ResyncLogReader } from "../../duplication/index.ts";
import type { EventQueue } from "../event-queue.ts";
import type { Prng } from "../prng.ts";
import type { Links } from "./links.ts";
import { HEALTHY_LINK, HOLD_RELEASE_MS, type SimCluster } from "./sim-cluster.ts";
import type { SimPartition } from "./sim-partition.ts";
import {
  type DupBugs,
  resyncLog,
  type ShipperLog,
  type SimDup,
  type SimShipper,
} from "./sim-shipper.ts";

/** A meta-to-meta call (the re-sync's mark) takes this long; a cut link retries it this often. */
const META_CALL_MS = 20;
const META_CALL_RETRY_MS = 200;

/** What the re-syncs use of the simulated world. */
export interface ResyncHost {
  readonly queue: EventQueue;
  readonly rng: Prng;
  readonly links: Links;
  readonly bugs: DupBugs;
  readonly boundBoth: boolean;
  readonly tombstoneRetentionMs: number;
  /** "dupid/partition" fallen out of the log (a re-sync clears its partitions). */
  readonly released: Set<string>;
  clusterCount(): number;
  clusterOf(id: number): SimCluster;
  count(name: string, by?: number): void;
  log(line: string): void;
  restartShipper(cluster: SimCluster, d: number, p: number, atMs: number): void;
  newShipper(dup: SimDup, partition: SimPartition, log: ShipperLog): SimShipper;
}

export class ResyncOperator {
  /** Duplications whose re-sync the operator has decided on but not started. */
  private readonly pending = new Set<number>();
  /** Slow re-syncs scheduled: dupid → when (a paired re-sync of the reverse joins it). */
  private readonly slowAtMs = new Map<number, number>();
  /** Tables carrying a re-sync's mark (duplication.resync_from.*): target cluster → dupids. */
  private readonly marks = new Map<number, Set<number>>();
  /** Per re-syncing dupid, per source partition: its checkpoint. */
  private readonly checkpoints = new Map<number, ReturnType<SimPartition["checkpoint"]>[]>();

  constructor(private readonly host: ResyncHost) {}

  /** Re-syncs decided on and not started yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  isPending(dupid: number): boolean {
    return this.pending.has(dupid);
  }

  /** `dup` fell out of its log on a partition: the operator schedules its re-sync (once). */
  onFallenOut(dup: SimDup): void {
    if (dup.resyncing || this.pending.has(dup.dupid)) return;
    this.pending.add(dup.dupid);
    // The operator sees the alarm and runs resync_dup — with two clusters, some only after the
    // tombstone retention. With three, a late re-sync can bring back a key a third cluster
    // deleted (docs/duplication.md, "Re-sync"): there the operator must be prompt.
    const twoClusters = this.host.clusterCount() === 2;
    const reverse = this.host
      .clusterOf(dup.targetClusterId)
      .outgoing.find((other) => other.targetClusterId === dup.sourceClusterId);
    const reverseAtMs = reverse === undefined ? undefined : this.slowAtMs.get(reverse.dupid);
    // After an outage that cut both directions, the operator often re-syncs both at once: each
    // checkpoint then lacks the deletes the other is still sending (the receiving tables hold).
    const paired = twoClusters && reverseAtMs !== undefined && this.host.rng.chance(0.7);
    const slow = paired || (twoClusters && this.host.rng.chance(this.host.boundBoth ? 0.6 : 0.3));
    if (slow) this.host.count("slowResyncs");
    if (paired) this.host.count("pairedResyncs");
    const atMs =
      paired && reverseAtMs !== undefined
        ? reverseAtMs
        : this.host.queue.nowMs +
          (slow
            ? this.host.rng.int(
                this.host.tombstoneRetentionMs + 5_000,
                this.host.tombstoneRetentionMs + 10_000,
              )
            : this.host.rng.int(100, 1500));
    if (slow) this.slowAtMs.set(dup.dupid, atMs);
    this.host.queue.at(atMs, () => {
      this.pending.delete(dup.dupid);
      this.slowAtMs.delete(dup.dupid);
      this.start(dup);
    });
  }

  /**
   * A call from `dup`'s source meta server to its target's (the re-sync's mark): runs once the
   * link is up, tried again every META_CALL_RETRY_MS while it is cut.
   */
  private remoteMetaCall(dup: SimDup, call: () => void): void {
    if (this.host.links.isCut(dup.sourceClusterId, dup.targetClusterId)) {
      this.host.queue.after(META_CALL_RETRY_MS, () => this.remoteMetaCall(dup, call));
      return;
    }
    this.host.queue.after(META_CALL_MS, call);
  }

  /** The target clusters whose tables carry a re-sync's mark: cluster id → marking dupids. */
  marked(clusterId: number): boolean {
    return (this.marks.get(clusterId)?.size ?? 0) > 0;
  }

  /** The re-sync's mark is on its target table: send (DS_APP); sometimes the link then stalls. */
  private resyncMarked(dup: SimDup): void {
    if (dup.resyncStep !== "marking") return;
    if (this.host.bugs.noResyncMark !== true) {
      const marks = this.marks.get(dup.targetClusterId) ?? new Set<number>();
      marks.add(dup.dupid);
      this.marks.set(dup.targetClusterId, marks);
    }
    dup.resyncStep = "sending";
    const cluster = this.host.clusterOf(dup.sourceClusterId);
    const d = cluster.outgoing.indexOf(dup);
    for (let p = 0; p < cluster.partitions.length; p++) this.startResyncShipper(cluster, d, p);
    // A link that stalls mid-re-sync for longer than the hold's release (after the active phase
    // too: slow re-syncs start late).
    if (this.host.clusterCount() === 2 && this.host.rng.chance(0.5)) {
      const from = dup.sourceClusterId;
      const to = dup.targetClusterId;
      const stallMs = this.host.rng.int(3 * HOLD_RELEASE_MS, 8 * HOLD_RELEASE_MS);
      this.host.queue.after(this.host.rng.int(0, 1000), () => {
        this.host.links.cut(from, to);
        this.host.count("resyncStalls");
        this.host.log(`${this.host.queue.nowMs}: re-sync stall ${from}→${to} for ${stallMs} ms`);
        this.host.queue.after(stallMs, () => this.host.links.heal(from, to, HEALTHY_LINK));
      });
    }
  }

  /** resync_dup: stop shipping, checkpoint every partition (DS_PREPARE), mark, send (DS_APP). */
  private start(dup: SimDup): void {
    const cluster = this.host.clusterOf(dup.sourceClusterId);
    const d = cluster.outgoing.indexOf(dup);
    const row = cluster.shippers[d];
    if (row === undefined || dup.resyncing) return;
    dup.resyncing = true;
    dup.resyncStep = "marking";
    for (let p = 0; p < cluster.partitions.length; p++)
      this.host.released.delete(`${dup.dupid}/${p}`);
    this.host.count("resyncs");
    this.host.log(`${this.host.queue.nowMs}: resync dup ${dup.dupid}`);
    this.checkpoints.set(dup.dupid, []);
    cluster.partitions.forEach((partition, p) => {
      row[p]?.stop();
      row[p] = undefined;
      const checkpoint = partition.checkpoint();
      // The checkpoint's decree is where shipping resumes; the log after it is held meanwhile.
      dup.confirmed[p] = Math.max(dup.confirmed[p] ?? 0, checkpoint.decree);
      this.checkpoints.get(dup.dupid)?.push(checkpoint);
    });
    // Nothing is sent before the target table carries the re-sync's mark.
    this.remoteMetaCall(dup, () => this.resyncMarked(dup));
  }

  /** (Re)starts partition p's re-sync of outgoing dup d from its first record (DS_APP only). */
  startResyncShipper(cluster: SimCluster, d: number, p: number): void {
    const dup = cluster.outgoing[d] as SimDup;
    if (dup.resyncStep !== "sending") return;
    const checkpoint = this.checkpoints.get(dup.dupid)?.[p];
    const partition = cluster.partitions[p];
    const row = cluster.resyncs[d];
    if (checkpoint === undefined || partition === undefined || row === undefined) return;
    row[p]?.stop();
    const ids = { sourceClusterId: cluster.id, remoteClusterId: dup.targetClusterId };
    const reader = new ResyncLogReader(
      checkpoint.source,
      ids,
      countRecordsNow(checkpoint.source, ids),
    );
    row[p] = this.host.newShipper(dup, partition, resyncLog(reader));
  }

  /** DS_APP → (mark removed) → DS_LOG once every partition's re-sync was acknowledged whole. */
  finishResyncs(cluster: SimCluster): void {
    cluster.outgoing.forEach((dup, d) => {
      const row = cluster.resyncs[d];
      if (!dup.resyncing || dup.resyncStep !== "sending" || row === undefined) return;
      const done = row.every(
        (shipper) =>
          shipper?.isAlive === true &&
          shipper.core.snapshot().lastDecree >= shipper.log.committedDecree(),
      );
      if (!done) return;
      row.forEach((shipper, p) => {
        shipper?.stop();
        row[p] = undefined;
      });
      dup.resyncStep = "unmarking";
      this.remoteMetaCall(dup, () => {
        this.marks.get(dup.targetClusterId)?.delete(dup.dupid);
        dup.resyncing = false;
        dup.resyncStep = undefined;
        this.checkpoints.delete(dup.dupid);
        this.host.log(`${this.host.queue.nowMs}: resync dup ${dup.dupid} done`);
        for (let p = 0; p < cluster.partitions.length; p++) {
          this.host.restartShipper(cluster, d, p, this.host.queue.nowMs);
        }
      });
    });
  }
}
