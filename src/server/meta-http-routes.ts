/** The meta server's HTTP routes (docs/http.md documents their JSON). */
import { TalariaError } from "../common/errors.ts";
import { json, type Route } from "../http/index.ts";
import { pegasusQueryJson } from "../meta/core/index.ts";
import type { MetaService } from "../meta/service/index.ts";

function requiredName(query: URLSearchParams): string {
  const name = query.get("name");
  if (name === null || name === "")
    throw new TalariaError("ERR_INVALID_PARAMETERS", "query parameter name is required");
  return name;
}

export function metaRoutes(service: MetaService): Route[] {
  return [
    {
      path: "/meta/cluster",
      description: "cluster summary: nodes alive/dead, tables, partition health",
      handler: async () => json((await service.leadingCore()).clusterInfo()),
    },
    {
      path: "/meta/nodes",
      description: "replica servers with status and primary/replica counts",
      handler: async () => json((await service.leadingCore()).listNodes()),
    },
    {
      path: "/meta/apps",
      description: "every table, dropped ones flagged by status",
      handler: async () => json((await service.leadingCore()).listApps()),
    },
    {
      path: "/meta/app",
      description: "one table and its partition configurations (?name=)",
      handler: async (query) =>
        json((await service.leadingCore()).queryConfiguration({ appName: requiredName(query) })),
    },
    {
      path: "/meta/app_envs",
      description: "the envs of one table (?name=)",
      handler: async (query) => {
        const { app } = (await service.leadingCore()).queryConfiguration({
          appName: requiredName(query),
        });
        return json({ appName: app.appName, envs: app.envs });
      },
    },
    {
      path: "/meta/app/duplication",
      description:
        "the duplications of one table with per-partition progress, as Pegasus prints them (?name=)",
      handler: async (query) => {
        const appName = requiredName(query);
        const core = await service.leadingCore();
        return json(pegasusQueryJson(core.queryDuplication({ appName })));
      },
    },
  ];
}
