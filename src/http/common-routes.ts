/** Routes every server serves: `/metrics` (Prometheus) and `/version`. */
import type { Registry } from "prom-client";
import {
  metricsWithProcess,
  namedMetrics,
  processMetricsRegistry,
} from "../metrics/process-metrics.ts";
import { VERSION } from "../version.ts";
import { json, type Route } from "./router.ts";

export function commonRoutes(registry: Registry, role: string): Route[] {
  // Starts the runtime monitors now, so the first scrape's event-loop delay covers the uptime.
  processMetricsRegistry();
  return [
    {
      path: "/metrics",
      description:
        "Prometheus metrics of this process (its talaria_* metrics, then the runtime's); ?name=<family> (repeatable) for those families only",
      handler: async (query) => {
        const names = query.getAll("name");
        return {
          kind: "text",
          contentType: registry.contentType,
          text:
            names.length === 0
              ? await metricsWithProcess(registry)
              : await namedMetrics(registry, names),
        };
      },
    },
    {
      path: "/version",
      description: "the Talaria version and the role of this process",
      handler: async () => json({ version: VERSION, role, node: process.version }),
    },
  ];
}
