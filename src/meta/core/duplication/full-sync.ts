/**
 * Full duplication on the source meta server (notes §2.4, §2.5): a duplication added with a
 * checkpoint ("create") or re-synced ("resync") runs
 *
 *   DS_PREPARE ── every current primary prepared its checkpoint decree C ──▶ C persisted
 *     "create": the runtime creates the follower table on the remote (follower_app_status =
 *               creating) ──▶ DS_APP; the follower's primaries pull the checkpoints; once every
 *               follower partition serves at ≥ C (with a secondary when it should), the create
 *               is sent again with `created` ──▶ DS_LOG (DS_PAUSE when freezed)
 *     "resync": the runtime marks the remote table (app env `duplication.resync_from.<this
 *               cluster>` = dupid: its replicas hold their tombstones while it stays) ──▶ DS_APP;
 *               the primaries send their checkpoint as duplicated writes ──▶ every current
 *               primary reported done ──▶ the mark is removed ──▶ DS_LOG (DS_PAUSE when it was
 *               paused). A duplication removed while it may have marked the remote leaves the
 *               mark's removal behind, durably (orphan-marks.ts); no re-sync marks a remote
 *               table until such a removal for it went through.
 *
 * Invariants (besides duplication-core.ts's):
 * - a prepared checkpoint decree (or re-sync progress) counts only while its reporter is the
 *   partition's primary at the ballot it reported under, as start decrees do;
 * - one change persists every partition's checkpoint decree, progress first and the record last,
 *   never lowering a persisted decree; it waits until no progress write is in flight (they would
 *   touch the same paths);
 * - remote calls are the runtime's (remote-tasks.ts); every step they lead to is persisted before
 *   the next is asked for, so a new leader resumes from the persisted status by repeating the
 *   (idempotent) current step. A failed call is retried with capped backoff, forever: no stuck
 *   DS_PREPARE (Pegasus #2146); removal works in every status.
 */
import { assert } from "../../../common/assert.ts";
import { TalariaError } from "../../../common/errors.ts";
import type {
  QueryConfigurationResponse,
  ResyncDuplicationRequest,
  ResyncDuplicationResponse,
} from "../../../protocol/index.ts";
import {
  AppStatus,
  DuplicationStatus,
  FollowerAppStatus,
  FullSyncMode,
} from "../../../protocol/index.ts";
import type { MetaAction, MetaResult, RequestId } from "../events.ts";
import { availableApp, checkDuplicationEnabled } from "./add-duplication.ts";
import { type DuplicationChanges, type DuplicationCoreContext, failure, reply } from "./changes.ts";
import type { Duplication, RecordChange } from "./duplication.ts";
import { blockingOrphanMark, type OrphanMarks } from "./orphan-marks.ts";
import {
  type DuplicationRemoteTask,
  followerEnvs,
  followerReadiness,
  freshRemoteProgress,
  resyncMarkKey,
  retryDelayMs,
} from "./remote-tasks.ts";
import { isValidTransition } from "./status.ts";

const { DS_PREPARE, DS_APP, DS_LOG, DS_PAUSE } = DuplicationStatus;

export const fullSyncHint =
  "full duplication runs in the background: DS_PREPARE (checkpoints), DS_APP (the remote copies them), then DS_LOG; query_dup shows each partition's progress";

export class FullSync {
  constructor(
    private readonly context: DuplicationCoreContext,
    private readonly changes: DuplicationChanges,
    private readonly orphanMarks: OrphanMarks,
  ) {}

  // ---- the re-sync request ----

  resync(requestId: RequestId, body: ResyncDuplicationRequest): MetaAction[] {
    const { context } = this;
    let dup: Duplication;
    try {
      checkDuplicationEnabled(context.options);
      const app = availableApp(context.state, body.appName);
      const found = context.registry.get(app.appId, body.dupid);
      if (found === undefined)
        throw new TalariaError(
          "ERR_OBJECT_NOT_FOUND",
          `table ${app.appName} has no duplication ${String(body.dupid)}`,
          { details: { appId: app.appId, dupid: body.dupid } },
        );
      dup = found;
      if (dup.altering !== undefined)
        throw new TalariaError("ERR_BUSY", "another change of this duplication is being persisted");
      if (dup.status !== DS_LOG && dup.status !== DS_PAUSE)
        throw new TalariaError(
          "ERR_INVALID_STATE",
          dup.status === DuplicationStatus.DS_INIT
            ? `duplication ${dup.dupid} is still fixing its start point; re-sync it once it is DS_LOG or DS_PAUSE`
            : `duplication ${dup.dupid} is already copying data (${dup.status}, ${dup.fullSync ?? "create"})`,
          { details: { appId: dup.appId, dupid: dup.dupid, status: dup.status } },
        );
    } catch (error) {
      return [failure(requestId, error)];
    }
    assert(isValidTransition(dup.status, DS_PREPARE), "a re-sync must be a valid transition");
    const change: RecordChange = {
      status: DS_PREPARE,
      fullSync: FullSyncMode.RESYNC,
      prepared: false,
      freezed: dup.status === DS_PAUSE,
    };
    const target = dup;
    return [
      this.changes.alterRecord("RESYNC_DUPLICATION", target, change, {
        committed: (from) => {
          context.log.info(
            { appId: target.appId, dupid: target.dupid, from },
            "duplication re-sync started: the primaries make checkpoints",
          );
          target.remote = freshRemoteProgress();
          for (const progress of target.partitions) {
            progress.start = undefined;
            progress.copy = undefined;
            progress.failure = undefined;
            progress.checkpointPrepared = false;
          }
          const value: ResyncDuplicationResponse = {
            appId: target.appId,
            dupid: target.dupid,
            status: target.status,
            failMode: target.failMode,
          };
          return [reply(requestId, { ok: true, value })];
        },
        abandoned: (error) => [reply(requestId, { ok: false, error })],
      }),
    ];
  }

  // ---- steps taken from syncs and ticks ----

  /** The full-sync step a duplication may take now (from a tick). */
  step(dup: Duplication): MetaAction[] {
    if (dup.status === DS_PREPARE) return this.maybePrepare(dup);
    if (dup.status === DS_APP) return this.maybeFinishResync(dup);
    return [];
  }

  /**
   * DS_PREPARE: once every partition's current primary reported a durable checkpoint, one change
   * persists each partition's confirmed decree = its checkpoint decree and then the record as
   * prepared: next the follower table is created ("create") or the remote table marked ("resync").
   */
  maybePrepare(dup: Duplication): MetaAction[] {
    const { context } = this;
    if (dup.status !== DS_PREPARE || dup.prepared || dup.altering !== undefined) return [];
    if (context.state.apps.get(dup.appId)?.status !== AppStatus.AVAILABLE) return [];
    if (dup.progressWritesInFlight > 0) return [];
    if (!this.dropStaleReports(dup, "checkpoint decree")) return [];
    const decrees = dup.partitions.map((progress) =>
      Math.max(progress.storedDecree, progress.start?.decree ?? -1),
    );
    const resync = dup.fullSync === FullSyncMode.RESYNC;
    const change: RecordChange = { prepared: true };
    dup.altering = { kind: "fullSync" };
    return [
      this.changes.persist(
        "PREPARE_DUPLICATION",
        dup.changeKey,
        [...this.changes.progressWrites(dup, decrees), this.changes.recordWrite(dup, change)],
        {
          commit: () => {
            dup.altering = undefined;
            dup.apply(change);
            const now = context.nowMs();
            for (const [index, progress] of dup.partitions.entries()) {
              const decree = decrees[index] ?? -1;
              progress.storedDecree = Math.max(progress.storedDecree, decree);
              progress.reportedDecree = Math.max(progress.reportedDecree, decree);
              progress.lastWriteMs = now;
              progress.start = undefined;
              progress.copy = undefined;
            }
            dup.remote = freshRemoteProgress();
            context.log.info(
              {
                appId: dup.appId,
                dupid: dup.dupid,
                checkpointDecrees: decrees,
                status: dup.status,
              },
              resync
                ? "duplication re-sync: checkpoints prepared; marking the remote table"
                : "full duplication: checkpoints prepared; creating the follower table",
            );
            return [];
          },
          // The reports stay; the next sync or tick tries again.
          abandon: () => {
            dup.altering = undefined;
            return [];
          },
        },
      ),
    ];
  }

  /**
   * DS_APP of a re-sync: sent once every partition's current primary sent its checkpoint; the
   * remote table's mark is removed next (a remote task), then the re-sync is done.
   */
  maybeFinishResync(dup: Duplication): MetaAction[] {
    if (dup.status !== DS_APP || dup.fullSync !== FullSyncMode.RESYNC) return [];
    if (dup.altering !== undefined || dup.remote.copied) return [];
    if (this.context.state.apps.get(dup.appId)?.status !== AppStatus.AVAILABLE) return [];
    let complete = true;
    for (const [index, progress] of dup.partitions.entries()) {
      const by = progress.copy?.by;
      const config = this.context.state.partition(dup.appId, index);
      if (by !== undefined && (config?.primary !== by.node || config.ballot !== by.ballot)) {
        this.context.log.info(
          { appId: dup.appId, dupid: dup.dupid, partitionIndex: index, reportedBy: by.node },
          "re-sync progress dropped: the partition's configuration changed; waiting for its primary",
        );
        progress.copy = undefined;
      }
      if (progress.copy?.done !== true) complete = false;
    }
    if (complete) {
      dup.remote.copied = true;
      dup.remote.nextAttemptMs = this.context.nowMs();
      this.context.log.info(
        { appId: dup.appId, dupid: dup.dupid, remote: dup.remoteClusterName },
        "duplication re-sync: every checkpoint sent; removing the remote table's mark",
      );
    }
    return [];
  }

  // ---- remote calls (run by the runtime) ----

  /** The remote calls due now: at most one per duplication. */
  remoteTasks(): DuplicationRemoteTask[] {
    const { context } = this;
    const now = context.nowMs();
    const tasks: DuplicationRemoteTask[] = [];
    tasks.push(...this.orphanMarks.tasks());
    for (const dup of context.registry.all()) {
      if (dup.fullSync === undefined || dup.altering !== undefined) continue;
      if (now < dup.remote.nextAttemptMs) continue;
      const app = context.state.apps.get(dup.appId);
      if (app?.status !== AppStatus.AVAILABLE) continue;
      const remoteMetas = context.options.remoteClusters[dup.remoteClusterName] ?? [];
      if (remoteMetas.length === 0) continue;
      const target = this.taskTarget(dup, remoteMetas);
      if (dup.fullSync === FullSyncMode.RESYNC) {
        const key = resyncMarkKey(context.options.clusterName);
        const appName = dup.remoteAppName;
        // A removed duplication's mark on this table goes first (orphan-marks.ts).
        if (
          dup.status === DS_PREPARE &&
          dup.prepared &&
          blockingOrphanMark(context.registry, dup) === undefined
        )
          tasks.push({
            ...target,
            kind: "MARK_RESYNC",
            request: { appName, envs: { [key]: String(dup.dupid) } },
          });
        else if (dup.status === DS_APP && dup.remote.copied)
          tasks.push({ ...target, kind: "UNMARK_RESYNC", request: { appName, keys: [key] } });
        continue;
      }
      const create = (followerAppStatus: FollowerAppStatus): DuplicationRemoteTask => ({
        ...target,
        kind: "CREATE_FOLLOWER",
        followerAppStatus,
        request: {
          appName: dup.remoteAppName,
          partitionCount: dup.partitionCount,
          replicaCount: dup.remoteReplicaCount,
          envs: followerEnvs(
            app.envs,
            { clusterName: context.options.clusterName, metaServers: context.options.metaServers },
            app.appName,
            followerAppStatus,
          ),
        },
      });
      if (dup.status === DS_PREPARE && dup.prepared) tasks.push(create(FollowerAppStatus.CREATING));
      else if (dup.status === DS_APP && dup.remote.copied)
        tasks.push(create(FollowerAppStatus.CREATED));
      else if (dup.status === DS_APP)
        tasks.push({
          ...target,
          kind: "QUERY_FOLLOWER",
          request: { appName: dup.remoteAppName },
        });
    }
    return tasks;
  }

  /** The outcome of a remote call; ignored unless the duplication is still at that step. */
  onRemoteResult(task: DuplicationRemoteTask, result: MetaResult): MetaAction[] {
    const { context } = this;
    const dup = context.registry.get(task.appId, task.dupid);
    if (task.kind === "UNMARK_RESYNC" && context.registry.orphanMark(task.key) !== undefined) {
      const actions = this.orphanMarks.onResult(task, result);
      if (dup === undefined || actions.length > 0) return actions;
    }
    if (dup === undefined || dup.fullSync === undefined || dup.altering !== undefined) return [];
    const resync = dup.fullSync === FullSyncMode.RESYNC;
    const creating = task.kind === "CREATE_FOLLOWER" && task.followerAppStatus === "creating";
    const created = task.kind === "CREATE_FOLLOWER" && task.followerAppStatus === "created";
    const mark = task.kind === "MARK_RESYNC";
    const unmark = task.kind === "UNMARK_RESYNC";
    const current = resync
      ? (mark && dup.status === DS_PREPARE && dup.prepared) ||
        (unmark && dup.status === DS_APP && dup.remote.copied)
      : (creating && dup.status === DS_PREPARE && dup.prepared) ||
        (task.kind === "QUERY_FOLLOWER" && dup.status === DS_APP && !dup.remote.copied) ||
        (created && dup.status === DS_APP && dup.remote.copied);
    if (!current) return [];
    const now = context.nowMs();
    // A table that no longer exists keeps no mark.
    if (!result.ok && !(unmark && result.error.code === "ERR_APP_NOT_EXIST")) {
      const remote = dup.remote;
      remote.failures += 1;
      const { code, message } = result.error;
      remote.lastError = message.startsWith(code) ? message : `${code}: ${message}`;
      remote.nextAttemptMs =
        now +
        retryDelayMs(
          remote.failures,
          context.options.remoteRetryDelayMs,
          context.options.remoteRetryDelayMaxMs,
        );
      context.log.warn(
        {
          appId: dup.appId,
          dupid: dup.dupid,
          remote: dup.remoteClusterName,
          task: task.kind,
          failures: remote.failures,
          retryAtMs: remote.nextAttemptMs,
          err: result.error,
        },
        "full duplication: a call to the remote cluster's meta servers failed; retrying",
      );
      return [];
    }
    dup.remote.failures = 0;
    dup.remote.lastError = undefined;
    if (creating) return this.followerCreated(dup);
    if (created || unmark) return this.finish(dup);
    if (mark) return this.remoteMarked(dup);
    if (!result.ok) return []; // only an unmark's ERR_APP_NOT_EXIST gets here, handled above
    // The runtime validated the answer (src/meta/service).
    const readiness = followerReadiness(
      result.value as QueryConfigurationResponse,
      dup.confirmedDecrees(),
      dup.partitions.map((progress) => progress.copy),
    );
    for (const [index, progress] of dup.partitions.entries())
      progress.copy = readiness.copies[index];
    if (readiness.complete) {
      dup.remote.copied = true;
      dup.remote.nextAttemptMs = now;
      context.log.info(
        { appId: dup.appId, dupid: dup.dupid, remote: dup.remoteClusterName },
        "full duplication: the follower table copied every checkpoint; marking it created",
      );
    } else {
      dup.remote.nextAttemptMs = now + context.options.followerPollIntervalMs;
    }
    return [];
  }

  private taskTarget(dup: Duplication, remoteMetas: readonly string[]) {
    return {
      key: dup.changeKey,
      appId: dup.appId,
      dupid: dup.dupid,
      remoteClusterName: dup.remoteClusterName,
      remoteMetas,
    };
  }

  // ---- changes ----

  /** DS_PREPARE → DS_APP of a re-sync once the remote table carries its mark. */
  private remoteMarked(dup: Duplication): MetaAction[] {
    return this.toApp(
      dup,
      "duplication re-sync: the remote table is marked; the primaries send their checkpoints",
    );
  }

  /** DS_PREPARE → DS_APP once the remote created the follower table. */
  private followerCreated(dup: Duplication): MetaAction[] {
    return this.toApp(
      dup,
      "full duplication: follower table created; its primaries copy the checkpoints",
    );
  }

  /** DS_PREPARE (prepared, the remote step done) → DS_APP, logged with `message`. */
  private toApp(dup: Duplication, message: string): MetaAction[] {
    const { context } = this;
    assert(isValidTransition(DS_PREPARE, DS_APP), "DS_PREPARE → DS_APP must be valid");
    const change: RecordChange = { status: DS_APP, prepared: false };
    return this.persistStep(dup, change, () => {
      for (const progress of dup.partitions) progress.copy = undefined;
      context.log.info(
        { appId: dup.appId, dupid: dup.dupid, remote: dup.remoteClusterName },
        message,
      );
    });
  }

  /** DS_APP → DS_LOG (DS_PAUSE when freezed): the full sync is over. */
  private finish(dup: Duplication): MetaAction[] {
    const { context } = this;
    const to = dup.freezed ? DS_PAUSE : DS_LOG;
    assert(isValidTransition(DS_APP, DS_LOG), "DS_APP → DS_LOG must be valid");
    assert(!dup.freezed || isValidTransition(DS_LOG, DS_PAUSE), "DS_LOG → DS_PAUSE must be valid");
    const mode = dup.fullSync;
    const change: RecordChange = { status: to, fullSync: null, prepared: false };
    return this.persistStep(dup, change, () => {
      for (const progress of dup.partitions) {
        progress.copy = undefined;
        progress.checkpointPrepared = false;
        progress.failure = undefined;
      }
      context.log.info(
        { appId: dup.appId, dupid: dup.dupid, status: to, fullSync: mode },
        "full duplication done: the primaries ship the log from the checkpoint decrees",
      );
    });
  }

  /** A record-only step of the full sync; a refused write is tried again after a delay. */
  private persistStep(dup: Duplication, change: RecordChange, committed: () => void): MetaAction[] {
    const { context } = this;
    dup.altering = { kind: "fullSync" };
    return [
      this.changes.persist(
        "FULL_SYNC_DUPLICATION",
        dup.changeKey,
        [this.changes.recordWrite(dup, change)],
        {
          commit: () => {
            dup.altering = undefined;
            dup.apply(change);
            dup.remote = freshRemoteProgress();
            committed();
            return [];
          },
          abandon: () => {
            dup.altering = undefined;
            dup.remote.nextAttemptMs = context.nowMs() + context.options.remoteRetryDelayMs;
            return [];
          },
        },
      ),
    ];
  }

  /**
   * Drops the reports (`start`) whose reporter is no longer the partition's primary at that
   * ballot; true when every partition still has one.
   */
  private dropStaleReports(dup: Duplication, what: string): boolean {
    let complete = true;
    for (const [index, progress] of dup.partitions.entries()) {
      const start = progress.start;
      const config = this.context.state.partition(dup.appId, index);
      if (
        start !== undefined &&
        (config?.primary !== start.node || config.ballot !== start.ballot)
      ) {
        this.context.log.info(
          { appId: dup.appId, dupid: dup.dupid, partitionIndex: index, reportedBy: start.node },
          `${what} dropped: the partition's configuration changed; waiting for its primary`,
        );
        progress.start = undefined;
      }
      if (progress.start === undefined) complete = false;
    }
    return complete;
  }
}
