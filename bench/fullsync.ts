/**
 * bench:fullsync — full duplication's data copy: a follower primary pulling a real dup checkpoint
 * of a ~1 GiB table over loopback RPC and installing it, against `cp` of the same files on the
 * same machine in the same run.
 *
 * The master (bench/fullsync-master.ts, a child process) fills a real replica through multiSet,
 * makes a dup checkpoint of it (DupCheckpointStore → StorageEngine.checkpoint) and serves it with
 * the real OPEN / CHUNK handlers (DupCheckpointServer). This process runs the real follower side
 * (FollowerCopy: meta query, OPEN, the files streamed over the master's HTTP bulk path — or, with
 * `--transport chunk`, pipelined CHUNKs —, CRC32C per file, fsyncs and state file, install by
 * rename with the ballot reset) with the rate limit off, and times `cp -r` and
 * `cp -r && sync` of the checkpoint directory, and the disk's own durable write speed (the same
 * bytes from memory with `O_DIRECT`: the ceiling of any durable copy). Repetitions alternate
 * which goes first; the report gives medians and the median of the per-repetition ratios.
 *
 *   npm run bench:fullsync -- [--mb 1024] [--reps 3] [--transport http|chunk] [--chunk-kib N]
 *                             [--inflight N] [--writes N] [--sync-mb N] [--keep <dir>] [--no-doc]
 * (chunk, in-flight, writes and sync default to the follower copy's own defaults.)
 * `--keep` reuses the master's fill from an earlier run in that directory; `--no-doc` prints
 * without appending to docs/benchmarks.md.
 *
 *   npm run bench:fullsync -- --e2e [--mb 1024] [--partitions 4] [--no-doc]
 * runs the whole `add_dup -s` between two onebox clusters instead (bench/fullsync-e2e.ts).
 */
import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { freemem, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { ManualClock } from "../src/common/clock.ts";
import { silentLogger } from "../src/common/logger.ts";
import { alignedBuffers, openDirect } from "../src/replica-server/follower/direct-writes.ts";
import {
  CheckpointHttpClient,
  FollowerCopy,
  FollowerCopyMetrics,
  followerCopyDefaults,
  MasterClient,
  resolveFollowerCopyLimits,
  systemBucketDeps,
  TokenBucket,
} from "../src/replica-server/follower/index.ts";
import { RpcClient } from "../src/rpc/index.ts";
import { StorageEngine } from "../src/storage/index.ts";
import { runE2e } from "./fullsync-e2e.ts";
import { formatRatio, machineInfo, markdownTable, median } from "./harness.ts";

const MiB = 1024 * 1024;
const DOC_PATH = join(import.meta.dirname, "..", "docs", "benchmarks.md");

const { values: args } = parseArgs({
  options: {
    mb: { type: "string", default: "1024" },
    transport: { type: "string", default: "http" },
    reps: { type: "string", default: "3" },
    "chunk-kib": {
      type: "string",
      default: String(followerCopyDefaults.followerCopyChunkBytes / 1024),
    },
    inflight: { type: "string", default: String(followerCopyDefaults.followerCopyChunksInFlight) },
    writes: { type: "string", default: String(followerCopyDefaults.followerCopyWritesInFlight) },
    "sync-mb": {
      type: "string",
      default: String(followerCopyDefaults.followerCopyStateSyncBytes / MiB),
    },
    keep: { type: "string" },
    e2e: { type: "boolean", default: false },
    partitions: { type: "string", default: "4" },
    "no-doc": { type: "boolean", default: false },
  },
});
const reps = Number(args.reps);
if (args.transport !== "http" && args.transport !== "chunk") {
  throw new Error(`--transport must be http or chunk, not ${args.transport}`);
}
const overHttp = args.transport === "http";
const limits = resolveFollowerCopyLimits({
  followerCopyChunkBytes: Number(args["chunk-kib"]) * 1024,
  followerCopyChunksInFlight: Number(args.inflight),
  followerCopyWritesInFlight: Number(args.writes),
  followerCopyStateSyncBytes: Number(args["sync-mb"]) * MiB,
  followerCopyRetryDelayMsMin: 100,
  followerCopyRetryDelayMsMax: 1000,
});

const log = (line: string) => process.stderr.write(`${line}\n`);
const formatLoad = (load: number[]) => load.map((l) => l.toFixed(2)).join(" ");
const mibPerSec = (bytes: number, seconds: number) => bytes / MiB / seconds;
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const USER_HZ = 100;

/** CPU seconds (user + system) of process `pid`, or of the waited-for children of this one. */
function cpuSeconds(pid: number | "children"): number {
  const path = pid === "children" ? "/proc/self/stat" : `/proc/${pid}/stat`;
  const stat = readFileSync(path, "utf8");
  // Fields after the command name (which may contain spaces): state is field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const at = (field: number) => Number(fields[field - 3]);
  return pid === "children" ? (at(16) + at(17)) / USER_HZ : (at(14) + at(15)) / USER_HZ;
}

function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

interface MasterProcess {
  readonly address: string;
  readonly checkpointDir: string;
  readonly decree: number;
  readonly fill: { bytes: number; seconds: number; reused?: boolean };
  readonly checkpointSeconds: number;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startMaster(dir: string, mb: number): Promise<MasterProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, "fullsync-master.ts"),
      "--dir",
      dir,
      "--mb",
      String(mb),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout });
  let fill: MasterProcess["fill"] | undefined;
  for await (const line of lines) {
    const event = JSON.parse(line) as Record<string, unknown>;
    if (event.event === "filled") {
      fill = event as unknown as MasterProcess["fill"];
      log(
        `master filled ${((fill.bytes ?? 0) / MiB).toFixed(0)} MiB in ${fill.seconds.toFixed(1)} s${fill.reused ? " (reused)" : ""}`,
      );
    }
    if (event.event === "ready") {
      if (fill === undefined) throw new Error("master ready before filled");
      return {
        address: String(event.address),
        checkpointDir: String(event.checkpointDir),
        decree: Number(event.decree),
        fill,
        checkpointSeconds: Number(event.checkpointSeconds),
        pid: child.pid ?? 0,
        async stop() {
          child.stdin.end();
          await exited;
        },
      };
    }
  }
  throw new Error("the master process exited before it was ready");
}

interface Timed {
  readonly seconds: number;
  /** CPU seconds of the copying processes (cp; or follower and master). */
  readonly cpu: number;
  readonly masterCpu?: number;
}

function timeCommand(command: string, argv: readonly string[]): Timed {
  const cpuBefore = cpuSeconds("children");
  const startMs = performance.now();
  const result = spawnSync(command, argv, { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`${command} ${argv.join(" ")} failed`);
  return { seconds: (performance.now() - startMs) / 1000, cpu: cpuSeconds("children") - cpuBefore };
}

/**
 * Before a timed copy (untimed): writes back every dirty page, so no copy pays for the previous
 * one's (`cp -r` leaves its gigabyte dirty, and the next copy's writes then wait for its
 * write-back: the follower ran at 160–260 MiB/s right after a `cp -r`, 600–730 without), and
 * reads `source` once, so every copy starts from the page cache. Without that read the source
 * was found evicted after a follower copy (mechanism not found): `cp -r` then read the disk at
 * 460–565 MiB/s instead of copying at 2.9–3.1 GiB/s, and the ratio to it meant nothing.
 */
function settle(source?: string): void {
  spawnSync("sync", [], { stdio: "inherit" });
  if (source !== undefined) {
    const read = spawnSync("sh", ["-c", 'cat "$0"/* > /dev/null', source], { stdio: "inherit" });
    if (read.status !== 0) throw new Error(`reading ${source} failed`);
  }
}

/**
 * `cp -r` of the checkpoint directory (no fsync: the copy may still be in the page cache), from
 * a source in the page cache unless `cold` (the first copy after the checkpoint was written).
 */
function cpOnce(source: string, target: string, cold = false): Timed {
  rmSync(target, { recursive: true, force: true });
  settle(cold ? undefined : source);
  const seconds = timeCommand("cp", ["-r", source, target]);
  rmSync(target, { recursive: true, force: true });
  return seconds;
}

/** `cp -r` and `sync` of the copied files: durable, as the follower copy is. */
function cpSyncOnce(source: string, target: string): Timed {
  rmSync(target, { recursive: true, force: true });
  settle(source);
  const seconds = timeCommand("sh", ["-c", 'cp -r "$0" "$1" && sync "$1"/* "$1"', source, target]);
  rmSync(target, { recursive: true, force: true });
  return seconds;
}

/**
 * The disk's durable write speed, the ceiling of any durable copy: `bytes` written from memory
 * (no source to read, no socket) into a new file with `O_DIRECT`, in the follower's write size and
 * number of writes outstanding, then one fdatasync. Undefined where the file system refuses
 * `O_DIRECT`.
 */
async function diskWriteOnce(dir: string, bytes: number): Promise<Timed | undefined> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const size = limits.followerCopyHttpWriteBytes;
  const buffers = await alignedBuffers(dir, limits.followerCopyWritesInFlight, size);
  if (buffers === undefined) return undefined;
  for (const buffer of buffers) buffer.fill(0x5a);
  const path = join(dir, "ceiling.bin");
  writeFileSync(path, "");
  settle();
  const blocks = Math.ceil(bytes / size);
  const cpuBefore = ownCpuSeconds();
  const startMs = performance.now();
  const direct = await openDirect(path);
  if (direct === undefined) return undefined;
  try {
    let next = 0;
    await Promise.all(
      buffers.map(async (buffer) => {
        while (next < blocks) {
          const block = next++;
          await direct.write(buffer, 0, size, block * size);
        }
      }),
    );
    await direct.datasync();
  } finally {
    await direct.close();
  }
  const seconds = (performance.now() - startMs) / 1000;
  const cpu = ownCpuSeconds() - cpuBefore;
  rmSync(dir, { recursive: true, force: true });
  return { seconds: (seconds * bytes) / (blocks * size), cpu };
}

async function followerOnce(
  master: MasterProcess,
  transport: RpcClient,
  http: CheckpointHttpClient | undefined,
  dir: string,
): Promise<Timed & { bytes: number }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  settle(master.checkpointDir);
  const ref = { cluster: "master", metas: [master.address], appName: "fullsync_source" };
  const metrics = new FollowerCopyMetrics(new Registry());
  const copy = new FollowerCopy(
    { gpid: { appId: 2, partitionIndex: 0 }, dir, master: ref, partitionCount: 1 },
    {
      client: new MasterClient(ref, () => transport, limits.followerCopyCallTimeoutMs),
      ...(http === undefined ? {} : { http }),
      metrics,
      bucket: new TokenBucket(0, 1, systemBucketDeps),
      limits,
      logger: silentLogger,
      nowMs: () => performance.now(),
      sleep: (ms, signal) => systemBucketDeps.sleep(ms, signal),
    },
  );
  const cpuBefore = ownCpuSeconds();
  const masterCpuBefore = cpuSeconds(master.pid);
  const startMs = performance.now();
  const installed = await copy.run(new AbortController().signal);
  const seconds = (performance.now() - startMs) / 1000;
  const cpu = ownCpuSeconds() - cpuBefore;
  const masterCpu = cpuSeconds(master.pid) - masterCpuBefore;
  const fallbacks = (await metrics.httpFallbacks.get()).values[0]?.value ?? 0;
  if (fallbacks > 0) throw new Error(`the HTTP path fell back to CHUNK ${fallbacks} times`);
  // Outside the timing: the installed storage holds the master's decree.
  const engine = await StorageEngine.open({ path: join(dir, "data"), clock: new ManualClock(0) });
  const decree = engine.lastAppliedDecree;
  await engine.close();
  if (decree !== master.decree)
    throw new Error(`installed decree ${decree}, master ${master.decree}`);
  rmSync(dir, { recursive: true, force: true });
  return { seconds, cpu, masterCpu, bytes: installed.bytes };
}

async function main(): Promise<void> {
  const mb = Number(args.mb);
  const startLoad = loadavg();
  const machine = machineInfo();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  log(
    `bench:fullsync on ${machine.cpuModel}, nproc ${machine.nproc}, load ${formatLoad(startLoad)}`,
  );
  const root = args.keep ?? mkdtempSync(join(tmpdir(), "talaria-fullsync-"));
  mkdirSync(root, { recursive: true });
  const scratch = mkdtempSync(join(root, "scratch-"));
  const master = await startMaster(join(root, "master"), mb);
  const transport = new RpcClient({ name: "fullsync follower" });
  const http = overHttp ? new CheckpointHttpClient() : undefined;
  try {
    log(`checkpoint at decree ${master.decree} made in ${master.checkpointSeconds.toFixed(1)} s`);
    // The first read of the checkpoint's files after the master wrote them.
    const firstCp = cpOnce(master.checkpointDir, join(scratch, "cp"), true);
    // The master lists files with their CRC32C on the first OPEN (cached afterwards).
    const client = new MasterClient(
      { cluster: "master", metas: [master.address], appName: "fullsync_source" },
      () => transport,
      60_000,
    );
    const openStartMs = performance.now();
    const opened = await client.open(master.address, { appId: 1, partitionIndex: 0 }, 1000);
    const firstOpenSeconds = (performance.now() - openStartMs) / 1000;
    const bytes = opened.files.reduce((sum, f) => sum + f.bytes, 0);
    log(
      `checkpoint: ${opened.files.map((f) => `${f.name} ${(f.bytes / MiB).toFixed(1)} MiB`).join(", ")}; first OPEN ${firstOpenSeconds.toFixed(2)} s`,
    );
    const rows: { cp: Timed; cpSync: Timed; follower: Timed; disk: Timed | undefined }[] = [];
    for (let rep = 0; rep < reps; rep++) {
      let cp: Timed | undefined;
      let cpSync: Timed | undefined;
      let follower: Timed | undefined;
      let disk: Timed | undefined;
      const runCp = async () => {
        cp = cpOnce(master.checkpointDir, join(scratch, "cp"));
        cpSync = cpSyncOnce(master.checkpointDir, join(scratch, "cp"));
        disk = await diskWriteOnce(join(scratch, "disk"), bytes);
      };
      const runFollower = async () => {
        follower = await followerOnce(master, transport, http, join(scratch, "follower"));
      };
      if (rep % 2 === 0) {
        await runCp();
        await runFollower();
      } else {
        await runFollower();
        await runCp();
      }
      if (cp === undefined || cpSync === undefined || follower === undefined)
        throw new Error("lost a run");
      rows.push({ cp, cpSync, follower, disk });
      const diskNote =
        disk === undefined ? "" : `, disk write ${mibPerSec(bytes, disk.seconds).toFixed(0)} MiB/s`;
      log(
        `rep ${rep + 1}: cp ${mibPerSec(bytes, cp.seconds).toFixed(0)} MiB/s, cp+sync ${mibPerSec(bytes, cpSync.seconds).toFixed(0)} MiB/s${diskNote}, follower copy ${mibPerSec(bytes, follower.seconds).toFixed(0)} MiB/s (${follower.seconds.toFixed(2)} s; CPU follower ${follower.cpu.toFixed(2)} s, master ${(follower.masterCpu ?? 0).toFixed(2)} s)`,
      );
    }
    const endLoad = loadavg();
    const gib = bytes / 1024 ** 3;
    const med = (pick: (r: (typeof rows)[number]) => number) => median(rows.map(pick));
    const cpuPerGib = (pick: (r: (typeof rows)[number]) => number) => (med(pick) / gib).toFixed(2);
    const disks = rows.flatMap((r) => (r.disk === undefined ? [] : [r.disk]));
    const diskSeconds = disks.length === rows.length ? median(disks.map((d) => d.seconds)) : 0;
    const diskRows =
      diskSeconds === 0
        ? []
        : [
            [
              "the disk's durable write speed: the same bytes from memory, `O_DIRECT`, same write size and writes outstanding, + fdatasync (no copy can be durable faster)",
              mibPerSec(bytes, diskSeconds).toFixed(0),
              diskSeconds.toFixed(2),
              formatRatio(median(rows.map((r) => (r.disk?.seconds ?? 0) / r.follower.seconds))),
              (median(disks.map((d) => d.cpu)) / gib).toFixed(2),
            ],
          ];
    const table = markdownTable(
      [
        "copy",
        "MiB/s (median)",
        "seconds (median)",
        "follower copy ÷ this, speed (median of ratios)",
        "CPU s per GiB (median)",
      ],
      [
        [
          overHttp
            ? "follower copy: meta query + OPEN + files streamed over loopback HTTP + CRC32C + fsyncs + install"
            : "follower copy: meta query + OPEN + CHUNKs over loopback RPC + CRC32C + fsyncs + install",
          mibPerSec(
            bytes,
            med((r) => r.follower.seconds),
          ).toFixed(0),
          med((r) => r.follower.seconds).toFixed(2),
          "–",
          `follower ${cpuPerGib((r) => r.follower.cpu)} + master ${cpuPerGib((r) => r.follower.masterCpu ?? 0)}`,
        ],
        [
          "`cp -r` (page cache to page cache, no fsync)",
          mibPerSec(
            bytes,
            med((r) => r.cp.seconds),
          ).toFixed(0),
          med((r) => r.cp.seconds).toFixed(2),
          formatRatio(med((r) => r.cp.seconds / r.follower.seconds)),
          cpuPerGib((r) => r.cp.cpu),
        ],
        [
          "`cp -r && sync` (durable, as the follower copy is)",
          mibPerSec(
            bytes,
            med((r) => r.cpSync.seconds),
          ).toFixed(0),
          med((r) => r.cpSync.seconds).toFixed(2),
          formatRatio(med((r) => r.cpSync.seconds / r.follower.seconds)),
          cpuPerGib((r) => r.cpSync.cpu),
        ],
        [
          "first `cp -r` after the checkpoint was written (once, before any other read)",
          mibPerSec(bytes, firstCp.seconds).toFixed(0),
          firstCp.seconds.toFixed(2),
          formatRatio(firstCp.seconds / med((r) => r.follower.seconds)),
          (firstCp.cpu / gib).toFixed(2),
        ],
        ...diskRows,
      ],
    );
    const perRep = rows
      .map(
        (r, i) =>
          `${i + 1}: follower ${mibPerSec(bytes, r.follower.seconds).toFixed(0)}, cp ${mibPerSec(bytes, r.cp.seconds).toFixed(0)}, cp+sync ${mibPerSec(bytes, r.cpSync.seconds).toFixed(0)}${r.disk === undefined ? "" : `, disk write ${mibPerSec(bytes, r.disk.seconds).toFixed(0)}`}`,
      )
      .join("; ");
    // The goal (issue 5): the follower copy at least half as fast as `cp` of the same files.
    const cpHalf =
      mibPerSec(
        bytes,
        med((r) => r.cp.seconds),
      ) / 2;
    const followerSpeed = mibPerSec(
      bytes,
      med((r) => r.follower.seconds),
    );
    const cpRatio = med((r) => r.cp.seconds / r.follower.seconds);
    const diskSpeed = diskSeconds === 0 ? undefined : mibPerSec(bytes, diskSeconds);
    // `cp -r` into the page cache swings 5× within a run with the kernel's cost of getting pages
    // for it (its CPU, all system time, swings with it), so the goal is also judged against the
    // fastest `cp -r` of the run: the strict reading.
    const fastestCp = mibPerSec(bytes, Math.min(...rows.map((r) => r.cp.seconds)));
    const strictRatio = followerSpeed / fastestCp;
    const diskVerdict =
      diskSpeed === undefined
        ? ""
        : diskSpeed >= fastestCp / 2
          ? ` The disk took the same bytes durably at ${diskSpeed.toFixed(0)} MiB/s, above half of the fastest \`cp -r\`: a durable copy can reach it here.`
          : ` The disk took the same bytes durably at ${diskSpeed.toFixed(0)} MiB/s, below half of the fastest \`cp -r\`: no durable copy can reach it on this machine, since \`cp -r\` finishes in the page cache.`;
    const goalLines = [
      `Goal, follower copy ≥ 0.5× \`cp -r\`, judged by the median of the per-repetition ratios (each pair measured side by side): ${cpRatio >= 0.5 ? "met" : "not met"} (${formatRatio(cpRatio)}; median speeds: follower copy ${followerSpeed.toFixed(0)} MiB/s against half of \`cp -r\`, ${cpHalf.toFixed(0)} MiB/s). Judged against the fastest \`cp -r\` of the run (${fastestCp.toFixed(0)} MiB/s): ${strictRatio >= 0.5 ? "met" : "not met"} (${formatRatio(strictRatio)}).${diskVerdict}`,
      "",
    ];
    const section = [
      `## bench:fullsync — ${date} UTC`,
      "",
      `Machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB (${(freemem() / 1024 ** 3).toFixed(1)} GiB free at end), Node ${machine.node}, ${machine.platform}; load average (1/5/15 min) at start ${formatLoad(startLoad)}, at end ${formatLoad(endLoad)}.`,
      `Settings: master table filled with ${(master.fill.bytes / MiB).toFixed(0)} MiB of values (60 KiB values, 16 per multiSet${master.fill.reused ? "; fill reused from an earlier run" : `; fill took ${master.fill.seconds.toFixed(0)} s`}); dup checkpoint at decree ${master.decree}: ${opened.files.map((f) => `${f.name} ${(f.bytes / MiB).toFixed(1)} MiB`).join(", ")} (made in ${master.checkpointSeconds.toFixed(1)} s; the first OPEN, which lists the files with their CRC32C, took ${firstOpenSeconds.toFixed(2)} s and is not in the figures); follower copy: ${overHttp ? `HTTP bulk path, ${limits.followerCopyHttpWriteBytes / 1024} KiB writes,` : `chunks of ${limits.followerCopyChunkBytes / 1024} KiB, ${limits.followerCopyChunksInFlight} in flight,`} ${limits.followerCopyWritesInFlight} writes outstanding, state synced every ${limits.followerCopyStateSyncBytes / MiB} MiB, rate limit off; ${reps} repetitions alternating which copy goes first; before every timed copy (untimed) a \`sync\`, so none pays for the previous one's dirty pages, and a read of the checkpoint's files, so each (but the first \`cp -r\`) starts from the page cache.`,
      "",
      table,
      "",
      `Per repetition (MiB/s): ${perRep}.`,
      "",
      ...goalLines,
    ].join("\n");
    process.stdout.write(`${section}\n`);
    if (!args["no-doc"]) appendFileSync(DOC_PATH, `${section}\n`);
  } finally {
    http?.close();
    await transport.close();
    await master.stop();
    rmSync(scratch, { recursive: true, force: true });
    if (args.keep === undefined) rmSync(root, { recursive: true, force: true });
  }
}

async function mainE2e(): Promise<void> {
  const mb = Number(args.mb);
  const startLoad = loadavg();
  const machine = machineInfo();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  const root = mkdtempSync(join(tmpdir(), "talaria-fullsync-e2e-"));
  try {
    const r = await runE2e(root, mb, Number(args.partitions), log);
    const endLoad = loadavg();
    const copyMibPerSec = mibPerSec(r.copiedBytes, r.copySeconds);
    const cpMibPerSec = mibPerSec(r.cpBytes, r.cpSeconds);
    const table = markdownTable(
      ["phase", "seconds", "MiB/s"],
      [
        [
          "fill alpha through the client (3 replicas)",
          r.fillSeconds.toFixed(1),
          mibPerSec(r.valueBytes, r.fillSeconds).toFixed(0),
        ],
        [
          "add → DS_APP (source checkpoints, follower table created)",
          r.prepareSeconds.toFixed(1),
          "–",
        ],
        [
          `DS_APP → DS_LOG (follower primaries copy ${(r.copiedBytes / MiB).toFixed(0)} MiB)`,
          r.copySeconds.toFixed(1),
          copyMibPerSec.toFixed(0),
        ],
        [
          `of which the follower copies themselves (${r.followerCopySeconds.length} in parallel, first start → last install; each ${r.followerCopySeconds.map((x) => x.toFixed(1)).join(", ")} s)`,
          r.followerCopySpanSeconds.toFixed(1),
          mibPerSec(r.copiedBytes, r.followerCopySpanSeconds).toFixed(0),
        ],
        [
          "add → DS_LOG",
          r.totalSeconds.toFixed(1),
          mibPerSec(r.copiedBytes, r.totalSeconds).toFixed(0),
        ],
        [
          `\`cp\` of the installed copies (${(r.cpBytes / MiB).toFixed(0)} MiB, one file at a time)`,
          r.cpSeconds.toFixed(2),
          cpMibPerSec.toFixed(0),
        ],
      ],
    );
    const section = [
      `## bench:fullsync --e2e — ${date} UTC`,
      "",
      `Machine: ${machine.cpuModel}, nproc ${machine.nproc}, ${machine.memoryGiB} GiB (${(freemem() / 1024 ** 3).toFixed(1)} GiB free at end), Node ${machine.node}, ${machine.platform}; load average (1/5/15 min) at start ${formatLoad(startLoad)}, at end ${formatLoad(endLoad)}.`,
      `Settings: two onebox clusters (1 meta server + 3 replica servers each, separate processes); table of ${r.partitions} partitions × 3 replicas on alpha filled with ${mb} MiB of 60 KiB values, then a \`sync\` (untimed); \`add_dup -s\` to beta with the follower copy rate limit off; DS_APP time is from the first query that showed DS_APP to the first that showed DS_LOG (100 ms polling).`,
      "",
      table,
      "",
      `Follower copies ÷ cp: ${formatRatio(mibPerSec(r.copiedBytes, r.followerCopySpanSeconds) / cpMibPerSec)}; DS_APP ÷ cp: ${formatRatio(copyMibPerSec / cpMibPerSec)}. DS_APP also waits for one secondary per partition (a learner copying the checkpoint again inside beta) and for the source meta server to see it.`,
      "",
    ].join("\n");
    process.stdout.write(`${section}\n`);
    if (!args["no-doc"]) appendFileSync(DOC_PATH, `${section}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await (args.e2e ? mainE2e() : main());
