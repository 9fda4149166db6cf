/**
 * Wiring of a meta server process: config → meta store → meta service → RPC and HTTP servers.
 * No decisions here; they live in the meta core.
 */
import { resolve } from "node:path";
import { Registry } from "prom-client";
import type { Logger } from "../common/logger.ts";
import { monotonicClock } from "../common/monotonic-clock.ts";
import {
  type Config,
  formatHostPort,
  remoteTransportOptions,
  validateAppEnv,
} from "../config/index.ts";
import { commonRoutes, HttpServer, Router } from "../http/index.ts";
import { connectRemoteMeta, MetaService } from "../meta/service/index.ts";
import { type MetaStore, openMetaStore } from "../meta/store/index.ts";
import { MetaDuplicationMetrics } from "../metrics/index.ts";
import { DuplicationMethod, MetaMethod } from "../protocol/index.ts";
import { RpcMetrics, RpcServer } from "../rpc/index.ts";
import { metaRoutes } from "./meta-http-routes.ts";

export interface RunningMetaServer {
  readonly address: string;
  readonly httpPort: number | undefined;
  readonly service: MetaService;
  /** Resolves when this meta server leads (immediately with the embedded store). */
  readonly leading: Promise<void>;
  close(): Promise<void>;
}

async function openStore(config: Config, logger: Logger): Promise<MetaStore> {
  const meta = config.metaServer;
  if (meta.metaStateServiceType === "zookeeper") {
    return openMetaStore(
      {
        kind: "zookeeper",
        connectionString: config.zookeeper.hostsList.map(formatHostPort).join(","),
        rootPath: "/",
        sessionTimeoutMs: config.zookeeper.timeoutMs,
      },
      { logger },
    );
  }
  return openMetaStore({ kind: "embedded", dir: resolve(meta.dataDir) }, { logger });
}

export async function startMetaServer(
  config: Config,
  logger: Logger,
  options: { readonly onFatal?: (reason: string) => void } = {},
): Promise<RunningMetaServer> {
  const meta = config.metaServer;
  const replication = config.replication;
  const address = `${meta.host}:${meta.port}`;
  const registry = new Registry();
  const store = await openStore(config, logger);
  const service = new MetaService(
    {
      address,
      core: {
        clusterRoot: meta.clusterRoot,
        fdLeaseMs: replication.fdLeaseSeconds * 1000,
        fdGraceMs: replication.fdGraceSeconds * 1000,
        holdSecondsForDroppedApp: meta.holdSecondsForDroppedApp,
        balanceIntervalMs: meta.balanceIntervalMs,
        duplication: {
          enabled: replication.duplicationEnabled,
          clusterName: replication.clusterName,
          remoteClusters: Object.fromEntries(
            Object.entries(config.pegasusClusters).map(([name, metas]) => [
              name,
              metas.map(formatHostPort),
            ]),
          ),
          clusterIds: config.duplicationGroup,
          ignoreOtherClusterIds: replication.dupIgnoreOtherClusterIds,
          progressMinUpdatePeriodMs: replication.dupProgressMinUpdatePeriodMs,
          syncPeriodMs: replication.duplicationSyncPeriodSecond * 1000,
          // Told to follower tables made by full duplication (duplication.master_metas).
          metaServers: meta.serverList.map(formatHostPort),
        },
      },
      tickIntervalMs: replication.fdCheckIntervalSeconds * 1000,
    },
    {
      store,
      clock: monotonicClock(),
      logger,
      validateAppEnv,
      // Full duplication creates follower tables on remote metas: through [duplication-proxy].
      connectRemoteMeta: connectRemoteMeta((cluster) => remoteTransportOptions(config, cluster), {
        log: logger,
      }),
      onLeadershipLost: () => options.onFatal?.("meta server lost its leadership"),
    },
  );
  const rpc = new RpcServer(
    { name: `meta ${address}` },
    { log: logger, metrics: new RpcMetrics(registry) },
  );
  for (const method of [...Object.values(MetaMethod), ...Object.values(DuplicationMethod)])
    rpc.handle(method, (payload) => service.handle(method, payload));
  if (replication.duplicationEnabled)
    new MetaDuplicationMetrics(
      registry,
      () => service.coreIfLeading()?.listDuplications(),
      () => service.coreIfLeading()?.orphanResyncMarks().length,
    );
  await rpc.listen({ host: meta.host, port: meta.port });
  let http: HttpServer | undefined;
  let httpPort: number | undefined;
  if (meta.httpPort > 0) {
    http = new HttpServer(
      new Router([...commonRoutes(registry, "meta"), ...metaRoutes(service)]),
      logger,
    );
    httpPort = await http.listen(meta.host, meta.httpPort);
  }
  const leading = service.start();
  leading.catch((error: unknown) => {
    logger.error({ err: error }, "meta: could not become leader");
    options.onFatal?.("meta server could not start leading");
  });
  logger.info(
    { address, httpPort, store: store.kind, clusterRoot: meta.clusterRoot },
    "meta server started",
  );
  return {
    address,
    httpPort,
    service,
    leading,
    async close() {
      await service.stop();
      await rpc.close();
      await http?.close();
      await store.close();
    },
  };
}
