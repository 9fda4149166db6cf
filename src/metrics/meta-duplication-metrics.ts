/**
 * Prometheus metrics of the meta server's duplication control plane (names
 * `talaria_<component>_<what>_<unit>`). Read from the leading meta core when /metrics is scraped;
 * a meta server that does not lead reports nothing.
 */
import { Gauge, type Registry } from "prom-client";
import type { ListDuplicationsResponse } from "../protocol/index.ts";
import { DuplicationStatus } from "../protocol/index.ts";

/** Every duplication of every available table, or undefined when this meta server does not lead. */
export type DuplicationListSource = () => ListDuplicationsResponse | undefined;

export class MetaDuplicationMetrics {
  constructor(
    registry: Registry,
    source: DuplicationListSource,
    /** Re-sync marks removed duplications left on remote tables (undefined when not leading). */
    orphanResyncMarks: () => number | undefined = () => undefined,
  ) {
    const registers = [registry];
    new Gauge({
      name: "talaria_meta_duplication_orphan_resync_marks",
      help: "Re-sync marks removed duplications left on remote tables, still to be removed there (their tombstones stay held meanwhile)",
      registers,
      collect() {
        this.reset();
        const count = orphanResyncMarks();
        if (count !== undefined) this.set(count);
      },
    });
    new Gauge({
      name: "talaria_meta_duplications",
      help: "Duplications of available tables, by status",
      labelNames: ["status"],
      registers,
      collect() {
        this.reset();
        const list = source();
        if (list === undefined) return;
        const counts = new Map<string, number>(
          Object.values(DuplicationStatus).map((status) => [status, 0]),
        );
        for (const app of list.apps)
          for (const dup of app.duplications)
            counts.set(dup.status, (counts.get(dup.status) ?? 0) + 1);
        for (const [status, count] of counts) this.set({ status }, count);
      },
    });
    new Gauge({
      name: "talaria_meta_duplication_unconfirmed_mutations",
      help: "Per duplication: Σ over partitions of last committed − confirmed decree (as last reported)",
      labelNames: ["app", "dupid", "remote"],
      registers,
      collect() {
        this.reset();
        const list = source();
        if (list === undefined) return;
        for (const app of list.apps)
          for (const dup of app.duplications) {
            let backlog = 0;
            for (const state of dup.partitionStates)
              if (state.confirmedDecree >= 0 && state.lastCommittedDecree > state.confirmedDecree)
                backlog += state.lastCommittedDecree - state.confirmedDecree;
            this.set(
              { app: app.appName, dupid: String(dup.dupid), remote: dup.remoteClusterName },
              backlog,
            );
          }
      },
    });
    /** Per duplication running a full sync (DS_PREPARE, DS_APP): its labels and progress. */
    const fullSyncs = function* (list: ListDuplicationsResponse) {
      for (const app of list.apps)
        for (const dup of app.duplications) {
          if (dup.fullSync === undefined) continue;
          const labels = {
            app: app.appName,
            dupid: String(dup.dupid),
            remote: dup.remoteClusterName,
          };
          yield { labels, dup };
        }
    };
    new Gauge({
      name: "talaria_meta_duplication_full_sync_ready_partitions",
      help: "Full sync: partitions whose checkpoint is prepared (DS_PREPARE) or copy done (DS_APP)",
      labelNames: ["app", "dupid", "remote", "status"],
      registers,
      collect() {
        this.reset();
        const list = source();
        if (list === undefined) return;
        for (const { labels, dup } of fullSyncs(list)) {
          const ready = dup.partitionStates.filter((state) =>
            dup.status === DuplicationStatus.DS_PREPARE
              ? state.checkpointPrepared === true
              : state.copy?.done === true,
          ).length;
          this.set({ ...labels, status: dup.status }, ready);
        }
      },
    });
    for (const [name, help, field] of [
      [
        "talaria_meta_duplication_full_sync_done_bytes",
        "Full sync (DS_APP): bytes copied by the follower or sent by the re-sync, over partitions",
        "doneBytes",
      ],
      [
        "talaria_meta_duplication_full_sync_total_bytes",
        "Full sync (DS_APP): bytes to copy or send over partitions (0 while not known)",
        "totalBytes",
      ],
    ] as const)
      new Gauge({
        name,
        help,
        labelNames: ["app", "dupid", "remote"],
        registers,
        collect() {
          this.reset();
          const list = source();
          if (list === undefined) return;
          for (const { labels, dup } of fullSyncs(list)) {
            let bytes = 0;
            for (const state of dup.partitionStates) bytes += state.copy?.[field] ?? 0;
            this.set(labels, bytes);
          }
        },
      });
  }
}
