/** Prometheus metrics: one typed factory per component, all registered on a caller-owned registry. */
export { Registry } from "prom-client";
export { registerFdatasyncMetrics } from "./fdatasync-metrics.ts";
export { type DuplicationListSource, MetaDuplicationMetrics } from "./meta-duplication-metrics.ts";
export {
  EVENT_LOOP_DELAY_RESOLUTION_MS,
  metricsWithProcess,
  namedMetrics,
  processMetricsRegistry,
  SCRAPE_FAMILIES_PER_TURN,
} from "./process-metrics.ts";
export { ReplicaMetrics, type ReplicaStatsSnapshot } from "./replica-metrics.ts";
