/**
 * The onebox layout: which processes a local cluster runs, on which ports, with which config.
 * Pure: the same inputs always give the same plan, so a restart finds its data again.
 *
 * Cluster i (alpha, beta, gamma) uses ports base + 1000·i: meta RPC +601, meta HTTP +701, replica
 * j RPC +801+j, replica j HTTP +901+j (34601, 34701, 34801… for alpha). Every cluster's config
 * names every cluster in `[pegasus.clusters]` and `[duplication-group]`, so duplication between
 * them works out of the box.
 */
import { join } from "node:path";
import { TalariaError } from "../common/errors.ts";
import { type Config, type ConfigOverrides, defaultConfig } from "../config/index.ts";

export const ONEBOX_CLUSTER_NAMES = ["alpha", "beta", "gamma"] as const;
export const ONEBOX_BASE_PORT = 34_000;
export const ONEBOX_REPLICAS_DEFAULT = 3;

export interface OneboxProcess {
  readonly cluster: string;
  readonly role: "meta" | "replica";
  /** "meta" or "replica1".."replicaN". */
  readonly name: string;
  readonly dir: string;
  readonly configFile: string;
  readonly config: Config;
  readonly address: string;
  readonly httpPort: number;
}

export interface OneboxCluster {
  readonly name: string;
  readonly clusterId: number;
  readonly metaAddress: string;
  readonly processes: readonly OneboxProcess[];
}

export interface OneboxPlanOptions {
  readonly dir: string;
  readonly clusters: number;
  readonly replicas: number;
  readonly basePort?: number;
}

/** Timings shorter than a production cluster's, so a local failover takes seconds. */
const ONEBOX_TIMINGS: ConfigOverrides["replication"] = {
  fdBeaconIntervalSeconds: 1,
  fdCheckIntervalSeconds: 1,
  fdLeaseSeconds: 4,
  fdGraceSeconds: 5,
  groupCheckIntervalMs: 1000,
  duplicationSyncPeriodSecond: 2,
};

export function planOnebox(options: OneboxPlanOptions): OneboxCluster[] {
  if (
    !Number.isInteger(options.clusters) ||
    options.clusters < 1 ||
    options.clusters > ONEBOX_CLUSTER_NAMES.length
  ) {
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `--clusters must be 1..${ONEBOX_CLUSTER_NAMES.length}, got ${options.clusters}`,
    );
  }
  if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > 9) {
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `--replicas must be 1..9, got ${options.replicas}`,
    );
  }
  const base = options.basePort ?? ONEBOX_BASE_PORT;
  const names = ONEBOX_CLUSTER_NAMES.slice(0, options.clusters);
  const metaPort = (i: number) => base + 1000 * i + 601;
  const clusterMetas = Object.fromEntries(
    names.map((name, i) => [name, [{ host: "127.0.0.1", port: metaPort(i) }]]),
  );
  const duplicationGroup = Object.fromEntries(names.map((name, i) => [name, i + 1]));
  return names.map((name, i) => {
    const shared: ConfigOverrides = {
      replication: { ...ONEBOX_TIMINGS, clusterName: name },
      pegasusClusters: clusterMetas,
      duplicationGroup,
      metaServer: { host: "127.0.0.1", port: metaPort(i), httpPort: base + 1000 * i + 701 },
    };
    const clusterDir = join(options.dir, name);
    const process = (
      role: "meta" | "replica",
      processName: string,
      overrides: ConfigOverrides,
      address: string,
      httpPort: number,
    ): OneboxProcess => {
      const dir = join(clusterDir, processName);
      return {
        cluster: name,
        role,
        name: processName,
        dir,
        configFile: join(dir, "talaria.ini"),
        config: defaultConfig({
          ...shared,
          ...overrides,
          replication: { ...shared.replication, ...overrides.replication },
        }),
        address,
        httpPort,
      };
    };
    const meta = process(
      "meta",
      "meta",
      {
        metaServer: { ...shared.metaServer, dataDir: join(clusterDir, "meta", "data") },
        replicaServer: { port: base + 1000 * i + 800, httpPort: 0 },
      },
      `127.0.0.1:${metaPort(i)}`,
      base + 1000 * i + 701,
    );
    const replicas = Array.from({ length: options.replicas }, (_, j) => {
      const port = base + 1000 * i + 801 + j;
      const httpPort = base + 1000 * i + 901 + j;
      return process(
        "replica",
        `replica${j + 1}`,
        {
          metaServer: { ...shared.metaServer, httpPort: 0 },
          replicaServer: {
            host: "127.0.0.1",
            port,
            httpPort,
            dataDir: join(clusterDir, `replica${j + 1}`, "data"),
          },
        },
        `127.0.0.1:${port}`,
        httpPort,
      );
    });
    return { name, clusterId: i + 1, metaAddress: meta.address, processes: [meta, ...replicas] };
  });
}

/**
 * `plan` with cluster `name`'s processes reaching cluster `remote` through the proxy at
 * `proxyAddress` (`[duplication-proxy]`: a fault proxy in end-to-end tests and bench:dup) and
 * with `replication` settings merged into their configs.
 */
export function throughProxy(
  plan: readonly OneboxCluster[],
  name: string,
  remote: string,
  proxyAddress: string,
  replication: Partial<Config["replication"]> = {},
): OneboxCluster[] {
  const [host = "", port = ""] = proxyAddress.split(":");
  return withConfig(plan, name, (config) => ({
    ...config,
    replication: { ...config.replication, ...replication },
    duplicationProxy: { [remote]: [{ host, port: Number(port) }] },
  }));
}

/** `plan` with `[replication]` settings changed in every process of cluster `name` (all: undefined). */
export function withReplication(
  plan: readonly OneboxCluster[],
  name: string | undefined,
  replication: Partial<Config["replication"]>,
): OneboxCluster[] {
  return withConfig(plan, name, (config) => ({
    ...config,
    replication: { ...config.replication, ...replication },
  }));
}

function withConfig(
  plan: readonly OneboxCluster[],
  name: string | undefined,
  change: (config: Config) => Config,
): OneboxCluster[] {
  return plan.map((cluster) =>
    name !== undefined && cluster.name !== name
      ? cluster
      : {
          ...cluster,
          processes: cluster.processes.map((p) => ({ ...p, config: change(p.config) })),
        },
  );
}
