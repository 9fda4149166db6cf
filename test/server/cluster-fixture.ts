import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, silentLogger } from "../../src/common/logger.ts";
import { type Config, defaultConfig } from "../../src/config/index.ts";
import { type RunningMetaServer, startMetaServer } from "../../src/server/meta-server.ts";
import { type RunningReplicaServer, startReplicaServer } from "../../src/server/replica-server.ts";
import { freePort } from "../support/ports.ts";

/** A meta server and N replica servers in this process, on free loopback ports. */
export interface InProcessCluster {
  readonly meta: RunningMetaServer;
  readonly replicas: RunningReplicaServer[];
  readonly metaAddress: string;
  readonly configs: Config[];
  stopReplica(index: number): Promise<void>;
  startReplica(index: number): Promise<void>;
  close(): Promise<void>;
}

export async function startInProcessCluster(
  replicaCount = 3,
  logger: Logger = silentLogger,
  /** `[replication]` settings of the replica servers on top of the fixture's timings. */
  replicaReplication: Record<string, unknown> = {},
): Promise<InProcessCluster> {
  const root = mkdtempSync(join(tmpdir(), "talaria-cluster-"));
  const metaPort = await freePort();
  const timings = {
    fdBeaconIntervalSeconds: 1,
    fdCheckIntervalSeconds: 1,
    fdLeaseSeconds: 3,
    fdGraceSeconds: 4,
    groupCheckIntervalMs: 500,
  };
  const metaConfig = defaultConfig({
    metaServer: { port: metaPort, httpPort: 0, dataDir: join(root, "meta") },
    replicaServer: { port: metaPort + 1 > 65535 ? 1 : 1, httpPort: 0 },
    replication: timings,
  });
  const meta = await startMetaServer(metaConfig, logger);
  await meta.leading;
  const configs: Config[] = [];
  for (let i = 0; i < replicaCount; i++) {
    configs.push(
      defaultConfig({
        metaServer: { port: metaPort, httpPort: 0 },
        replicaServer: {
          port: await freePort(),
          httpPort: await freePort(),
          dataDir: join(root, `replica${i}`),
        },
        replication: { ...timings, ...replicaReplication },
      }),
    );
  }
  const replicas: (RunningReplicaServer | undefined)[] = await Promise.all(
    configs.map((c) => startReplicaServer(c, logger)),
  );
  const cluster: InProcessCluster = {
    meta,
    get replicas() {
      return replicas.filter((r): r is RunningReplicaServer => r !== undefined);
    },
    metaAddress: meta.address,
    configs,
    async stopReplica(index) {
      await replicas[index]?.close();
      replicas[index] = undefined;
    },
    async startReplica(index) {
      replicas[index] = await startReplicaServer(configs[index] as Config, logger);
    },
    async close() {
      await Promise.all(replicas.map((r) => r?.close()));
      await meta.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}
