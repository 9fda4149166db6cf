/**
 * The persisted layout of the meta server's state in the meta store (embedded lmdb or ZooKeeper),
 * following Pegasus (`server_state`, notes §2.6). Values are UTF-8 JSON unless noted.
 *
 *   <root>/apps/<appId>                   AppInfo JSON + "v": 1 (status AVAILABLE or DROPPED)
 *   <root>/apps/<appId>/<partitionIndex>  PartitionConfiguration JSON + "v": 1
 *   <root>/next_app_id                    ASCII decimal: the id the next created table gets
 *   <root>/apps/<appId>/duplication/...   duplications: see duplication/layout.ts
 *   <root>/removed_apps/<appId>           RemovedApp JSON + "v": 1: a dropped table whose hold
 *                                         period ended, written before its app record is deleted
 *
 * `<root>` is `MetaCoreOptions.clusterRoot`. `appId` and `partitionIndex` are plain decimals
 * (`/talaria/apps/3/0`). Writes are absolute values (create-or-overwrite, delete-if-present), so
 * the runtime may repeat a write whose outcome it does not know. A change with more writes than
 * `persistWritesPerOpMax` is persisted in sequential parts; its writes are ordered so that any
 * prefix is harmless and the record that makes the change exist comes last (a table's app record
 * and `next_app_id` follow its partition records). Every record carries `"v": 1`;
 * a record with another version is refused on restore (reported, not guessed at).
 *
 * Invariants: `next_app_id` > every appId below `apps/` and `removed_apps/`; a table's partition
 * records are written in the same `multi` as its app record; app ids are never reused, so a record
 * of a removed table can never be mistaken for a record of a new one. A `removed_apps/` record is
 * the meta server's positive statement that no configuration can want the table's replicas back
 * (replica servers delete them on its word, docs/storage.md); it is written only for a dropped
 * table past its hold period, which can no longer be recalled.
 */
import { Buffer } from "node:buffer";
import type { AppInfo, PartitionConfiguration } from "../../protocol/index.ts";
import { AppStatus, isNodeAddress } from "../../protocol/index.ts";

export const layoutFormatVersion = 1;

/**
 * One meta-store write. `set` has the shape of the MetaStore port's `MetaOp`, so a list of them is
 * handed to `multi` as is. `deleteTree` is the idempotent removal of a node and its subtree
 * (`delete(path, { recursive: true })`, with a missing node counting as done); it is always the
 * only write of its persist action.
 */
export type MetaStoreWrite =
  /** Create the node (and missing ancestors) or overwrite its value. */
  | { readonly op: "set"; readonly path: string; readonly data: Buffer }
  | { readonly op: "deleteTree"; readonly path: string };

/** One node read back from the meta store at startup. */
export interface MetaRecord {
  readonly path: string;
  readonly value: Uint8Array;
}

export function appsPath(root: string): string {
  return `${root}/apps`;
}

export function appPath(root: string, appId: number): string {
  return `${root}/apps/${appId}`;
}

export function partitionPath(root: string, appId: number, partitionIndex: number): string {
  return `${root}/apps/${appId}/${partitionIndex}`;
}

export function removedAppsPath(root: string): string {
  return `${root}/removed_apps`;
}

export function removedAppPath(root: string, appId: number): string {
  return `${root}/removed_apps/${appId}`;
}

export function nextAppIdPath(root: string): string {
  return `${root}/next_app_id`;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeApp(app: AppInfo): Buffer {
  return Buffer.from(JSON.stringify({ v: layoutFormatVersion, ...app }), "utf8");
}

export function encodePartition(config: PartitionConfiguration): Buffer {
  return Buffer.from(JSON.stringify({ v: layoutFormatVersion, ...config }), "utf8");
}

/** A table removed for good (its hold period ended): what is kept of it. */
export interface RemovedApp {
  readonly appId: number;
  readonly appName: string;
  /** When the meta server decided the removal (its clock). */
  readonly removedAtMs: number;
}

export function encodeRemovedApp(removed: RemovedApp): Buffer {
  return Buffer.from(JSON.stringify({ v: layoutFormatVersion, ...removed }), "utf8");
}

export function encodeNextAppId(nextAppId: number): Buffer {
  return Buffer.from(String(nextAppId), "utf8");
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** A record's JSON object, with its format version checked. */
export function parseJsonObject(bytes: Uint8Array): Decoded<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    return fail(`not UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return fail("not a JSON object");
  const record = parsed as Record<string, unknown>;
  if (record.v !== layoutFormatVersion)
    return fail(`format version ${String(record.v)} is not ${layoutFormatVersion}`);
  return { ok: true, value: record };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function decodeNextAppId(bytes: Uint8Array): Decoded<number> {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail("not UTF-8");
  }
  if (!/^\d{1,9}$/.test(text)) return fail(`"${text.slice(0, 40)}" is not a decimal app id`);
  const value = Number(text);
  return value >= 1 ? { ok: true, value } : fail("next app id must be at least 1");
}

/** Decodes an app record; `appId` is the id its path names, which the record must repeat. */
export function decodeApp(bytes: Uint8Array, appId: number): Decoded<AppInfo> {
  const parsed = parseJsonObject(bytes);
  if (!parsed.ok) return parsed;
  const r = parsed.value;
  if (r.appId !== appId) return fail(`appId ${String(r.appId)} does not match its path (${appId})`);
  if (typeof r.appName !== "string" || r.appName === "") return fail("appName missing");
  if (!isCount(r.partitionCount) || r.partitionCount < 1) return fail("bad partitionCount");
  if (!isCount(r.replicaCount) || r.replicaCount < 1) return fail("bad replicaCount");
  if (r.status !== AppStatus.AVAILABLE && r.status !== AppStatus.DROPPED)
    return fail(`unknown status ${String(r.status)}`);
  if (!isCount(r.createdAtMs)) return fail("bad createdAtMs");
  const envs = r.envs;
  if (typeof envs !== "object" || envs === null || Array.isArray(envs)) return fail("bad envs");
  const envEntries = Object.entries(envs);
  if (envEntries.some(([, value]) => typeof value !== "string")) return fail("non-string env");
  const base: AppInfo = {
    appId,
    appName: r.appName,
    partitionCount: r.partitionCount,
    replicaCount: r.replicaCount,
    status: r.status,
    envs: Object.fromEntries(envEntries) as Record<string, string>,
    createdAtMs: r.createdAtMs,
  };
  if (r.status === AppStatus.AVAILABLE) return { ok: true, value: base };
  if (!isCount(r.droppedAtMs) || !isCount(r.dropExpireAtMs))
    return fail("dropped app without droppedAtMs / dropExpireAtMs");
  return {
    ok: true,
    value: { ...base, droppedAtMs: r.droppedAtMs, dropExpireAtMs: r.dropExpireAtMs },
  };
}

/** Decodes a `removed_apps/<appId>` record; `appId` is the id its path names. */
export function decodeRemovedApp(bytes: Uint8Array, appId: number): Decoded<RemovedApp> {
  const parsed = parseJsonObject(bytes);
  if (!parsed.ok) return parsed;
  const r = parsed.value;
  if (r.appId !== appId) return fail(`appId ${String(r.appId)} does not match its path (${appId})`);
  if (typeof r.appName !== "string" || r.appName === "") return fail("appName missing");
  if (!isCount(r.removedAtMs)) return fail("bad removedAtMs");
  return { ok: true, value: { appId, appName: r.appName, removedAtMs: r.removedAtMs } };
}

function isAddressList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(isNodeAddress);
}

/** Decodes a partition record against the gpid its path names. */
export function decodePartition(
  bytes: Uint8Array,
  appId: number,
  partitionIndex: number,
): Decoded<PartitionConfiguration> {
  const parsed = parseJsonObject(bytes);
  if (!parsed.ok) return parsed;
  const r = parsed.value;
  const gpid = r.gpid as { appId?: unknown; partitionIndex?: unknown } | null | undefined;
  if (gpid?.appId !== appId || gpid.partitionIndex !== partitionIndex)
    return fail(`gpid does not match its path (${appId}.${partitionIndex})`);
  if (!isCount(r.ballot)) return fail("bad ballot");
  if (r.primary !== undefined && !isNodeAddress(r.primary)) return fail("bad primary");
  if (!isAddressList(r.secondaries)) return fail("bad secondaries");
  if (!isCount(r.maxReplicaCount) || r.maxReplicaCount < 1) return fail("bad maxReplicaCount");
  if (!Number.isSafeInteger(r.lastCommittedDecree)) return fail("bad lastCommittedDecree");
  const lastDrops = r.lastDrops ?? [];
  if (!isAddressList(lastDrops)) return fail("bad lastDrops");
  const members = r.primary === undefined ? r.secondaries : [r.primary, ...r.secondaries];
  if (new Set(members).size !== members.length) return fail("a node is listed twice");
  if (r.primary === undefined && r.secondaries.length > 0)
    return fail("secondaries without a primary");
  return {
    ok: true,
    value: {
      gpid: { appId, partitionIndex },
      ballot: r.ballot,
      ...(r.primary === undefined ? {} : { primary: r.primary }),
      secondaries: r.secondaries,
      maxReplicaCount: r.maxReplicaCount,
      lastCommittedDecree: r.lastCommittedDecree as number,
      lastDrops,
    },
  };
}
