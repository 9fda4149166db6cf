/**
 * The MariaDB anchor of bench:dup (spec/benchmarks.md: "MariaDB binlog replication side by
 * side"): a MariaDB primary and one asynchronous binlog replica, each its own `mariadbd` process
 * on 127.0.0.1 with its own data directory under the bench's, driven by the same open-loop writer
 * and lag prober as Talaria's rate phases, on the same machine in the same run.
 *
 * Both servers commit durably (`innodb_flush_log_at_trx_commit = 1`; the primary also
 * `sync_binlog = 1`, row-based binlog), as Talaria does. The replica applies with 4 parallel
 * workers in optimistic mode (`slave_parallel_threads = 4`), as one would run a replica that must
 * keep up; with MariaDB's default of a single applier thread, each applied transaction waits for
 * its own fsync. The replica connects to the primary directly, not through the fault proxy, so the
 * anchor runs only at 0 ms. Writes are `INSERT … ON DUPLICATE KEY UPDATE` of the same keys and
 * values as Talaria's, over a pool of connections; lag probes are primary-key SELECTs on the
 * replica.
 *
 * Needs `mariadbd` and `mariadb-install-db` (Debian: `apt-get install mariadb-server`); without
 * them bench:dup says so and runs without the anchor.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { delimiter, join } from "node:path";
import { createConnection, createPool, type Pool } from "mariadb";
import { ownCpuSeconds, processCpu } from "./cluster-cpu.ts";
import type { KvReader, KvWriter, LagResult, WriterResult } from "./dup-load.ts";
import { PROBE_LAST_POLLS_MS, probedLoad } from "./dup-phases.ts";

const INSTALL_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 200;
const STOP_TIMEOUT_MS = 30_000;
const CATCH_UP_TIMEOUT_S = 15;
/** Connections the writer's pool opens to the primary: enough for group commit to fill up. */
const WRITER_CONNECTIONS = 64;
const READER_CONNECTIONS = 16;
const REPLICA_PARALLEL_THREADS = 4;
const BENCH_USER = "bench";
const BENCH_PASSWORD = "bench";
const DATABASE = "bench";

const UPSERT = "INSERT INTO kv (hk, sk, v) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)";
const SELECT = "SELECT v FROM kv WHERE hk = ? AND sk = ?";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Binaries {
  readonly server: string;
  readonly installDb: string;
}

/** `mariadbd` and `mariadb-install-db` on PATH or in /usr/sbin, or why not. */
export function findMariaDb(): Binaries | string {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"];
  const find = (name: string) =>
    dirs.map((d) => join(d, name)).find((p) => p !== name && existsSync(p));
  const server = find("mariadbd");
  const installDb = find("mariadb-install-db");
  if (server === undefined || installDb === undefined) {
    return "mariadbd or mariadb-install-db not found (Debian: apt-get install mariadb-server)";
  }
  return { server, installDb };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One mariadbd with its data directory, reachable by socket (as the OS user) and by TCP. */
class MariaDbServer {
  readonly port: number;
  readonly socket: string;
  private readonly child: ChildProcess;
  private readonly errorLog: string;

  private constructor(child: ChildProcess, port: number, socket: string, errorLog: string) {
    this.child = child;
    this.port = port;
    this.socket = socket;
    this.errorLog = errorLog;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(
    bin: Binaries,
    dir: string,
    serverId: number,
    extraArgs: readonly string[],
  ): Promise<MariaDbServer> {
    mkdirSync(dir, { recursive: true });
    const dataDir = join(dir, "data");
    const user = userInfo().username;
    const installed = spawnSync(
      bin.installDb,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        `--user=${user}`,
        "--auth-root-authentication-method=socket",
        `--auth-root-socket-user=${user}`,
        "--skip-test-db",
      ],
      { encoding: "utf8", timeout: INSTALL_TIMEOUT_MS },
    );
    if (installed.status !== 0) {
      const output = `${installed.stdout ?? ""}${installed.stderr ?? ""}`.trim().split("\n");
      throw new Error(
        `mariadb-install-db failed (${installed.status ?? installed.signal}): ${output.slice(-5).join(" | ")}`,
      );
    }
    const port = await freePort();
    const socket = join(dir, "mariadbd.sock");
    const errorLog = join(dir, "error.log");
    const child = spawn(
      bin.server,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--socket=${socket}`,
        `--pid-file=${join(dir, "mariadbd.pid")}`,
        `--log-error=${errorLog}`,
        ...(process.getuid?.() === 0 ? ["--user=root"] : []),
        `--server-id=${serverId}`,
        "--skip-name-resolve",
        "--innodb-flush-log-at-trx-commit=1",
        "--innodb-buffer-pool-size=256M",
        "--max-connections=500",
        ...extraArgs,
      ],
      { stdio: "ignore" },
    );
    const server = new MariaDbServer(child, port, socket, errorLog);
    const deadline = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`mariadbd exited at start: ${server.errorTail()}`);
      }
      try {
        await server.sql("SELECT 1");
        return server;
      } catch (error) {
        if (performance.now() > deadline) {
          await server.stop();
          throw new Error(
            `mariadbd not ready in ${READY_TIMEOUT_MS} ms (${String(error)}): ${server.errorTail()}`,
          );
        }
        await sleep(READY_POLL_MS);
      }
    }
  }

  /** Runs statements over the socket as the OS user (administration, not measured). */
  async sql(...statements: readonly string[]): Promise<unknown[]> {
    const connection = await createConnection({
      socketPath: this.socket,
      user: userInfo().username,
      connectTimeout: 2000,
    });
    try {
      const results: unknown[] = [];
      for (const statement of statements) results.push(await connection.query(statement));
      return results;
    } finally {
      await connection.end();
    }
  }

  pool(connectionLimit: number): Pool {
    return createPool({
      host: "127.0.0.1",
      port: this.port,
      user: BENCH_USER,
      password: BENCH_PASSWORD,
      database: DATABASE,
      connectionLimit,
      acquireTimeout: 30_000,
    });
  }

  errorTail(): string {
    try {
      return readFileSync(this.errorLog, "utf8").trim().split("\n").slice(-5).join(" | ");
    } catch {
      return "(no error log)";
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** The first column of the first row of a query's result. */
function scalar(result: unknown): unknown {
  const row = Array.isArray(result)
    ? (result[0] as Record<string, unknown> | undefined)
    : undefined;
  return row === undefined ? undefined : Object.values(row)[0];
}

export interface MariaDbPair {
  readonly primary: KvWriter;
  readonly replica: KvReader;
  readonly pids: { readonly primary: number; readonly replica: number };
  /** Waits until the replica applied everything the primary had committed (bounded); true if so. */
  caughtUp(): Promise<boolean>;
  close(): Promise<void>;
}

/** Starts the primary and its replica under `dir`, the replica replicating, the table created. */
export async function startMariaDbPair(
  bin: Binaries,
  dir: string,
  onPid: (pid: number) => void,
): Promise<MariaDbPair> {
  const servers: MariaDbServer[] = [];
  const pools: Pool[] = [];
  const close = async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.stop()));
  };
  /** Kept for close(), and told to the caller at once (it kills them if it dies). */
  const started = (server: MariaDbServer) => {
    servers.push(server);
    if (server.pid !== undefined) onPid(server.pid);
    return server;
  };
  try {
    const primary = started(
      await MariaDbServer.start(bin, join(dir, "primary"), 1, [
        `--log-bin=${join(dir, "primary", "binlog")}`,
        "--binlog-format=ROW",
        "--sync-binlog=1",
      ]),
    );
    const replica = started(
      await MariaDbServer.start(bin, join(dir, "replica"), 2, [
        `--slave-parallel-threads=${REPLICA_PARALLEL_THREADS}`,
        "--slave-parallel-mode=optimistic",
      ]),
    );
    const createUser = [
      "SET sql_log_bin = 0",
      `CREATE USER '${BENCH_USER}'@'127.0.0.1' IDENTIFIED BY '${BENCH_PASSWORD}'`,
      `GRANT ALL ON *.* TO '${BENCH_USER}'@'127.0.0.1'`,
    ];
    await primary.sql(...createUser);
    await replica.sql(...createUser);
    await replica.sql(
      `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${primary.port}, MASTER_USER = '${BENCH_USER}', MASTER_PASSWORD = '${BENCH_PASSWORD}', MASTER_USE_GTID = slave_pos`,
      "START SLAVE",
    );
    await primary.sql(
      `CREATE DATABASE ${DATABASE}`,
      `CREATE TABLE ${DATABASE}.kv (hk VARBINARY(64) NOT NULL, sk VARBINARY(16) NOT NULL, v VARBINARY(255) NOT NULL, PRIMARY KEY (hk, sk)) ENGINE = InnoDB`,
    );
    const writerPool = primary.pool(WRITER_CONNECTIONS);
    const readerPool = replica.pool(READER_CONNECTIONS);
    pools.push(writerPool, readerPool);
    const caughtUp = async () => {
      const position = scalar((await primary.sql("SELECT @@gtid_binlog_pos AS p"))[0]);
      const waited = await replica.sql(
        `SELECT MASTER_GTID_WAIT('${String(position)}', ${CATCH_UP_TIMEOUT_S}) AS w`,
      );
      return Number(scalar(waited[0])) === 0;
    };
    if (!(await caughtUp())) {
      throw new Error(`the MariaDB replica did not replicate the table: ${replica.errorTail()}`);
    }
    return {
      primary: {
        set: (hashKey, sortKey, value) => writerPool.execute(UPSERT, [hashKey, sortKey, value]),
      },
      replica: {
        get: async (hashKey, sortKey) => {
          const rows: unknown = await readerPool.execute(SELECT, [hashKey, sortKey]);
          return Array.isArray(rows) && rows.length > 0 ? rows[0] : undefined;
        },
      },
      pids: { primary: primary.pid ?? 0, replica: replica.pid ?? 0 },
      caughtUp,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export interface MariaDbPhase {
  readonly label: string;
  readonly writes: WriterResult;
  readonly lag: LagResult;
  /** Whether the replica had applied everything within the bound after the window. */
  readonly caughtUp: boolean;
  /** CPU seconds per second of the primary, the replica, and the bench process. */
  readonly cpu: { readonly primary: number; readonly replica: number; readonly bench: number };
}

function cpuSeconds(pid: number): number {
  const c = processCpu(pid);
  return c.userSeconds + c.systemSeconds;
}

/** A rate phase against the pair: the same writer, probes and window as Talaria's. */
export async function runMariaDbRatePhase(
  pair: MariaDbPair,
  spec: { label: string; ratePerSec: number; windowMs: number; keyPrefix: string },
): Promise<MariaDbPhase> {
  await pair.caughtUp();
  const { writer, prober } = probedLoad(pair.primary, pair.replica, spec);
  const startMs = performance.now();
  const primaryBefore = cpuSeconds(pair.pids.primary);
  const replicaBefore = cpuSeconds(pair.pids.replica);
  const benchBefore = ownCpuSeconds();
  prober.start();
  writer.start();
  await sleep(spec.windowMs);
  const writes = await writer.stop();
  const seconds = (performance.now() - startMs) / 1000;
  const cpu = {
    primary: (cpuSeconds(pair.pids.primary) - primaryBefore) / seconds,
    replica: (cpuSeconds(pair.pids.replica) - replicaBefore) / seconds,
    bench: (ownCpuSeconds() - benchBefore) / seconds,
  };
  const caughtUp = await pair.caughtUp();
  // The last probes' gets: a few more poll rounds after the replica caught up.
  await sleep(PROBE_LAST_POLLS_MS);
  const lag = await prober.stop();
  return { label: spec.label, writes, lag, caughtUp, cpu };
}
