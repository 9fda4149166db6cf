/** Routes every server serves: `/metrics` (Prometheus) and `/version`. */
import type { Registry } from "prom-client";
import { VERSION } from "../version.ts";
import { json, type Route } from "./router.ts";

export function commonRoutes(registry: Registry, role: string): Route[] {
  return [
    {
      path: "/metrics",
      description: "Prometheus metrics of this process",
      handler: async () => ({
        kind: "text",
        contentType: registry.contentType,
        text: await registry.metrics(),
      }),
    },
    {
      path: "/version",
      description: "the Talaria version and the role of this process",
      handler: async () => json({ version: VERSION, role, node: process.version }),
    },
  ];
}
