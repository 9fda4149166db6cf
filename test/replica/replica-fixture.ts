import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { ManualClock } from "../../src/common/clock.ts";
import { Replica, type ReplicaOptions } from "../../src/replica/replica.ts";

/**
 * Decrees each open takes for itself: a replica becoming primary of a new ballot first logs one
 * EMPTY mutation (the replication core's activation gate), so a fresh replica's first write is
 * decree 2 and every reopen moves the decree on by one.
 */
export const ACTIVATION_DECREES = 1;

/** 2026-01-01T00:00:00Z in µs. */
export const T0_US = 1_767_225_600_000_000;

export const b = (s: string): Buffer => Buffer.from(s);

/** A fresh directory removed when the test file ends. */
export function tempDir(prefix = "talaria-replica-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestReplica {
  replica: Replica;
  clock: ManualClock;
  options: ReplicaOptions;
}

export async function openTestReplica(
  overrides: Partial<ReplicaOptions> = {},
): Promise<TestReplica> {
  const clock = (overrides.clock as ManualClock | undefined) ?? new ManualClock(T0_US);
  const options: ReplicaOptions = {
    dir: tempDir(),
    clusterId: 1,
    clock,
    plogFsync: false,
    sweepIntervalMs: 0,
    ...overrides,
  };
  return { replica: await Replica.open(options), clock, options };
}

export function set(hashKey: string, sortKey: string, value: string, expireTs = 0) {
  return {
    op: "set",
    hashKey: b(hashKey),
    sortKey: b(sortKey),
    value: b(value),
    expireTs,
  } as const;
}
