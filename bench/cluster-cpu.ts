/**
 * What the bench reads from outside its own process while a phase runs: CPU time of each server
 * process from /proc/<pid>/stat, and the replica servers' plog and write counters from their
 * Prometheus /metrics. Readings are cumulative; a phase reports the difference of two of them.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/<pid>/stat (100 on Linux almost always). */
function clockTicksPerSec(): number {
  const result = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number(result.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
}

const CLOCK_TICKS_PER_SEC = clockTicksPerSec();

export interface ProcessCpu {
  readonly userSeconds: number;
  readonly systemSeconds: number;
}

/** User and system CPU seconds `pid` has used so far; NaN when it is gone or /proc is absent. */
export function processCpu(pid: number): ProcessCpu {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return { userSeconds: NaN, systemSeconds: NaN };
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  // After it: field 3 (state) is index 0, so utime (field 14) is index 11 and stime index 12.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    userSeconds: Number(fields[11]) / CLOCK_TICKS_PER_SEC,
    systemSeconds: Number(fields[12]) / CLOCK_TICKS_PER_SEC,
  };
}

/** CPU seconds of this (the bench) process so far. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Counters summed over every replica server (and every partition on it). */
export interface ReplicaCounters {
  readonly plogAppendedRecords: number;
  readonly plogFsyncs: number;
  /** Writes the primaries answered, and the seconds they took from receipt to answer. */
  readonly primaryWrites: number;
  readonly primaryWriteSeconds: number;
}

const SCRAPE_TIMEOUT_MS = 5000;

/** Sum of every sample of `name` (any labels) in a Prometheus text exposition. */
function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const next = line.charAt(name.length);
    if (next !== "{" && next !== " ") continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** Scrapes every replica server's /metrics on 127.0.0.1; NaN figures when one does not answer. */
export async function scrapeReplicaCounters(
  httpPorts: readonly number[],
): Promise<ReplicaCounters> {
  const texts = await Promise.all(
    httpPorts.map(async (port) => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
          signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS),
        });
        return response.ok ? await response.text() : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  const sum = (name: string) =>
    texts.reduce<number>(
      (total, text) => total + (text === undefined ? NaN : sumMetric(text, name)),
      0,
    );
  return {
    plogAppendedRecords: sum("talaria_plog_appended_records_total"),
    plogFsyncs: sum("talaria_plog_fsyncs_total"),
    primaryWrites: sum("talaria_replica_write_duration_seconds_count"),
    primaryWriteSeconds: sum("talaria_replica_write_duration_seconds_sum"),
  };
}
