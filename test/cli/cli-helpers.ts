/**
 * Fixtures for CLI tests: a plog of known mutations in a temp directory, and in-memory streams to
 * run the CLI in-process.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { runCli } from "../../src/cli/program.ts";
import { encodeMutation, type Mutation, type Update, UpdateKind } from "../../src/codec/index.ts";
import { PrivateLog } from "../../src/plog/index.ts";

/** 2026-11-21T14:00:00Z in µs. */
export const T0_US = Date.UTC(2026, 10, 21, 14) * 1000;

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "talaria-cli-"));
  try {
    return await run(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export const put = (hashKey: string, sortKey: string, value: string | Buffer): Update => ({
  kind: UpdateKind.PUT,
  hashKey: Buffer.from(hashKey),
  sortKey: Buffer.from(sortKey),
  value: typeof value === "string" ? Buffer.from(value) : value,
  expireTs: 0,
});

export function mutation(decree: number, updates: readonly Update[], ballot = 1): Mutation {
  return { ballot, decree, timestampUs: T0_US + (decree - 1) * 1000, updates };
}

/** Writes the given payloads (a Mutation is encoded, a Buffer written as is) at their decrees. */
export async function writeLog(
  dir: string,
  records: readonly { decree: number; payload: Mutation | Buffer }[],
  segmentBytesMax = 32 * 1024 * 1024,
): Promise<void> {
  const log = await PrivateLog.open({ dir, fsync: false, segmentBytesMax });
  for (const { decree, payload } of records) {
    await log.append(decree, Buffer.isBuffer(payload) ? payload : encodeMutation(payload));
  }
  await log.close();
}

/** decrees from..to, each one PUT of `user<d>` / `name` = `value<d>`. */
export function putRecords(from: number, to: number): { decree: number; payload: Mutation }[] {
  const records: { decree: number; payload: Mutation }[] = [];
  for (let d = from; d <= to; d++) {
    records.push({ decree: d, payload: mutation(d, [put(`user${d}`, "name", `value${d}`)]) });
  }
  return records;
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: string[];
}

/** Runs the CLI in-process, as `talaria ...argv`. */
export async function cli(...argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: sink(out), stderr: sink(err) });
  const stdout = out.join("");
  return { code, stdout, stderr: err.join(""), lines: stdout.split("\n").filter((l) => l !== "") };
}

/** Name, size and content hash of every file in `dir`. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of (await fs.readdir(dir)).sort()) {
    const data = await fs.readFile(path.join(dir, name));
    entries[name] = `${data.length} ${createHash("sha256").update(data).digest("hex")}`;
  }
  return entries;
}
