/**
 * bench:fullsync --e2e: the whole `add_dup -s` between two onebox clusters (separate processes,
 * 1 meta server + 3 replica servers each, on this machine): fill a table on alpha through the
 * client (multiSet of 60 KiB values), add a full duplication to beta, and time DS_PREPARE
 * (source checkpoints), DS_APP (follower primaries copy them; the follower copy rate limit is off)
 * and the whole add → DS_LOG. The copy rate is the bytes the follower primaries copied
 * (`talaria_dup_follower_copy_bytes_total` summed over beta's servers) over the DS_APP time; the
 * anchor is `cp -r` of the same bytes (the copies installed on beta) in the same run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createClient, type TalariaClient } from "../src/client/index.ts";
import {
  DuplicationMethod,
  type QueryDuplicationResponse,
} from "../src/protocol/duplication-messages.ts";
import { MetaMethod } from "../src/protocol/index.ts";
import { startOnebox } from "../src/server/onebox.ts";
import { type OneboxCluster, planOnebox, withReplication } from "../src/server/onebox-plan.ts";

const MiB = 1024 * 1024;
const VALUE_BYTES = 60 * 1024;
const VALUES_PER_WRITE = 16;
const WRITES_IN_FLIGHT = 8;
const TABLE = "fullsync";

export interface E2eResult {
  readonly partitions: number;
  readonly valueBytes: number;
  readonly fillSeconds: number;
  readonly prepareSeconds: number;
  readonly copySeconds: number;
  readonly totalSeconds: number;
  readonly copiedBytes: number;
  /** From the first follower copy's start to the last one's install (beta's replica logs). */
  readonly followerCopySpanSeconds: number;
  /** Each follower copy's own time (its "installed" log line). */
  readonly followerCopySeconds: readonly number[];
  readonly cpSeconds: number;
  readonly cpBytes: number;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 1000 * Math.floor(Math.random() * 20);
    const plan = planOnebox({ dir: "/unused", clusters: 2, replicas: 3, basePort: base });
    const ports = plan.flatMap((c) =>
      c.processes.flatMap((p) => [Number(p.address.split(":")[1]), p.httpPort]),
    );
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error("no free port range for two oneboxes");
}

/** The onebox plan with the follower copy's rate limit off on every server. */
function unlimited(plan: OneboxCluster[]): OneboxCluster[] {
  return withReplication(plan, undefined, { dupCheckpointCopyRateMb: 0 });
}

async function fill(client: TalariaClient, bytes: number): Promise<void> {
  const base = Buffer.alloc(VALUE_BYTES);
  for (let i = 0; i < base.length; i++) base[i] = (i * 2_654_435_761) >>> 24;
  let next = 0;
  const writes = Math.ceil(bytes / (VALUE_BYTES * VALUES_PER_WRITE));
  const writer = async () => {
    for (let n = next++; n < writes; n = next++) {
      const kvs = Array.from({ length: VALUES_PER_WRITE }, (_, i) => {
        const value = Buffer.from(base);
        value.writeUInt32BE(n, 0);
        value.writeUInt32BE(i, 4);
        return [Buffer.from(`s${i}`), value] as const;
      });
      await client
        .table(TABLE)
        .multiSet(`h${n.toString().padStart(8, "0")}`, kvs, { timeoutMs: 60_000 });
    }
  };
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT }, writer));
}

/** The "follower copy installed" lines of beta's replica servers: each copy's start and end. */
function followerCopies(
  logs: readonly string[],
): { startMs: number; endMs: number; seconds: number }[] {
  const out: { startMs: number; endMs: number; seconds: number }[] = [];
  for (const path of logs) {
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (!line.includes("follower copy installed")) continue;
      const entry = JSON.parse(line) as { time: number; seconds: number };
      out.push({
        startMs: entry.time - entry.seconds * 1000,
        endMs: entry.time,
        seconds: entry.seconds,
      });
    }
  }
  return out;
}

async function metricSum(httpPorts: readonly number[], name: string): Promise<number> {
  let sum = 0;
  for (const port of httpPorts) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
        sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

export async function runE2e(
  dir: string,
  mb: number,
  partitions: number,
  log: (line: string) => void,
): Promise<E2eResult> {
  const plan = unlimited(planOnebox({ dir, clusters: 2, replicas: 3, basePort: await freeBase() }));
  const onebox = await startOnebox(plan, { readyTimeoutMs: 120_000 });
  const [alphaPlan, betaPlan] = plan;
  if (alphaPlan === undefined || betaPlan === undefined) throw new Error("two clusters planned");
  const alpha = createClient({ metaServers: [alphaPlan.metaAddress], timeoutMs: 60_000 });
  try {
    await alpha.metaSession.call(
      MetaMethod.CREATE_APP,
      { appName: TABLE, partitionCount: partitions, replicaCount: 3 },
      30_000,
    );
    const fillStartMs = performance.now();
    await fill(alpha, mb * MiB);
    const fillSeconds = (performance.now() - fillStartMs) / 1000;
    log(`e2e: alpha filled with ${mb} MiB in ${fillSeconds.toFixed(1)} s`);
    // Untimed: the fill's dirty pages (three replicas' logs and stores, ≈ 6× the table) are
    // written back now, not while the duplication runs (the copy would compete with them).
    const syncStartMs = performance.now();
    spawnSync("sync");
    log(`e2e: sync after the fill: ${((performance.now() - syncStartMs) / 1000).toFixed(1)} s`);

    const addStartMs = performance.now();
    await alpha.metaSession.call(
      DuplicationMethod.ADD,
      {
        appName: TABLE,
        remoteClusterName: betaPlan.name,
        isDuplicatingCheckpoint: true,
        waitMs: 0,
      },
      60_000,
    );
    let appStartMs: number | undefined;
    let status = "";
    for (;;) {
      const query = (await alpha.metaSession.call(
        DuplicationMethod.QUERY,
        { appName: TABLE },
        30_000,
      )) as QueryDuplicationResponse;
      const now = query.duplications[0]?.status ?? "";
      if (now !== status)
        log(`e2e: ${now} after ${((performance.now() - addStartMs) / 1000).toFixed(1)} s`);
      status = now;
      if (status === "DS_APP") appStartMs ??= performance.now();
      if (status === "DS_LOG" || status === "DS_PAUSE") break;
      if (performance.now() - addStartMs > 30 * 60_000) throw new Error("no DS_LOG within 30 min");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const endMs = performance.now();
    const betaHttp = betaPlan.processes.filter((p) => p.role === "replica").map((p) => p.httpPort);
    const copiedBytes = await metricSum(betaHttp, "talaria_dup_follower_copy_bytes_total");
    const copies = followerCopies(
      betaPlan.processes.filter((p) => p.role === "replica").map((p) => join(p.dir, "talaria.log")),
    );
    const followerCopySpanSeconds =
      copies.length === 0
        ? Number.NaN
        : (Math.max(...copies.map((c) => c.endMs)) - Math.min(...copies.map((c) => c.startMs))) /
          1000;
    // The anchor: cp of the same bytes, the copies now installed on beta's primaries.
    const installed = betaPlan.processes
      .filter((p) => p.role === "replica")
      .flatMap((p) => {
        const root = join(p.dir, "data");
        return readdirSync(root)
          .map((gpid) => join(root, gpid, "data", "data.mdb"))
          .filter((path) => existsSync(path));
      });
    let cpBytes = 0;
    let cpSeconds = 0;
    for (const [i, path] of installed.entries()) {
      const target = join(dir, `cp-${i}`);
      const cpStartMs = performance.now();
      // A secondary that installs its own checkpoint meanwhile removes its old files: skip them.
      if (spawnSync("cp", [path, target]).status !== 0) {
        if (existsSync(path)) throw new Error(`cp ${path} failed`);
        continue;
      }
      cpSeconds += (performance.now() - cpStartMs) / 1000;
      cpBytes += statSync(target).size;
      rmSync(target);
    }
    return {
      partitions,
      valueBytes: mb * MiB,
      fillSeconds,
      prepareSeconds: ((appStartMs ?? endMs) - addStartMs) / 1000,
      copySeconds: (endMs - (appStartMs ?? addStartMs)) / 1000,
      totalSeconds: (endMs - addStartMs) / 1000,
      copiedBytes,
      followerCopySpanSeconds,
      followerCopySeconds: copies.map((c) => c.seconds),
      cpSeconds,
      cpBytes,
    };
  } finally {
    await alpha.close();
    await onebox.stop();
  }
}
