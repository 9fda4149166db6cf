/**
 * Prometheus metrics of the duplication source side (names `talaria_dup_<what>_<unit>`), labelled
 * by duplication id and source partition. Like ReplicaMetrics, counters and gauges are read from
 * each tracked shipper's snapshot when /metrics is scraped: the shipping path pays nothing. The
 * two latency histograms (labelled by duplication id only) are observed as shipping happens,
 * through series resolved once per duplication (metrics/hot-metrics.ts).
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { HotHistogram } from "../../metrics/hot-metrics.ts";
import type { ShipperTimings } from "./shipper.ts";
import type { SourceSnapshot, SourceStats } from "./source-stats.ts";

/**
 * Buckets of the duplication lag histograms, source and target side: fine up to a second (the
 * range of a healthy link, and of the bench's 100 ms goal), coarse up to an hour (an outage).
 */
export const DUP_LAG_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300,
  3600,
];

type SnapshotSource = () => SourceSnapshot;
type Labels = { dupid: string; gpid: string };

const COUNTERS: readonly (readonly [string, string, keyof SourceStats])[] = [
  ["talaria_dup_shipped_entries_total", "Entries the remote acknowledged", "shippedEntries"],
  ["talaria_dup_shipped_bytes_total", "Entry bytes the remote acknowledged", "shippedBytes"],
  ["talaria_dup_shipped_requests_total", "DUPLICATE requests acknowledged", "shippedRequests"],
  ["talaria_dup_failed_ships_total", "DUPLICATE requests that failed", "failedShips"],
  ["talaria_dup_confirmed_mutations_total", "Decrees meta confirmed", "confirmedMutations"],
  ["talaria_dup_plog_read_bytes_total", "Private-log payload bytes read", "plogReadBytes"],
  ["talaria_dup_plog_read_mutations_total", "Private-log mutations read", "plogReadMutations"],
  ["talaria_dup_load_failures_total", "Failed private-log reads", "loadFailures"],
  [
    "talaria_dup_empty_loads_total",
    "Private-log reads that found nothing although more was committed",
    "emptyLoads",
  ],
  ["talaria_dup_dead_lettered_entries_total", "Entries dead-lettered", "deadLetteredEntries"],
  ["talaria_dup_dead_letters_total", "Dead letters written", "deadLetters"],
  [
    "talaria_dup_skipped_duplicate_updates_total",
    "Updates that arrived by duplication, not forwarded",
    "skippedDuplicateUpdates",
  ],
];

/** Gauges read from each snapshot; a series is left out while its value is unknown. */
const GAUGES: readonly (readonly [string, string, (s: SourceSnapshot) => number | undefined])[] = [
  ["talaria_dup_backlog_mutations", "Committed minus confirmed decree", (s) => s.backlog],
  [
    "talaria_dup_unshipped_mutations",
    "Committed minus last decree acknowledged by the remote",
    (s) => s.unshipped,
  ],
  ["talaria_dup_stalled", "1 when mutations are pending without progress", (s) => +s.stalled],
  [
    "talaria_dup_batches_in_flight",
    "Batches loaded and not yet acknowledged (pipelined, up to 4)",
    (s) => s.batchesInFlight,
  ],
  ["talaria_dup_last_decree", "Last decree acknowledged by the remote", (s) => s.lastDecree],
  ["talaria_dup_confirmed_decree", "Confirmed decree persisted by meta", (s) => s.confirmedDecree],
  ["talaria_dup_paused", "1 while paused (by meta or FAIL_FAST)", (s) => +(s.phase === "paused")],
  [
    "talaria_dup_log_truncated",
    "1 once the duplication fell out of the log",
    (s) => +(s.phase === "log_truncated"),
  ],
  [
    "talaria_dup_remote_clock_offset_seconds",
    "The remote cluster's wall clock minus ours, estimated at the last acknowledged DUPLICATE (within half its round trip); absent until a remote answers with its clock",
    (s) => (s.remoteClock === undefined ? undefined : s.remoteClock.offsetMs / 1000),
  ],
  [
    "talaria_dup_remote_clock_uncertainty_seconds",
    "Half the round trip of the DUPLICATE the offset was read from: the true offset is within plus or minus this",
    (s) => (s.remoteClock === undefined ? undefined : s.remoteClock.uncertaintyMs / 1000),
  ],
  [
    "talaria_dup_clock_skew_exceeded",
    "1 when the last acknowledged DUPLICATE proved the clocks differ by more than dup_max_clock_skew_seconds",
    (s) => (s.remoteClock === undefined ? undefined : +s.remoteClock.skewExceeded),
  ],
];

export class DuplicationMetrics {
  private readonly sources = new Map<string, { labels: Labels; source: SnapshotSource }>();
  private readonly ackLag: HotHistogram<"dupid">;
  private readonly shipRoundTrip: HotHistogram<"dupid">;
  private tombstoneHolds: (() => readonly number[]) | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const latency = (name: string, help: string) =>
      new HotHistogram({
        name,
        help,
        labelNames: ["dupid"],
        buckets: [...DUP_LAG_BUCKETS_SECONDS],
        registers,
      });
    this.ackLag = latency(
      "talaria_dup_commit_to_ack_seconds",
      "Source side: time from the primary seeing a mutation committed to the remote acknowledging all of it, per mutation",
    );
    this.shipRoundTrip = latency(
      "talaria_dup_ship_seconds",
      "Source side: DUPLICATE request round trip, sent to acknowledged (failed requests not counted)",
    );
    const sources = this.sources;
    for (const [name, help, field] of COUNTERS) {
      new Counter({
        name,
        help,
        labelNames: ["dupid", "gpid"],
        registers,
        collect() {
          this.reset();
          for (const { labels, source } of sources.values())
            this.inc(labels, source().stats[field]);
        },
      });
    }
    const metrics = this;
    new Gauge({
      name: "talaria_dup_tombstone_holds",
      help: "1 per table (app_id) whose replicas on this server collect no tombstone: a duplication of it fell out of its log or re-syncs, or the table receives a re-sync",
      labelNames: ["app_id"],
      registers,
      collect() {
        this.reset();
        for (const appId of metrics.tombstoneHolds?.() ?? [])
          this.set({ app_id: String(appId) }, 1);
      },
    });
    for (const [name, help, pick] of GAUGES) {
      new Gauge({
        name,
        help,
        labelNames: ["dupid", "gpid"],
        registers,
        collect() {
          this.reset();
          for (const { labels, source } of sources.values()) {
            const value = pick(source());
            if (value !== undefined) this.set(labels, value);
          }
        },
      });
    }
  }

  /** The latency observations of duplication `dupid`'s shippers. */
  timings(dupid: number): ShipperTimings {
    const labels = { dupid: String(dupid) };
    const shipRoundTrip = this.shipRoundTrip.child(labels);
    const ackLag = this.ackLag.child(labels);
    return {
      shipAcknowledged: (ms) => shipRoundTrip.observe(ms / 1000),
      mutationsAcknowledged: (ms, count) => ackLag.observeMany(ms / 1000, count),
    };
  }

  /** Reports the tables `held` names as holding their tombstones, until the returned function. */
  trackTombstoneHolds(held: () => readonly number[]): () => void {
    this.tombstoneHolds = held;
    return () => {
      if (this.tombstoneHolds === held) this.tombstoneHolds = undefined;
    };
  }

  /** Reports `source` under (dupid, gpid) until the returned function is called. */
  track(dupid: number, gpid: string, source: SnapshotSource): () => void {
    const key = `${dupid}/${gpid}`;
    this.sources.set(key, { labels: { dupid: String(dupid), gpid }, source });
    return () => {
      this.sources.delete(key);
    };
  }
}
