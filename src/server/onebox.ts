/**
 * Runs a onebox: every process of the planned clusters as a child process of this one, each with
 * its own config file, data directory and log file under the onebox directory. Stops them all on
 * request (SIGTERM, then SIGKILL after a bound). Restarting with the same directory keeps the data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TalariaError } from "../common/errors.ts";
import { renderConfig } from "../config/index.ts";
import { type ClusterInfoResponse, MetaMethod } from "../protocol/index.ts";
import { RpcClient } from "../rpc/index.ts";
import type { OneboxCluster, OneboxProcess } from "./onebox-plan.ts";

const BIN = fileURLToPath(new URL("../../bin/talaria", import.meta.url));
export const ONEBOX_READY_TIMEOUT_MS = 60_000;
export const ONEBOX_STOP_TIMEOUT_MS = 10_000;

export interface RunningOnebox {
  readonly clusters: readonly OneboxCluster[];
  /** Resolves when every process has exited. */
  stop(): Promise<void>;
  /** Kills one process with SIGKILL (tests). */
  kill(cluster: string, name: string): void;
  /** Starts a killed process again (tests). */
  restart(cluster: string, name: string): void;
  /** The operating-system pid of a running process (benchmarks sample its CPU time). */
  pid(cluster: string, name: string): number | undefined;
}

export function writeOneboxConfigs(clusters: readonly OneboxCluster[]): void {
  for (const cluster of clusters) {
    for (const process of cluster.processes) {
      mkdirSync(process.dir, { recursive: true });
      writeFileSync(process.configFile, renderConfig(process.config));
    }
  }
}

function launch(process: OneboxProcess): ChildProcess {
  const log = openSync(join(process.dir, "talaria.log"), "a");
  return spawn(globalThis.process.execPath, [BIN, process.role, "--config", process.configFile], {
    stdio: ["ignore", log, log],
    env: { ...globalThis.process.env },
  });
}

/** Waits until every cluster's meta server leads and sees all its replica servers alive. */
async function waitReady(clusters: readonly OneboxCluster[], timeoutMs: number): Promise<void> {
  const rpc = new RpcClient({ name: "onebox" });
  const deadline = Date.now() + timeoutMs;
  try {
    for (const cluster of clusters) {
      const replicas = cluster.processes.filter((p) => p.role === "replica").length;
      for (;;) {
        try {
          const info = (await rpc.call(
            cluster.metaAddress,
            MetaMethod.CLUSTER_INFO,
            {},
            { timeoutMs: 1000 },
          )) as ClusterInfoResponse;
          if (info.nodes.alive >= replicas) break;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) {
          throw new TalariaError(
            "ERR_TIMEOUT",
            `cluster ${cluster.name} not ready within ${timeoutMs} ms; see the talaria.log files`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    await rpc.close();
  }
}

export async function startOnebox(
  clusters: readonly OneboxCluster[],
  options: {
    readonly readyTimeoutMs?: number;
    readonly onExit?: (process: OneboxProcess, code: number | null, signal: string | null) => void;
  } = {},
): Promise<RunningOnebox> {
  writeOneboxConfigs(clusters);
  const children = new Map<
    string,
    { process: OneboxProcess; child: ChildProcess; exited: Promise<void> }
  >();
  let stopping = false;
  const start = (process: OneboxProcess) => {
    const child = launch(process);
    const exited = new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        if (!stopping) options.onExit?.(process, code, signal);
        resolve();
      }),
    );
    children.set(`${process.cluster}/${process.name}`, { process, child, exited });
  };
  for (const cluster of clusters) for (const process of cluster.processes) start(process);
  const onebox: RunningOnebox = {
    clusters,
    async stop() {
      stopping = true;
      for (const { child } of children.values()) child.kill("SIGTERM");
      const all = Promise.all([...children.values()].map((c) => c.exited));
      const timer = setTimeout(() => {
        for (const { child } of children.values()) child.kill("SIGKILL");
      }, ONEBOX_STOP_TIMEOUT_MS);
      await all;
      clearTimeout(timer);
    },
    kill(cluster, name) {
      children.get(`${cluster}/${name}`)?.child.kill("SIGKILL");
    },
    restart(cluster, name) {
      const entry = children.get(`${cluster}/${name}`);
      if (entry !== undefined) start(entry.process);
    },
    pid(cluster, name) {
      return children.get(`${cluster}/${name}`)?.child.pid;
    },
  };
  try {
    await waitReady(clusters, options.readyTimeoutMs ?? ONEBOX_READY_TIMEOUT_MS);
  } catch (error) {
    await onebox.stop();
    throw error;
  }
  return onebox;
}
