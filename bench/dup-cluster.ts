/**
 * The clusters bench:dup drives: a two-cluster onebox (alpha → beta, each a meta server and
 * replica servers in their own processes, all on 127.0.0.1) whose alpha servers reach beta through
 * a fault proxy in its own process (`[duplication-proxy] beta = <proxy>`), the table on both sides, and the
 * duplication alpha → beta. Every wait is bounded.
 */
import { createServer } from "node:net";
import { createClient, type TalariaClient } from "../src/client/index.ts";
import type { Config } from "../src/config/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
} from "../src/protocol/duplication-messages.ts";
import { type RunningOnebox, startOnebox } from "../src/server/onebox.ts";
import {
  type OneboxCluster,
  planOnebox,
  throughProxy,
  withReplication,
} from "../src/server/onebox-plan.ts";
import { createHealthyTable } from "./cluster-onebox.ts";
import { ProxyProcess } from "./dup-proxy.ts";

/** Base ports tried: 40000, 41000, … 58000 (onebox tests use 20000–39000), at random. */
const BASE_PORT_FIRST = 40_000;
const BASE_PORT_CHOICES = 19;
const BASE_PORT_ATTEMPTS = 50;
const ONEBOX_READY_TIMEOUT_MS = 90_000;
const TABLE_HEALTHY_TIMEOUT_MS = 90_000;
const ADD_DUPLICATION_TIMEOUT_MS = 60_000;
const CLIENT_TIMEOUT_MS = 30_000;

export interface DupBenchOptions {
  readonly table: string;
  readonly partitions: number;
  readonly replicas: number;
  /** `[replication]` settings of the source cluster other than the defaults (experiments). */
  readonly sourceReplication?: Partial<Config["replication"]>;
  /** `[replication]` settings of both clusters other than the defaults (experiments). */
  readonly replication?: Partial<Config["replication"]>;
}

export interface DupBench {
  readonly onebox: RunningOnebox;
  readonly proxy: ProxyProcess;
  readonly source: OneboxCluster;
  readonly target: OneboxCluster;
  readonly sourceClient: TalariaClient;
  readonly targetClient: TalariaClient;
  readonly dupid: number;
  readonly basePort: number;
  readonly sourceHttpPorts: readonly number[];
  readonly targetHttpPorts: readonly number[];
  /** Every server process, for CPU sampling. */
  readonly pids: { readonly source: readonly number[]; readonly target: readonly number[] };
  close(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function planOnFreePorts(
  dir: string,
  replicas: number,
): Promise<{ plan: OneboxCluster[]; basePort: number }> {
  for (let attempt = 0; attempt < BASE_PORT_ATTEMPTS; attempt++) {
    const basePort = BASE_PORT_FIRST + 1000 * Math.floor(Math.random() * BASE_PORT_CHOICES);
    const plan = planOnebox({ dir, clusters: 2, replicas, basePort });
    const ports = plan.flatMap((c) =>
      c.processes.flatMap((p) => [Number(p.address.split(":")[1]), p.httpPort]),
    );
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return { plan, basePort };
  }
  throw new Error(`no free port range for two onebox clusters after ${BASE_PORT_ATTEMPTS} tries`);
}

/** Starts everything; `onProcessStarted` gets each server pid so a crash can still kill them. */
export async function startDupBench(
  dir: string,
  options: DupBenchOptions,
  onProcessStarted: (pid: number) => void,
): Promise<DupBench> {
  const proxy = await ProxyProcess.start();
  if (proxy.pid !== undefined) onProcessStarted(proxy.pid);
  let onebox: RunningOnebox | undefined;
  const clients: TalariaClient[] = [];
  const close = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await onebox?.stop();
    await proxy.close();
  };
  try {
    const { plan, basePort } = await planOnFreePorts(dir, options.replicas);
    const clusters = throughProxy(
      withReplication(plan, undefined, options.replication ?? {}),
      "alpha",
      "beta",
      `127.0.0.1:${proxy.port}`,
      options.sourceReplication,
    );
    const [source, target] = clusters;
    if (source === undefined || target === undefined) throw new Error("two clusters planned");
    onebox = await startOnebox(clusters, {
      readyTimeoutMs: ONEBOX_READY_TIMEOUT_MS,
      onExit: (p, code, signal) => {
        process.stderr.write(
          `bench:dup: ${p.cluster}/${p.name} exited unexpectedly (code ${code}, signal ${signal}); see ${p.dir}/talaria.log\n`,
        );
      },
    });
    const running = onebox;
    const pidsOf = (cluster: OneboxCluster) =>
      cluster.processes.map((p) => {
        const pid = running.pid(cluster.name, p.name);
        if (pid === undefined) throw new Error(`no pid for ${cluster.name}/${p.name}`);
        onProcessStarted(pid);
        return pid;
      });
    const pids = { source: pidsOf(source), target: pidsOf(target) };
    const sourceClient = createClient({
      metaServers: [source.metaAddress],
      timeoutMs: CLIENT_TIMEOUT_MS,
      name: "bench-dup-source",
    });
    const targetClient = createClient({
      metaServers: [target.metaAddress],
      timeoutMs: CLIENT_TIMEOUT_MS,
      name: "bench-dup-target",
    });
    clients.push(sourceClient, targetClient);
    const table = {
      name: options.table,
      partitions: options.partitions,
      replicas: options.replicas,
    };
    await createHealthyTable(sourceClient, table, TABLE_HEALTHY_TIMEOUT_MS);
    await createHealthyTable(targetClient, table, TABLE_HEALTHY_TIMEOUT_MS);
    const added = (await sourceClient.metaSession.call(
      DuplicationMethod.ADD,
      { appName: options.table, remoteClusterName: target.name },
      ADD_DUPLICATION_TIMEOUT_MS,
    )) as AddDuplicationResponse;
    if (added.status !== "DS_LOG") {
      throw new Error(`add_dup answered ${added.status}, not DS_LOG: ${JSON.stringify(added)}`);
    }
    const httpPorts = (cluster: OneboxCluster) =>
      cluster.processes.filter((p) => p.role === "replica").map((p) => p.httpPort);
    return {
      onebox,
      proxy,
      source,
      target,
      sourceClient,
      targetClient,
      dupid: added.dupid,
      basePort,
      sourceHttpPorts: httpPorts(source),
      targetHttpPorts: httpPorts(target),
      pids,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
