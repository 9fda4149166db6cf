/** Routes every server serves: `/metrics` (Prometheus) and `/version`. */
import type { Registry } from "prom-client";
import { metricsWithProcess, processMetricsRegistry } from "../metrics/process-metrics.ts";
import { VERSION } from "../version.ts";
import { json, type Route } from "./router.ts";

export function commonRoutes(registry: Registry, role: string): Route[] {
  // Starts the runtime monitors now, so the first scrape's event-loop delay covers the uptime.
  processMetricsRegistry();
  return [
    {
      path: "/metrics",
      description: "Prometheus metrics of this process (its talaria_* metrics, then the runtime's)",
      handler: async () => ({
        kind: "text",
        contentType: registry.contentType,
        text: await metricsWithProcess(registry),
      }),
    },
    {
      path: "/version",
      description: "the Talaria version and the role of this process",
      handler: async () => json({ version: VERSION, role, node: process.version }),
    },
  ];
}
