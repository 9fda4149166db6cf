/**
 * Prometheus metrics of replicas (names `talaria_<component>_<what>_<unit>`, seconds for time).
 * Event metrics (writes, errors, latency) are updated on the write path; state metrics (decrees,
 * plog and storage counters) are read from each tracked replica when /metrics is scraped, so the
 * hot path pays nothing for them.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import {
  HotCounter,
  type HotCounterChild,
  HotHistogram,
  type HotHistogramChild,
} from "./hot-metrics.ts";

/** What a replica reports at scrape time. Counters are cumulative since the replica opened. */
export interface ReplicaStatsSnapshot {
  readonly lastDecree: number;
  readonly lastAppliedDecree: number;
  readonly lastDurableDecree: number;
  readonly plogFirstDecree: number;
  readonly plogAppendedRecords: number;
  readonly plogFsyncs: number;
  readonly plogBytesWritten: number;
  /** Reads of the private log (duplication, learning), and those its tail cache answered. */
  readonly plogReads: number;
  readonly plogTailCacheReads: number;
  readonly expiredSwept: number;
  readonly tombstonesCollected: number;
  readonly staleEntriesSkipped: number;
  readonly storageWriteTransactions: number;
  readonly storageWriteTransactionSeconds: number;
  readonly storageSlowWriteTransactions: number;
  readonly storageFlushes: number;
  readonly storageFlushFailures: number;
  readonly storageFlushSeconds: number;
  readonly storageUnflushedEntries: number;
  readonly storageUnflushedBytes: number;
  /** Mutations the write sequencer submitted for plain and duplicate writes (coalesced). */
  readonly coalescedMutations: number;
  /** Writes those mutations carried (writes ÷ mutations = the coalescing ratio). */
  readonly coalescedWrites: number;
}

type SnapshotSource = () => ReplicaStatsSnapshot;

const WRITE_DURATION_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

export class ReplicaMetrics {
  private readonly writes: HotCounter<"op">;
  readonly writeErrors: Counter<"op" | "code">;
  private readonly writeDuration: HotHistogram<"op">;
  /** Each op's two series, resolved once (hot-metrics.ts): every write records in both. */
  private readonly writeSeries = new Map<
    string,
    { readonly count: HotCounterChild<"op">; readonly duration: HotHistogramChild<"op"> }
  >();
  /** Replica directories of tables removed for good, deleted (replica-server/replica-gc.ts). */
  readonly removedReplicasDeleted: Counter;
  /** Stale replicas no longer hosted, moved aside for their hold period. */
  readonly staleReplicasRetired: Counter;
  /** Stale replicas deleted after their hold period. */
  readonly staleReplicasDeleted: Counter;
  private readonly sources = new Map<string, SnapshotSource>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.writes = new HotCounter({
      name: "talaria_replica_writes_total",
      help: "Writes acknowledged by replicas, by operation",
      labelNames: ["op"],
      registers,
    });
    this.writeErrors = new Counter({
      name: "talaria_replica_write_errors_total",
      help: "Writes refused or failed, by operation and error code",
      labelNames: ["op", "code"],
      registers,
    });
    this.writeDuration = new HotHistogram({
      name: "talaria_replica_write_duration_seconds",
      help: "Time from receiving a write to answering it (durable and applied)",
      labelNames: ["op"],
      buckets: WRITE_DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.removedReplicasDeleted = new Counter({
      name: "talaria_replica_removed_replicas_deleted_total",
      help: "Replica directories of tables removed for good (dropped, past their hold period) deleted",
      registers,
    });
    this.staleReplicasRetired = new Counter({
      name: "talaria_replica_stale_replicas_retired_total",
      help: "Stale replicas (of partitions full without this server) closed and moved aside",
      registers,
    });
    this.staleReplicasDeleted = new Counter({
      name: "talaria_replica_stale_replicas_deleted_total",
      help: "Stale replicas deleted after gc_disk_garbage_replica_interval_seconds",
      registers,
    });
    const sources = this.sources;
    const gauge = (name: string, help: string, pick: (s: ReplicaStatsSnapshot) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["gpid"],
        registers,
        collect() {
          this.reset();
          for (const [gpid, source] of sources) this.set({ gpid }, pick(source()));
        },
      });
    const counter = (name: string, help: string, pick: (s: ReplicaStatsSnapshot) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["gpid"],
        registers,
        collect() {
          this.reset();
          for (const [gpid, source] of sources) this.inc({ gpid }, pick(source()));
        },
      });
    gauge("talaria_replica_last_decree", "Last decree assigned", (s) => s.lastDecree);
    gauge(
      "talaria_storage_last_applied_decree",
      "Last decree applied to storage",
      (s) => s.lastAppliedDecree,
    );
    gauge(
      "talaria_plog_durable_decree",
      "Last decree durable in the private log",
      (s) => s.lastDurableDecree,
    );
    gauge(
      "talaria_plog_first_decree",
      "Smallest decree the private log still holds",
      (s) => s.plogFirstDecree,
    );
    counter(
      "talaria_plog_appended_records_total",
      "Records appended to the private log",
      (s) => s.plogAppendedRecords,
    );
    counter(
      "talaria_plog_fsyncs_total",
      "Group commits (fdatasync calls) of the private log",
      (s) => s.plogFsyncs,
    );
    counter(
      "talaria_plog_written_bytes_total",
      "Bytes written to the private log",
      (s) => s.plogBytesWritten,
    );
    counter("talaria_plog_reads_total", "Reads of the private log", (s) => s.plogReads);
    counter(
      "talaria_plog_tail_cache_reads_total",
      "Reads of the private log answered from its in-memory tail, without a file read",
      (s) => s.plogTailCacheReads,
    );
    counter(
      "talaria_storage_expired_swept_total",
      "Expired records swept by the TTL sweeper",
      (s) => s.expiredSwept,
    );
    counter(
      "talaria_storage_tombstones_collected_total",
      "Tombstones collected after their retention",
      (s) => s.tombstonesCollected,
    );
    counter(
      "talaria_storage_write_transactions_total",
      "Synchronous lmdb write transactions (the memtable flushes before a checkpoint, on close and at the hard bound), each run and committed on the event loop",
      (s) => s.storageWriteTransactions,
    );
    counter(
      "talaria_storage_write_transaction_seconds_total",
      "Seconds synchronous lmdb write transactions (the memtable flushes before a checkpoint, on close and at the hard bound) held the event loop, their disk flush included",
      (s) => s.storageWriteTransactionSeconds,
    );
    counter(
      "talaria_storage_slow_write_transactions_total",
      "lmdb write transactions that held the event loop for 100 ms or more (SLOW_WRITE_TRANSACTION_MS)",
      (s) => s.storageSlowWriteTransactions,
    );
    counter(
      "talaria_storage_flushes_total",
      "Memtable flushes: applied writes and the applied decree written to lmdb in one transaction",
      (s) => s.storageFlushes,
    );
    counter(
      "talaria_storage_flush_seconds_total",
      "Seconds background memtable flushes took, from queueing their writes to lmdb's disk flush (off the event loop)",
      (s) => s.storageFlushSeconds,
    );
    counter(
      "talaria_storage_flush_failures_total",
      "Memtable flushes whose lmdb transaction failed (retried; the private log holds the writes)",
      (s) => s.storageFlushFailures,
    );
    gauge(
      "talaria_storage_unflushed_entries",
      "Applied keys held in the memtable, not yet written to lmdb",
      (s) => s.storageUnflushedEntries,
    );
    gauge(
      "talaria_storage_unflushed_bytes",
      "Approximate bytes the memtable holds",
      (s) => s.storageUnflushedBytes,
    );
    counter(
      "talaria_replica_coalesced_mutations_total",
      "Mutations submitted for plain and duplicate client writes (several writes may share one)",
      (s) => s.coalescedMutations,
    );
    counter(
      "talaria_replica_coalesced_writes_total",
      "Plain and duplicate client writes submitted in those mutations",
      (s) => s.coalescedWrites,
    );
    counter(
      "talaria_storage_stale_entries_skipped_total",
      "Duplicated entries dropped by last-write-wins because the stored record was newer",
      (s) => s.staleEntriesSkipped,
    );
  }

  /** A write acknowledged after `seconds` (receipt to answer). */
  writeDone(op: string, seconds: number): void {
    let series = this.writeSeries.get(op);
    if (series === undefined) {
      series = { count: this.writes.child({ op }), duration: this.writeDuration.child({ op }) };
      this.writeSeries.set(op, series);
    }
    series.count.inc();
    series.duration.observe(seconds);
  }

  /** Reports `source` under `gpid` until the returned function is called. */
  track(gpid: string, source: SnapshotSource): () => void {
    this.sources.set(gpid, source);
    return () => {
      if (this.sources.get(gpid) === source) this.sources.delete(gpid);
    };
  }
}
