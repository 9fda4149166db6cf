/**
 * Persisted layout of duplications in the meta store, following Pegasus (notes §2.6):
 *
 *   <root>/apps/<appId>/duplication/<dupid>          JSON, see below
 *   <root>/apps/<appId>/duplication/<dupid>/<pidx>   ASCII decimal confirmed decree, e.g. "12345"
 *
 * The duplication JSON has Pegasus's fields plus the format version, `freezed` and, during a full
 * sync, `full_sync` and `prepared`:
 *   {"v":1,"remote":"tjsrv","status":"DS_LOG","create_timestamp_ms":1717138357000,
 *    "fail_mode":"FAIL_SLOW","remote_app_name":"t","remote_replica_count":3,"freezed":false}
 *   {…,"status":"DS_PREPARE",…,"full_sync":"create","prepared":true}
 * `status` and `fail_mode` are names. As in Pegasus a missing `remote_app_name` means the source
 * table's name and a missing or 0 `remote_replica_count` the source table's replica count. A
 * record in DS_PREPARE or DS_APP without `full_sync` (Pegasus's, or older) is a "create" full
 * sync; `full_sync` outside those statuses is ignored; a missing `prepared` is false.
 *
 * Writes are absolute (create-or-overwrite, delete-if-present). A partition's confirmed decree is
 * written only after the duplication record exists and never after the record's removal was
 * started, so the store never holds a progress node without its record (restore reports one).
 */
import { Buffer } from "node:buffer";
import type { DuplicationFailMode } from "../../../protocol/index.ts";
import { DuplicationStatus, FullSyncMode } from "../../../protocol/index.ts";
import { type Decoded, layoutFormatVersion } from "../layout.ts";
import type { Duplication, RecordChange } from "./duplication.ts";
import { duplicationFailModes, duplicationStatuses } from "./status.ts";

/** Pegasus's dupid is an int32 (unix seconds at creation). */
export const dupidMax = 2 ** 31 - 1;

export function duplicationsPath(root: string, appId: number): string {
  return `${root}/apps/${appId}/duplication`;
}

export function duplicationPath(root: string, appId: number, dupid: number): string {
  return `${duplicationsPath(root, appId)}/${dupid}`;
}

export function progressPath(
  root: string,
  appId: number,
  dupid: number,
  partitionIndex: number,
): string {
  return `${duplicationPath(root, appId, dupid)}/${partitionIndex}`;
}

/** The record of a duplication after `change` (what an alteration writes). */
export function encodeDuplication(dup: Duplication, change: RecordChange = {}): Buffer {
  const fields = dup.fieldsAfter(change);
  const fullSync = isFullSyncStatus(fields.status) ? fields.fullSync : undefined;
  return Buffer.from(
    JSON.stringify({
      v: layoutFormatVersion,
      remote: dup.remoteClusterName,
      status: fields.status,
      create_timestamp_ms: dup.createdAtMs,
      fail_mode: fields.failMode,
      remote_app_name: dup.remoteAppName,
      remote_replica_count: dup.remoteReplicaCount,
      freezed: fields.freezed,
      ...(fullSync === undefined ? {} : { full_sync: fullSync }),
      ...(fields.prepared && fields.status === DuplicationStatus.DS_PREPARE
        ? { prepared: true }
        : {}),
    }),
    "utf8",
  );
}

/** The statuses of a running full sync. */
export function isFullSyncStatus(status: DuplicationStatus): boolean {
  return status === DuplicationStatus.DS_PREPARE || status === DuplicationStatus.DS_APP;
}

export function encodeProgress(decree: number): Buffer {
  return Buffer.from(String(decree), "utf8");
}

export interface DecodedDuplication {
  readonly remoteClusterName: string;
  readonly status: DuplicationStatus;
  readonly failMode: DuplicationFailMode;
  readonly createdAtMs: number;
  /** Undefined when the record has none (an old Pegasus record): the source table's name. */
  readonly remoteAppName: string | undefined;
  /** 0 when the record has none: the source table's replica count. */
  readonly remoteReplicaCount: number;
  readonly freezed: boolean;
  /** Set exactly in DS_PREPARE and DS_APP. */
  readonly fullSync: FullSyncMode | undefined;
  readonly prepared: boolean;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

export function decodeDuplication(bytes: Uint8Array): Decoded<DecodedDuplication> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    return fail(`not UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    return fail("not a JSON object");
  const r = parsed as Record<string, unknown>;
  if (r.v !== layoutFormatVersion)
    return fail(`format version ${String(r.v)} is not ${layoutFormatVersion}`);
  if (typeof r.remote !== "string" || r.remote === "") return fail("remote missing");
  if (!(duplicationStatuses as readonly unknown[]).includes(r.status))
    return fail(`unknown status ${String(r.status)}`);
  if (!(duplicationFailModes as readonly unknown[]).includes(r.fail_mode))
    return fail(`unknown fail_mode ${String(r.fail_mode)}`);
  if (!isNonNegativeInteger(r.create_timestamp_ms)) return fail("bad create_timestamp_ms");
  if (
    r.remote_app_name !== undefined &&
    (typeof r.remote_app_name !== "string" || r.remote_app_name === "")
  )
    return fail("bad remote_app_name");
  const replicaCount = r.remote_replica_count ?? 0;
  if (!isNonNegativeInteger(replicaCount)) return fail("bad remote_replica_count");
  if (r.freezed !== undefined && typeof r.freezed !== "boolean") return fail("bad freezed");
  if (
    r.full_sync !== undefined &&
    !(Object.values(FullSyncMode) as unknown[]).includes(r.full_sync)
  )
    return fail(`unknown full_sync ${String(r.full_sync)}`);
  if (r.prepared !== undefined && typeof r.prepared !== "boolean") return fail("bad prepared");
  const status = r.status as DuplicationStatus;
  const fullSync = isFullSyncStatus(status)
    ? ((r.full_sync as FullSyncMode | undefined) ?? FullSyncMode.CREATE)
    : undefined;
  return {
    ok: true,
    value: {
      remoteClusterName: r.remote,
      status,
      failMode: r.fail_mode as DuplicationFailMode,
      createdAtMs: r.create_timestamp_ms,
      remoteAppName: r.remote_app_name,
      remoteReplicaCount: replicaCount,
      freezed: r.freezed === true,
      fullSync,
      prepared: status === DuplicationStatus.DS_PREPARE && r.prepared === true,
    },
  };
}

/** A confirmed decree node: a decimal ≥ -1; empty means -1 (Pegasus `init_progress(p, -1)`). */
export function decodeProgress(bytes: Uint8Array): Decoded<number> {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return fail("not UTF-8");
  }
  if (text === "") return { ok: true, value: -1 };
  if (!/^(-1|0|[1-9]\d{0,15})$/.test(text) || !Number.isSafeInteger(Number(text)))
    return fail(`"${text.slice(0, 40)}" is not a decree`);
  return { ok: true, value: Number(text) };
}
