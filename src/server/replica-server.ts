/**
 * Wiring of a replica server process: config → replica stub → RPC and HTTP servers.
 * No decisions here; they live in the replication core and the meta server.
 */
import { resolve } from "node:path";
import { Registry } from "prom-client";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import {
  type Config,
  formatHostPort,
  plogSegmentBytesMaxOf,
  plogTailCacheBytesOf,
  readLimitsOf,
  remoteTransportOptions,
  writeLimitsOf,
} from "../config/index.ts";
import { DuplicationMetrics, duplicateReceiverPolicy } from "../duplication/index.ts";
import { commonRoutes, HttpServer, json, Router } from "../http/index.ts";
import { ReplicaMetrics, registerFdatasyncMetrics } from "../metrics/index.ts";
import {
  createNodeFs,
  FdatasyncGovernor,
  FdatasyncRunner,
  fdatasyncGovernorDefaults,
} from "../plog/index.ts";
import { parseGpid } from "../protocol/index.ts";
import { dupCheckpointRoute } from "../replica-server/dup-checkpoint-server.ts";
import { duplicationStatusJson } from "../replica-server/duplication-admin.ts";
import { FollowerCopyMetrics } from "../replica-server/follower/index.ts";
import { FullSyncMetrics } from "../replica-server/full-sync-metrics.ts";
import { LearnerCheckpointMetrics } from "../replica-server/learner-checkpoint-metrics.ts";
import { learnerCheckpointRoute } from "../replica-server/learner-checkpoint-route.ts";
import { ReplicaStub } from "../replica-server/replica-stub.ts";
import { TargetLagMetrics } from "../replica-server/target-lag-metrics.ts";
import { RpcClient, RpcMetrics, RpcServer } from "../rpc/index.ts";

export interface RunningReplicaServer {
  readonly address: string;
  readonly httpPort: number | undefined;
  readonly stub: ReplicaStub;
  close(): Promise<void>;
}

/** Where this server's private-log fdatasyncs run (`[replication] log_private_fdatasync`). */
function plogFdatasyncRunner(config: Config, logger: Logger): FdatasyncRunner {
  const { logPrivateFdatasync: mode, logPrivateFdatasyncInlineMaxUs: maxUs } = config.replication;
  const governor = new FdatasyncGovernor({
    mode,
    inlineMaxMs: maxUs / 1000,
    probeIntervalMs: fdatasyncGovernorDefaults.probeIntervalMs,
  });
  return new FdatasyncRunner(governor, {
    onSwitch: ({ to, medianMs }) =>
      logger.info(
        { to, medianMs, inlineMaxMs: maxUs / 1000 },
        to === "thread"
          ? "plog: fdatasync moves to the thread pool (inline syncs got slow)"
          : "plog: fdatasync runs inline again (inline probes at half the bound or less)",
      ),
  });
}

export async function startReplicaServer(
  config: Config,
  logger: Logger,
): Promise<RunningReplicaServer> {
  const server = config.replicaServer;
  const replication = config.replication;
  const address = `${server.host}:${server.port}`;
  const registry = new Registry();
  const rpcMetrics = new RpcMetrics(registry);
  const fdatasync = plogFdatasyncRunner(config, logger);
  registerFdatasyncMetrics(registry, fdatasync);
  const transport = new RpcClient(
    { name: `replica ${address}` },
    { log: logger, metrics: rpcMetrics },
  );
  const stub = new ReplicaStub(
    {
      self: address,
      dataDir: resolve(server.dataDir),
      metaServers: config.metaServer.serverList.map(formatHostPort),
      clusterId: config.duplicationGroup[replication.clusterName] ?? 0,
      beaconIntervalMs: replication.fdBeaconIntervalSeconds * 1000,
      gcIntervalMs: replication.gcIntervalMs,
      staleReplicaHoldMs: replication.gcDiskGarbageReplicaIntervalSeconds * 1000,
      checkpointIntervalMs: replication.checkpointIntervalSeconds * 1000,
      replication: {
        groupCheckIntervalMs: replication.groupCheckIntervalMs,
        prepareResendIntervalMs: replication.prepareTimeoutMsForSecondaries,
      },
      writeLimits: writeLimitsOf(config),
      writeCoalesce: {
        writeCoalesceUpdatesMax: replication.writeCoalesceMaxUpdates,
        writeCoalesceBytesMax: replication.writeCoalesceMaxBytes,
        writeCoalesceInFlightMax: replication.writeCoalesceMaxInFlight,
        writeCoalesceMinIntervalMs: replication.writeCoalesceMinIntervalMs,
      },
      readLimits: readLimitsOf(config),
      plogSegmentBytesMax: plogSegmentBytesMaxOf(config),
      plogTailCacheBytes: plogTailCacheBytesOf(config),
      tombstoneRetentionSeconds: config.pegasusServer.tombstoneRetentionSeconds,
      sweepIntervalMs: config.pegasusServer.ttlSweepIntervalMs,
      sweepBudget: config.pegasusServer.ttlSweepBudget,
      followerCopy: { rateBytesPerSec: replication.dupCheckpointCopyRateMb * 1024 * 1024 },
      ...(replication.duplicationEnabled
        ? {
            duplication: {
              syncPeriodMs: replication.duplicationSyncPeriodSecond * 1000,
              receiver: duplicateReceiverPolicy(config),
              remoteTransport: (clusterName) => remoteTransportOptions(config, clusterName),
              clusterIds: config.duplicationGroup,
              source: {
                sourceClusterId: config.duplicationGroup[replication.clusterName] ?? 0,
                batchBytes: replication.duplicateLogBatchBytes,
                requestBytesMax: replication.dupMaxAllowedWriteSize,
                noMutationLoadDelayMs: replication.dupNoMutationLoadDelayMs,
                retainedLogBytesMax: replication.dupMaxRetainedLogBytes,
                retainedLogMsMax: replication.dupMaxRetainedLogSeconds * 1000,
                stalledAfterMs: replication.dupStalledAfterMs,
                skipAfterFailures: replication.dupFailSkipAfterFailures,
                retryDelayMsMax: replication.dupRetryDelayMaxMs,
                shipTimeoutMs: replication.dupShipTimeoutMs,
                maxClockSkewMs: replication.dupMaxClockSkewSeconds * 1000,
              },
            },
          }
        : {}),
    },
    {
      transport,
      logger,
      metrics: new ReplicaMetrics(registry),
      duplicationMetrics: new DuplicationMetrics(registry),
      fullSyncMetrics: new FullSyncMetrics(registry),
      targetLag: new TargetLagMetrics(registry, config.pegasusServer.dupLaggingWriteThresholdMs),
      followerCopyMetrics: new FollowerCopyMetrics(registry),
      learnerCheckpointMetrics: new LearnerCheckpointMetrics(registry),
      plogFs: createNodeFs(fdatasync),
    },
  );
  const rpc = new RpcServer({ name: `replica ${address}` }, { log: logger, metrics: rpcMetrics });
  stub.register(rpc);
  await rpc.listen({ host: server.host, port: server.port });
  let http: HttpServer | undefined;
  let httpPort: number | undefined;
  if (server.httpPort > 0) {
    http = new HttpServer(
      new Router([
        ...commonRoutes(registry, "replica"),
        {
          path: "/replica/partitions",
          description:
            "every replica this server hosts (gpid, status, ballot, decrees) and the tables whose replica data it keeps without hosting them",
          handler: async () =>
            json({ node: address, replicas: stub.reports(), storedAppIds: stub.storedAppIds() }),
        },
        {
          path: "/replica/duplication",
          description: "duplications shipped by the primaries on this server (?appid=), ref §6.3",
          handler: async (query) => {
            const appId = Number(query.get("appid"));
            if (!Number.isInteger(appId) || appId <= 0)
              throw new TalariaError("ERR_INVALID_PARAMETERS", "appid must be a table id");
            const agent = stub.duplicationAgent;
            if (agent === undefined)
              throw new TalariaError(
                "ERR_OBJECT_NOT_FOUND",
                "duplication is not enabled on this cluster",
              );
            const status = duplicationStatusJson(agent, appId);
            if (Object.keys(status).length === 0)
              throw new TalariaError(
                "ERR_OBJECT_NOT_FOUND",
                "no duplication assigned to a primary here",
              );
            return json(status);
          },
        },
        {
          path: "/replica/partition",
          description: "one replica in detail (?gpid=<appId>.<partitionIndex>)",
          handler: async (query) => {
            const gpid = parseGpid(query.get("gpid") ?? "");
            const replica = stub.replica(gpid);
            if (replica === undefined)
              throw new TalariaError(
                "ERR_OBJECT_NOT_FOUND",
                `no replica ${query.get("gpid")} here`,
              );
            return json({
              report: replica.report(),
              stats: replica.statsSnapshot(),
              core: replica.snapshot(),
            });
          },
        },
        dupCheckpointRoute(() => stub.duplicationAgent?.fullSync.server),
        learnerCheckpointRoute(stub.learnerCheckpoints),
      ]),
      logger,
    );
    httpPort = await http.listen(server.host, server.httpPort);
    stub.advertiseHttp(`${server.host}:${httpPort}`);
  }
  await stub.start();
  logger.info(
    { address, httpPort, metaServers: config.metaServer.serverList.map(formatHostPort) },
    "replica server started",
  );
  return {
    address,
    httpPort,
    stub,
    async close() {
      await rpc.close();
      await stub.close();
      await transport.close();
      await http?.close();
    },
  };
}
