/**
 * Prometheus metrics of where a replica server's private-log fdatasyncs run (plog/fdatasync-
 * governor.ts), read from its FdatasyncRunner when /metrics is scraped.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { FdatasyncRunner } from "../plog/index.ts";

export function registerFdatasyncMetrics(registry: Registry, runner: FdatasyncRunner): void {
  const registers = [registry];
  new Counter({
    name: "talaria_plog_fdatasync_runs_total",
    help: "Private-log fdatasyncs of this server, by where they ran (inline on the event loop, or on the thread pool)",
    labelNames: ["place"],
    registers,
    collect() {
      const stats = runner.stats;
      this.reset();
      this.inc({ place: "inline" }, stats.inline);
      this.inc({ place: "thread" }, stats.thread);
    },
  });
  new Counter({
    name: "talaria_plog_fdatasync_inline_seconds_total",
    help: "Event-loop time spent in inline private-log fdatasyncs",
    registers,
    collect() {
      this.reset();
      this.inc(runner.stats.inlineSeconds);
    },
  });
  new Gauge({
    name: "talaria_plog_fdatasync_inline",
    help: "1 while private-log fdatasyncs run inline on the event loop, 0 while on the thread pool",
    registers,
    collect() {
      this.set(runner.place === "inline" ? 1 : 0);
    },
  });
  new Gauge({
    name: "talaria_plog_fdatasync_inline_median_seconds",
    help: "Median of the last 32 inline private-log fdatasyncs (what [replication] log_private_fdatasync = auto compares with its bound)",
    registers,
    collect() {
      const medianMs = runner.governor.medianMs;
      this.set(medianMs === undefined ? 0 : medianMs / 1000);
    },
  });
}
