/**
 * Metrics of the follower checkpoint copy (full duplication, follower side), per replica server.
 */
import { Counter, Gauge, type Registry } from "prom-client";

export class FollowerCopyMetrics {
  readonly bytes: Counter;
  readonly files: Counter;
  readonly inProgress: Gauge;
  readonly failures: Counter<"code">;
  readonly resumes: Counter;
  readonly restarts: Counter;
  readonly completed: Counter;
  readonly httpFallbacks: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.bytes = new Counter({
      name: "talaria_dup_follower_copy_bytes_total",
      help: "Full duplication, follower side: checkpoint bytes copied from master replica servers",
      registers,
    });
    this.files = new Counter({
      name: "talaria_dup_follower_copy_files_total",
      help: "Full duplication, follower side: checkpoint files copied and checked (CRC32C)",
      registers,
    });
    this.inProgress = new Gauge({
      name: "talaria_dup_follower_copies_in_progress",
      help: "Full duplication, follower side: partitions whose checkpoint copy is not finished",
      registers,
    });
    this.failures = new Counter({
      name: "talaria_dup_follower_copy_failures_total",
      help: "Full duplication, follower side: failed copy attempts (retried), by error code",
      labelNames: ["code"],
      registers,
    });
    this.resumes = new Counter({
      name: "talaria_dup_follower_copy_resumes_total",
      help: "Full duplication, follower side: copies continued from bytes already on disk",
      registers,
    });
    this.restarts = new Counter({
      name: "talaria_dup_follower_copy_restarts_total",
      help: "Full duplication, follower side: copies started over (checkpoint gone, primary moved, state unreadable)",
      registers,
    });
    this.completed = new Counter({
      name: "talaria_dup_follower_copies_completed_total",
      help: "Full duplication, follower side: copies installed as a replica's storage",
      registers,
    });
    this.httpFallbacks = new Counter({
      name: "talaria_dup_follower_copy_http_fallbacks_total",
      help: "Full duplication, follower side: HTTP streams of checkpoint files that failed, the attempt going on with CHUNK",
      registers,
    });
  }
}
