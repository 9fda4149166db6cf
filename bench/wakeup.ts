/**
 * bench:wakeup — what one event-loop wake-up, one loopback round trip and one durable write cost
 * in CPU on this machine, at fixed low rates where every operation wakes a sleeping thread.
 *
 * The cluster benchmarks are CPU-bound on small shared VMs long before the disk or the network is
 * busy; their figures only make sense next to these. Each row runs one kind of operation at a
 * fixed rate for a few seconds in this process (nothing else runs in it) and reports the process
 * CPU (user + system, from process.cpuUsage) per operation, the timer wake-up that paces the
 * operations included. A plain `time.sleep` loop in python3, when python3 is installed, gives the
 * cost of a wake-up without Node.
 *
 *   npm run bench:wakeup [-- --seconds 5] [-- --no-doc]
 *
 * Bounded: about 1 minute with the defaults; the temporary directory is removed at the end.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { open as openLmdb } from "lmdb";
import { RpcClient, RpcServer } from "../src/rpc/index.ts";
import { machineInfo, markdownTable } from "./harness.ts";

const DOC_PATH = join(import.meta.dirname, "..", "docs", "benchmarks.md");
const SECONDS_MAX = 60;
const WARMUP_OPS = 200;
const SETTLE_MS = 3000;

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    "no-doc": { type: "boolean", default: false },
  },
});
const seconds = Number(args.seconds);
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > SECONDS_MAX) {
  process.stderr.write(`bench:wakeup: --seconds must be in (0, ${SECONDS_MAX}]\n`);
  process.exit(2);
}

/** One operation; resolves when it is done (the next one is paced by a timer). */
type Operation = () => Promise<void>;

interface Row {
  readonly name: string;
  readonly rate: number;
  readonly cpuUsPerOp: number;
  readonly systemShare: number;
}

/**
 * Runs `operation` `rate` times a second for `seconds`, one at a time, each started by a timer,
 * and returns the CPU of this process per operation.
 */
async function measure(name: string, rate: number, operation: Operation): Promise<Row> {
  for (let i = 0; i < WARMUP_OPS / 10; i++) await operation();
  const intervalMs = 1000 / rate;
  const start = process.cpuUsage();
  const startedAt = performance.now();
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      const elapsed = performance.now() - startedAt;
      if (elapsed >= seconds * 1000) {
        resolve();
        return;
      }
      operation().then(() => {
        done++;
        const due = startedAt + done * intervalMs;
        setTimeout(next, Math.max(0, due - performance.now()));
      }, reject);
    };
    next();
  });
  const used = process.cpuUsage(start);
  const total = used.user + used.system;
  return { name, rate, cpuUsPerOp: total / done, systemShare: used.system / total };
}

function pythonSleepUs(rate: number): number | undefined {
  const program = [
    "import resource, time",
    "r0 = resource.getrusage(resource.RUSAGE_SELF)",
    `n = int(${seconds} * ${rate})`,
    `for _ in range(n): time.sleep(${1 / rate})`,
    "r1 = resource.getrusage(resource.RUSAGE_SELF)",
    "print((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n * 1e6)",
  ].join("\n");
  const result = spawnSync("python3", ["-c", program], { encoding: "utf8", timeout: 120_000 });
  const value = Number(result.stdout?.trim());
  return result.status === 0 && Number.isFinite(value) ? value : undefined;
}

async function echoPair(): Promise<{ client: Socket; close: () => void }> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("data", (data) => socket.write(data));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  const client = connect(address.port, "127.0.0.1");
  client.setNoDelay(true);
  await new Promise<void>((resolve) => client.once("connect", resolve));
  return {
    client,
    close: () => {
      client.destroy();
      server.close();
    },
  };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const startLoad = loadavg();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  const dir = mkdtempSync(join(tmpdir(), "talaria-wakeup-"));
  const rows: Row[] = [];
  const python = [100, 1000].map((rate) => ({ rate, us: pythonSleepUs(rate) }));
  const rpcServer = new RpcServer({ name: "bench:wakeup" });
  rpcServer.handle("echo", async (payload) => payload);
  const rpc = new RpcClient({ name: "bench:wakeup" });
  const echo = await echoPair();
  const file = await openFile(join(dir, "log"), "w");
  const env = openLmdb({ path: join(dir, "lmdb") });
  const db = env.openDB<Buffer, Buffer>({
    name: "data",
    keyEncoding: "binary",
    encoding: "binary",
    compression: false,
  });
  try {
    await rpcServer.listen({ host: "127.0.0.1", port: 0 });
    // Let start-up work (lazy compilation, the first garbage collections) finish first.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    for (const rate of [100, 1000]) {
      rows.push(await measure("timer wake-up only", rate, async () => {}));
    }
    const frame = Buffer.alloc(200, 0xab);
    for (const rate of [100, 1000]) {
      rows.push(
        await measure("TCP echo round trip (net, both ends here)", rate, () => {
          const answered = new Promise<void>((resolve) =>
            echo.client.once("data", () => resolve()),
          );
          echo.client.write(frame);
          return answered;
        }),
      );
    }
    const payload = { gpid: { appId: 1, partitionIndex: 3 }, ballot: 5, decree: 1234, frame };
    for (const rate of [100, 1000]) {
      rows.push(
        await measure("Talaria RPC round trip (both ends here)", rate, async () => {
          await rpc.call(rpcServer.address, "echo", payload);
        }),
      );
    }
    let position = 0;
    rows.push(
      await measure("write 200 B + fdatasync (fs/promises)", 100, async () => {
        await file.write(frame, 0, frame.length, position);
        position += frame.length;
        await file.datasync();
      }),
    );
    let key = 0;
    const value = Buffer.alloc(100, 0xcd);
    rows.push(
      await measure("lmdb write transaction (async, durable: the apply path)", 100, async () => {
        await db.childTransaction(() => {
          db.putSync(Buffer.from(`key-${key++}`), value);
        });
      }),
    );
  } finally {
    echo.close();
    await rpc.close();
    await rpcServer.close();
    await file.close();
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const table = markdownTable(
    ["operation", "rate /s", "CPU µs per operation (timer wake-up included)", "system share"],
    [
      ...python.map((p) => [
        "python3 `time.sleep` loop (a wake-up without Node)",
        String(p.rate),
        p.us === undefined ? "– (no python3)" : p.us.toFixed(0),
        "–",
      ]),
      ...rows.map((r) => [
        r.name,
        String(r.rate),
        r.cpuUsPerOp.toFixed(0),
        `${(r.systemShare * 100).toFixed(0)} %`,
      ]),
    ],
  );
  const endLoad = loadavg();
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  const section = [
    `## bench:wakeup — ${date} UTC`,
    "",
    `Machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; load average (1/5/15 min) at start ${load(startLoad)}, at end ${load(endLoad)}.`,
    `Settings: each row ${seconds} s, one operation at a time, each started by a timer at the given rate; CPU of this process (user + system) per operation.`,
    "",
    table,
    "",
  ].join("\n");
  process.stdout.write(`${section}\n`);
  if (!args["no-doc"]) appendFileSync(DOC_PATH, `${section}\n`);
}

await main();
