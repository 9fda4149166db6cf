/**
 * Opening a replica's lmdb environment and adapting its databases to the ports the cores use.
 *
 * On-disk layout: `<path>/data.mdb` (+ `<path>/lock.mdb` while open) holding two named databases,
 * "data" (stored key → stored value v1, see codec/key-schema and codec/value-schema) and "meta"
 * (see meta-store.ts). Both use raw binary keys and values: no lmdb-side encoding or compression,
 * so the bytes on disk are exactly the documented formats.
 */
import { type Database, open, type RootDatabase } from "lmdb";
import { assert } from "../common/assert.ts";
import { TalariaError } from "../common/errors.ts";
import { formatLimits } from "../common/limits.ts";

/**
 * Largest stored key (2 + hash key + sort key bytes) lmdb-js accepts with its default page-size
 * setting. Fixed here rather than read at runtime so the bound does not vary by machine.
 */
export const STORED_KEY_BYTES_MAX = formatLimits.storedKeyBytesMax;

/** "data" and "meta"; room for a few more without reopening with a larger table. */
const NAMED_DBS_MAX = 4;

export const LMDB_DATA_FILE = "data.mdb";
export const LMDB_LOCK_FILE = "lock.mdb";

export type BinaryDb = Database<Buffer, Buffer>;

export interface LmdbEnv {
  readonly root: RootDatabase;
  readonly data: BinaryDb;
  readonly meta: BinaryDb;
}

export function openLmdbEnv(path: string, options: { readOnly: boolean }): LmdbEnv {
  let root: RootDatabase;
  try {
    root = open({ path, maxDbs: NAMED_DBS_MAX, readOnly: options.readOnly });
  } catch (error) {
    throw new TalariaError("ERR_FILE_OPERATION_FAILED", `cannot open lmdb environment ${path}`, {
      details: { path },
      cause: error,
    });
  }
  const runtimeKeyMax = (root as unknown as { maxKeySize?: unknown }).maxKeySize;
  assert(
    typeof runtimeKeyMax === "number" && runtimeKeyMax >= STORED_KEY_BYTES_MAX,
    `lmdb max key size ${String(runtimeKeyMax)} below STORED_KEY_BYTES_MAX`,
  );
  const dbOptions = { keyEncoding: "binary", encoding: "binary", compression: false } as const;
  return {
    root,
    data: root.openDB<Buffer, Buffer>({ name: "data", ...dbOptions }),
    meta: root.openDB<Buffer, Buffer>({ name: "meta", ...dbOptions }),
  };
}

/** Whether the "data" database holds any record (an uninitialised env must hold none). */
export function isDataEmpty(data: BinaryDb): boolean {
  for (const _ of data.getKeys({ limit: 1 })) return false;
  return true;
}
