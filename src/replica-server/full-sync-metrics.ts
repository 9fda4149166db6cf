/**
 * Prometheus metrics of full duplication on a source replica server: dup checkpoints made and
 * served to followers (label `gpid`), and each re-sync's progress (labels `dupid`, `gpid`, read
 * from the running re-syncs when /metrics is scraped).
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { ResyncProgress } from "../protocol/duplication-messages.ts";

type ProgressSource = () => ResyncProgress;

export class FullSyncMetrics {
  private readonly made: Counter<"gpid">;
  private readonly opens: Counter<"gpid">;
  private readonly servedBytes: Counter<"gpid">;
  private readonly servedChunks: Counter<"gpid">;
  private readonly resyncs = new Map<string, { labels: Labels; source: ProgressSource }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.made = new Counter({
      name: "talaria_dup_checkpoints_made_total",
      help: "Dup checkpoints made for full duplication",
      labelNames: ["gpid"],
      registers,
    });
    this.opens = new Counter({
      name: "talaria_dup_checkpoint_opens_total",
      help: "Dup checkpoint OPENs answered to follower primaries",
      labelNames: ["gpid"],
      registers,
    });
    this.servedBytes = new Counter({
      name: "talaria_dup_checkpoint_served_bytes_total",
      help: "Dup checkpoint bytes served to follower primaries (CHUNK)",
      labelNames: ["gpid"],
      registers,
    });
    this.servedChunks = new Counter({
      name: "talaria_dup_checkpoint_served_chunks_total",
      help: "Dup checkpoint CHUNKs answered to follower primaries",
      labelNames: ["gpid"],
      registers,
    });
    const resyncs = this.resyncs;
    const gauge = (name: string, help: string, pick: (p: ResyncProgress) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["dupid", "gpid"],
        registers,
        collect() {
          this.reset();
          for (const { labels, source } of resyncs.values()) this.set(labels, pick(source()));
        },
      });
    gauge(
      "talaria_dup_resync_sent_bytes",
      "Re-sync: entry bytes the remote acknowledged",
      (p) => p.sentBytes,
    );
    gauge(
      "talaria_dup_resync_total_bytes",
      "Re-sync: entry bytes of the whole checkpoint",
      (p) => p.totalBytes,
    );
    gauge(
      "talaria_dup_resync_done",
      "Re-sync: 1 once the remote acknowledged every record",
      (p) => +p.done,
    );
  }

  checkpointMade(gpid: string): void {
    this.made.inc({ gpid });
  }

  opened(gpid: string): void {
    this.opens.inc({ gpid });
  }

  served(gpid: string, bytes: number): void {
    this.servedChunks.inc({ gpid });
    this.servedBytes.inc({ gpid }, bytes);
  }

  /** Reports a re-sync's progress under (dupid, gpid) until the returned function is called. */
  trackResync(dupid: number, gpid: string, source: ProgressSource): () => void {
    const key = `${dupid}/${gpid}`;
    const entry = { labels: { dupid: String(dupid), gpid }, source };
    this.resyncs.set(key, entry);
    return () => {
      if (this.resyncs.get(key) === entry) this.resyncs.delete(key);
    };
  }
}

type Labels = { dupid: string; gpid: string };
