/**
 * Re-sync marks left on remote tables by removed duplications (full-sync.ts). A duplication
 * removed while its re-sync may have marked the remote table (app env
 * `duplication.resync_from.<this cluster>`: the remote's replicas hold their tombstones while it
 * stays) leaves the mark's removal behind, durably:
 *
 *   <root>/orphan_resync_marks/<appId>.<dupid>
 *     {"v":1,"remote":"dc2","remote_app_name":"t","env":"duplication.resync_from.dc1"}
 *
 * The record is written by the change that removes the duplication, before its record's deletion
 * (or by the one that removes an expired dropped table, before the table's records), and deleted
 * once the remote confirmed the env's removal or that its table is gone. A new meta leader
 * restores the records and carries on.
 *
 * Invariants:
 * - a record whose duplication is still in the registry at a step that may hold a mark (its
 *   removal's second part did not happen) is dormant: that duplication owns the mark and removes
 *   it itself; once past that step the record is removed like any other (a no-op remotely);
 * - while an active record names a remote table, no duplication marks that table: the removal
 *   deletes the env whatever its value, so a mark set meanwhile could be lost;
 * - a removal is retried with capped backoff until it succeeds (no remote task while the remote
 *   cluster is not configured).
 */
import { Buffer } from "node:buffer";
import type { TalariaError } from "../../../common/errors.ts";
import { DuplicationStatus, FullSyncMode } from "../../../protocol/index.ts";
import type { MetaAction, MetaResult } from "../events.ts";
import {
  type Decoded,
  layoutFormatVersion,
  type MetaStoreWrite,
  parseJsonObject,
} from "../layout.ts";
import type { DuplicationChanges, DuplicationCoreContext } from "./changes.ts";
import { type Duplication, duplicationChangeKey } from "./duplication.ts";
import type { DuplicationOptions } from "./options.ts";
import type { DuplicationRegistry } from "./registry.ts";
import { type DuplicationRemoteTask, resyncMarkKey, retryDelayMs } from "./remote-tasks.ts";

/** A removed duplication's re-sync mark, still to be removed from its remote table. */
export interface OrphanMark {
  readonly appId: number;
  readonly dupid: number;
  readonly remoteClusterName: string;
  readonly remoteAppName: string;
  /** The env key the mark has on the remote table (`duplication.resync_from.<this cluster>`). */
  readonly envKey: string;
}

export function orphanMarksPath(root: string): string {
  return `${root}/orphan_resync_marks`;
}

export function orphanMarkPath(root: string, appId: number, dupid: number): string {
  return `${orphanMarksPath(root)}/${appId}.${dupid}`;
}

/** The key a mark is held under (and its remote task runs under): its duplication's change key. */
export function orphanMarkKey(mark: Pick<OrphanMark, "appId" | "dupid">): string {
  return duplicationChangeKey(mark.appId, mark.dupid);
}

/**
 * The mark `dup` leaves behind when it is removed now: its re-sync may have marked the remote
 * table once prepared (a MARK may be in flight). Undefined when it cannot have, or when its
 * remote cluster is not configured (no call could reach it).
 */
export function orphanMarkOf(
  dup: Duplication,
  options: Pick<DuplicationOptions, "clusterName" | "remoteClusters">,
): OrphanMark | undefined {
  const remoteMetas = options.remoteClusters[dup.remoteClusterName] ?? [];
  if (!mayHoldMark(dup) || remoteMetas.length === 0) return undefined;
  return {
    appId: dup.appId,
    dupid: dup.dupid,
    remoteClusterName: dup.remoteClusterName,
    remoteAppName: dup.remoteAppName,
    envKey: resyncMarkKey(options.clusterName),
  };
}

/** Whether `dup`'s re-sync may have marked its remote table: prepared, or DS_APP. */
function mayHoldMark(dup: Duplication): boolean {
  return (
    dup.fullSync === FullSyncMode.RESYNC &&
    (dup.status === DuplicationStatus.DS_APP ||
      (dup.status === DuplicationStatus.DS_PREPARE && dup.prepared))
  );
}

/**
 * Not dormant: the mark's duplication is gone, or no longer at a step that may hold a mark (then
 * its own removal went through, and removing it again is a no-op).
 */
function isActive(mark: OrphanMark, registry: DuplicationRegistry): boolean {
  const dup = registry.get(mark.appId, mark.dupid);
  return dup === undefined || !mayHoldMark(dup);
}

/** The active mark on `dup`'s remote table, which keeps `dup` from marking it, if any. */
export function blockingOrphanMark(
  registry: DuplicationRegistry,
  dup: Duplication,
): OrphanMark | undefined {
  return registry
    .orphanMarks()
    .find(
      (mark) =>
        isActive(mark, registry) &&
        mark.remoteClusterName === dup.remoteClusterName &&
        mark.remoteAppName === dup.remoteAppName,
    );
}

/** The records the removal of `dups` writes first (see the module comment). */
export function orphanMarkWrites(
  root: string,
  dups: readonly Duplication[],
  options: Pick<DuplicationOptions, "clusterName" | "remoteClusters">,
): MetaStoreWrite[] {
  return dups.flatMap((dup) => {
    const mark = orphanMarkOf(dup, options);
    return mark === undefined
      ? []
      : [{ op: "set", path: orphanMarkPath(root, mark.appId, mark.dupid), data: encode(mark) }];
  });
}

function encode(mark: OrphanMark): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: layoutFormatVersion,
      remote: mark.remoteClusterName,
      remote_app_name: mark.remoteAppName,
      env: mark.envKey,
    }),
    "utf8",
  );
}

const namePattern = /^([1-9]\d{0,8})\.([1-9]\d{0,9})$/;

/** Decodes the record named `name` (`<appId>.<dupid>`) under `orphan_resync_marks/`. */
export function decodeOrphanMark(name: string, bytes: Uint8Array): Decoded<OrphanMark> {
  const fail = (reason: string): Decoded<OrphanMark> => ({ ok: false, reason });
  const match = namePattern.exec(name);
  if (match === null || Number(match[2]) > 2 ** 31 - 1)
    return fail("not <appId>.<dupid> under orphan_resync_marks/");
  const parsed = parseJsonObject(bytes);
  if (!parsed.ok) return parsed;
  const r = parsed.value;
  for (const field of ["remote", "remote_app_name", "env"] as const)
    if (typeof r[field] !== "string" || r[field] === "") return fail(`${field} missing`);
  return {
    ok: true,
    value: {
      appId: Number(match[1]),
      dupid: Number(match[2]),
      remoteClusterName: r.remote as string,
      remoteAppName: r.remote_app_name as string,
      envKey: r.env as string,
    },
  };
}

/** The removals of the orphan marks in the registry: remote tasks, backoff, record deletion. */
export class OrphanMarks {
  /** Volatile: a new leader tries every mark at once. */
  private readonly retries = new Map<string, { failures: number; nextAttemptMs: number }>();
  private readonly deleting = new Set<string>();

  constructor(
    private readonly context: DuplicationCoreContext,
    private readonly changes: DuplicationChanges,
  ) {}

  /** `dups` were removed by a persisted change that wrote their records (orphanMarkWrites). */
  removed(dups: readonly Duplication[]): void {
    for (const dup of dups) {
      const mark = orphanMarkOf(dup, this.context.options);
      if (mark === undefined) continue;
      this.context.registry.setOrphanMark(mark);
      this.context.log.info(
        { ...this.fields(mark) },
        "removed duplication: its re-sync mark on the remote table is removed next",
      );
    }
  }

  /** The removals due now. */
  tasks(): DuplicationRemoteTask[] {
    const { context } = this;
    const now = context.nowMs();
    const tasks: DuplicationRemoteTask[] = [];
    for (const mark of context.registry.orphanMarks()) {
      const key = orphanMarkKey(mark);
      if (!isActive(mark, context.registry) || this.deleting.has(key)) continue;
      if (now < (this.retries.get(key)?.nextAttemptMs ?? 0)) continue;
      const remoteMetas = context.options.remoteClusters[mark.remoteClusterName] ?? [];
      if (remoteMetas.length === 0) continue;
      tasks.push({
        key,
        appId: mark.appId,
        dupid: mark.dupid,
        remoteClusterName: mark.remoteClusterName,
        remoteMetas,
        kind: "UNMARK_RESYNC",
        request: { appName: mark.remoteAppName, keys: [mark.envKey] },
      });
    }
    return tasks;
  }

  /** The outcome of a removal: the record is deleted, or the removal is tried again later. */
  onResult(task: DuplicationRemoteTask, result: MetaResult): MetaAction[] {
    const { context } = this;
    const key = orphanMarkKey(task);
    const mark = context.registry.orphanMark(key);
    if (mark === undefined || !isActive(mark, context.registry) || this.deleting.has(key))
      return [];
    const fields = this.fields(mark);
    if (!result.ok && result.error.code !== "ERR_APP_NOT_EXIST") {
      const failures = (this.retries.get(key)?.failures ?? 0) + 1;
      const nextAttemptMs =
        context.nowMs() +
        retryDelayMs(
          failures,
          context.options.remoteRetryDelayMs,
          context.options.remoteRetryDelayMaxMs,
        );
      this.retries.set(key, { failures, nextAttemptMs });
      context.log.warn(
        { ...fields, failures, err: result.error },
        "removed duplication: cannot remove its re-sync mark from the remote table (its tombstones stay held there); retrying",
      );
      return [];
    }
    this.deleting.add(key);
    const path = orphanMarkPath(context.clusterRoot, mark.appId, mark.dupid);
    return [
      // Its own change key: the duplication (dormant before) may have a change of its own pending.
      this.changes.persist("FORGET_ORPHAN_MARK", `${key}.orphan`, [{ op: "deleteTree", path }], {
        commit: () => {
          this.deleting.delete(key);
          this.retries.delete(key);
          context.registry.deleteOrphanMark(key);
          context.log.info(
            fields,
            "removed duplication: its re-sync mark on the remote table is gone",
          );
          return [];
        },
        abandon: (error: TalariaError) => {
          this.deleting.delete(key);
          context.log.warn(
            { ...fields, err: error },
            "removed duplication: the remote mark is gone but its record could not be deleted; trying again",
          );
          return [];
        },
      }),
    ];
  }

  private fields(mark: OrphanMark): Record<string, unknown> {
    return {
      appId: mark.appId,
      dupid: mark.dupid,
      remote: mark.remoteClusterName,
      remoteAppName: mark.remoteAppName,
      env: mark.envKey,
    };
  }
}
