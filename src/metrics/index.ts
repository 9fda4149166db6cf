/** Prometheus metrics: one typed factory per component, all registered on a caller-owned registry. */
export { Registry } from "prom-client";
export { type DuplicationListSource, MetaDuplicationMetrics } from "./meta-duplication-metrics.ts";
export { ReplicaMetrics, type ReplicaStatsSnapshot } from "./replica-metrics.ts";
