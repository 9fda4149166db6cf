/**
 * The cluster the bench drives: one onebox cluster (a meta server and replica servers, each its own
 * process) on a free range of 127.0.0.1 ports, plus the table it loads. Every wait is bounded.
 */
import { createServer } from "node:net";
import type { TalariaClient } from "../src/client/index.ts";
import { type ClusterInfoResponse, MetaMethod } from "../src/protocol/index.ts";
import { type RunningOnebox, startOnebox } from "../src/server/onebox.ts";
import { type OneboxCluster, type OneboxProcess, planOnebox } from "../src/server/onebox-plan.ts";

/** Base ports tried: 40000, 41000, … (onebox tests use 20000–39000), at random. */
const BASE_PORT_FIRST = 40_000;
const BASE_PORT_CHOICES = 20;
const BASE_PORT_ATTEMPTS = 50;
const ONEBOX_READY_TIMEOUT_MS = 60_000;
const META_CALL_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 250;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port whose whole onebox range is free now. */
async function freeBasePort(replicas: number): Promise<number> {
  for (let attempt = 0; attempt < BASE_PORT_ATTEMPTS; attempt++) {
    const base = BASE_PORT_FIRST + 1000 * Math.floor(Math.random() * BASE_PORT_CHOICES);
    const [probe] = planOnebox({ dir: "/unused", clusters: 1, replicas, basePort: base });
    const ports = (probe?.processes ?? []).flatMap((p) => [
      Number(p.address.split(":")[1]),
      p.httpPort,
    ]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error(`no free onebox port range after ${BASE_PORT_ATTEMPTS} attempts`);
}

export interface BenchCluster {
  readonly onebox: RunningOnebox;
  readonly cluster: OneboxCluster;
  readonly basePort: number;
  readonly meta: OneboxProcess;
  readonly replicas: readonly OneboxProcess[];
}

/** Starts a one-cluster onebox with `replicas` replica servers under `dir`. */
export async function startBenchCluster(dir: string, replicas: number): Promise<BenchCluster> {
  const basePort = await freeBasePort(replicas);
  const [cluster] = planOnebox({ dir, clusters: 1, replicas, basePort });
  if (cluster === undefined) throw new Error("planOnebox returned no cluster");
  const meta = cluster.processes.find((p) => p.role === "meta");
  if (meta === undefined) throw new Error("the onebox plan has no meta server");
  const onebox = await startOnebox([cluster], {
    readyTimeoutMs: ONEBOX_READY_TIMEOUT_MS,
    onExit: (process, code, signal) => {
      globalThis.process.stderr.write(
        `bench: ${process.name} exited unexpectedly (code ${code}, signal ${signal}); see ${process.dir}/talaria.log\n`,
      );
    },
  });
  return {
    onebox,
    cluster,
    basePort,
    meta,
    replicas: cluster.processes.filter((p) => p.role === "replica"),
  };
}

async function clusterInfo(client: TalariaClient): Promise<ClusterInfoResponse> {
  return (await client.metaSession.call(
    MetaMethod.CLUSTER_INFO,
    {},
    META_CALL_TIMEOUT_MS,
  )) as ClusterInfoResponse;
}

/** Creates the table, then waits until every partition has a primary and a full replica set. */
export async function createHealthyTable(
  client: TalariaClient,
  table: { readonly name: string; readonly partitions: number; readonly replicas: number },
  timeoutMs: number,
): Promise<void> {
  await client.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: table.name, partitionCount: table.partitions, replicaCount: table.replicas },
    META_CALL_TIMEOUT_MS,
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await clusterInfo(client).catch(() => undefined);
    const parts = info?.partitions;
    if (parts !== undefined && parts.total >= table.partitions && parts.healthy === parts.total) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `table ${table.name} not healthy within ${timeoutMs} ms: ${JSON.stringify(parts)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
