/**
 * Helpers for storage engine tests: temp environments, mutation builders and raw reads of the
 * "data" database (reads go through the raw handle, not the read module).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeKey } from "../../src/codec/key-schema.ts";
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  type Mutation,
  type Update,
  UpdateKind,
} from "../../src/codec/mutation.ts";
import { decodeValue, type StoredValue } from "../../src/codec/value-schema.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { StorageEngine, type StorageEngineOptions } from "../../src/storage/engine.ts";
import type { ApplyContext } from "../../src/storage/types.ts";

/** 2023-11-14T22:13:20Z: any fixed time after 2016 works. */
export const START_US = 1_700_000_000_000_000;

export const LOCAL: ApplyContext = { clusterId: 1, keepTombstones: true };
export const LOCAL_NO_TOMBSTONES: ApplyContext = { clusterId: 1, keepTombstones: false };

export const b = (text: string): Buffer => Buffer.from(text, "utf8");

/** Runs `body` with a fresh temp directory, removed afterwards even on failure. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "talaria-storage-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function openEngine(
  path: string,
  clock: ManualClock,
  extra: Partial<Omit<StorageEngineOptions, "path" | "clock">> = {},
): Promise<StorageEngine> {
  return StorageEngine.open({ path, clock, ...extra });
}

/**
 * Edits the "meta" database of the closed environment at `path` directly (an environment written
 * by another build): `value` undefined removes `key`.
 */
export async function editStoredMeta(path: string, key: string, value?: Buffer): Promise<void> {
  const { open } = await import("lmdb");
  const root = open({ path, maxDbs: 4 });
  try {
    const meta = root.openDB<Buffer, Buffer>({
      name: "meta",
      keyEncoding: "binary",
      encoding: "binary",
    });
    if (value === undefined) await meta.remove(Buffer.from(key));
    else await meta.put(Buffer.from(key), value);
  } finally {
    await root.close();
  }
}

/** A fresh engine in a temp dir with a manual clock; closed and removed afterwards. */
export async function withEngine<T>(
  body: (engine: StorageEngine, clock: ManualClock, dir: string) => Promise<T>,
  extra: Partial<Omit<StorageEngineOptions, "path" | "clock">> = {},
): Promise<T> {
  return withTempDir(async (dir) => {
    const clock = new ManualClock(START_US);
    const engine = await openEngine(join(dir, "env"), clock, extra);
    try {
      return await body(engine, clock, dir);
    } finally {
      await engine.close();
    }
  });
}

export function put(
  hashKey: string,
  sortKey: string,
  value: string,
  expireTs = 0,
): DuplicableUpdate {
  return {
    kind: UpdateKind.PUT,
    hashKey: b(hashKey),
    sortKey: b(sortKey),
    value: b(value),
    expireTs,
  };
}

export function remove(hashKey: string, sortKey: string): DuplicableUpdate {
  return { kind: UpdateKind.REMOVE, hashKey: b(hashKey), sortKey: b(sortKey) };
}

export function multiPut(
  hashKey: string,
  kvs: readonly [string, string][],
  expireTs = 0,
): DuplicableUpdate {
  return {
    kind: UpdateKind.MULTI_PUT,
    hashKey: b(hashKey),
    kvs: kvs.map(([sortKey, value]) => ({ sortKey: b(sortKey), value: b(value) })),
    expireTs,
  };
}

export function multiRemove(hashKey: string, sortKeys: readonly string[]): DuplicableUpdate {
  return { kind: UpdateKind.MULTI_REMOVE, hashKey: b(hashKey), sortKeys: sortKeys.map(b) };
}

export function entry(
  timestampUs: number,
  clusterId: number,
  update: DuplicableUpdate,
): DuplicateEntry {
  return { timestampUs, clusterId, update };
}

export function duplicate(...entries: DuplicateEntry[]): Update {
  return { kind: UpdateKind.DUPLICATE, entries };
}

export const EMPTY: Update = { kind: UpdateKind.EMPTY };

/** Mutation `decree` stamped `START_US + decree` µs unless told otherwise. */
export function mutation(
  decree: number,
  updates: readonly Update[],
  timestampUs?: number,
): Mutation {
  return { ballot: 1, decree, timestampUs: timestampUs ?? START_US + decree, updates };
}

export function readRecord(
  engine: StorageEngine,
  hashKey: string,
  sortKey: string,
): StoredValue | undefined {
  const stored = engine.data.get(encodeKey(b(hashKey), b(sortKey)));
  return stored === undefined ? undefined : decodeValue(stored);
}

/** The whole "data" database as [key hex, value hex] pairs in key order. */
export function dumpData(engine: StorageEngine): [string, string][] {
  return [...engine.data.getRange({})].map(({ key, value }) => [
    Buffer.from(key).toString("hex"),
    Buffer.from(value).toString("hex"),
  ]);
}
