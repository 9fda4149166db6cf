/**
 * The meta core's duplication part (Pegasus `meta_duplication_service`, notes §2): add, modify,
 * query, list and the duplication sync, run inside MetaCore.step like every other change (pure,
 * no clock: time comes from the event).
 *
 * Every durable change is two-phase: planned against committed state, persisted through
 * PendingChanges, applied (and its reply released) only when persisted. Invariants:
 * - at most one change of a duplication's record is in flight (`altering`, key `<appId>.dup<id>`),
 *   and at most one progress write per partition (key `<appId>.dup<id>.<pidx>`); a removal starts
 *   only when no progress write of the duplication is in flight, and none starts after it;
 * - a partition's persisted confirmed decree never decreases (lower reports are ignored);
 * - the start point is fixed by the partitions' primaries before `add` answers DS_LOG: the
 *   duplication is persisted in DS_INIT, each primary reports the last decree it acknowledged,
 *   and one change writes every start decree and DS_LOG (DS_PAUSE if freezed). A start decree
 *   counts only while its reporter is still primary at the ballot it reported under;
 * - a full duplication (add with a checkpoint, or a re-sync) is full-sync.ts's: it starts in
 *   DS_PREPARE and reaches DS_LOG / DS_PAUSE by the meta server's own steps only.
 */
import { assert } from "../../../common/assert.ts";
import { TalariaError } from "../../../common/errors.ts";
import type {
  AddDuplicationRequest,
  DuplicationSyncRequest,
  DuplicationSyncResponse,
  ListDuplicationsRequest,
  ListDuplicationsResponse,
  ModifyDuplicationRequest,
  ModifyDuplicationResponse,
  QueryDuplicationRequest,
  QueryDuplicationResponse,
  ResyncDuplicationRequest,
} from "../../../protocol/index.ts";
import { AppStatus, DuplicationStatus } from "../../../protocol/index.ts";
import type { MetaAction, MetaResult, RequestId } from "../events.ts";
import type { MetaStoreWrite } from "../layout.ts";
import { availableApp, checkDuplicationEnabled, planAddDuplication } from "./add-duplication.ts";
import { DuplicationChanges, type DuplicationCoreContext, failure, reply } from "./changes.ts";
import type { Duplication, RecordChange } from "./duplication.ts";
import { FullSync, fullSyncHint } from "./full-sync.ts";
import { duplicationPath, duplicationsPath, encodeProgress, progressPath } from "./layout.ts";
import { OrphanMarks, orphanMarkWrites } from "./orphan-marks.ts";
import type { DuplicationRemoteTask } from "./remote-tasks.ts";
import { checkAlteration, isValidTransition } from "./status.ts";
import { applySyncReports, syncReply } from "./sync.ts";
import { listDuplications, queryOf } from "./views.ts";

const { DS_INIT, DS_PREPARE, DS_APP, DS_LOG, DS_PAUSE, DS_REMOVED } = DuplicationStatus;

export type { DuplicationCoreContext } from "./changes.ts";

export const initHint =
  "not every partition has reported its start decree yet; the duplication starts in the background (query_duplication shows DS_LOG when it has). Writes committed after that point are all shipped";

export class DuplicationCore {
  private readonly creating = new Map<string, Duplication>();
  private lastDupid: number;
  private readonly changes: DuplicationChanges;
  private readonly fullSync: FullSync;
  private readonly orphanMarks: OrphanMarks;

  constructor(private readonly context: DuplicationCoreContext) {
    this.lastDupid = context.registry.largestDupid();
    this.changes = new DuplicationChanges(context);
    this.orphanMarks = new OrphanMarks(context, this.changes);
    this.fullSync = new FullSync(context, this.changes, this.orphanMarks);
  }

  // ---- requests ----

  add(requestId: RequestId, body: AddDuplicationRequest): MetaAction[] {
    const { context } = this;
    let plan: ReturnType<typeof planAddDuplication>;
    try {
      plan = planAddDuplication(
        {
          state: context.state,
          registry: context.registry,
          creating: [...this.creating.values()],
          options: context.options,
          appNameLengthMax: context.appNameLengthMax,
          replicaCountMax: context.replicaCountMax,
          nowMs: context.nowMs(),
          lastDupid: this.lastDupid,
        },
        body,
      );
    } catch (error) {
      return [failure(requestId, error)];
    }
    const { dup, waitMs } = plan;
    this.lastDupid = dup.dupid;
    this.creating.set(dup.changeKey, dup);
    return [
      this.changes.persist(
        "ADD_DUPLICATION",
        dup.changeKey,
        [this.changes.recordWrite(dup), this.dupidFloorWrite(dup)],
        {
          commit: () => {
            this.creating.delete(dup.changeKey);
            context.registry.insert(dup);
            context.log.info(
              {
                appId: dup.appId,
                dupid: dup.dupid,
                remote: dup.remoteClusterName,
                fullSync: dup.fullSync,
              },
              dup.fullSync === undefined
                ? "duplication added; waiting for the start decrees"
                : "full duplication added; waiting for the primaries' checkpoints",
            );
            // A full duplication copies in the background (minutes): answer at once.
            if (dup.fullSync !== undefined)
              return [reply(requestId, { ok: true, value: dup.addResponse(fullSyncHint) })];
            if (waitMs === 0)
              return [reply(requestId, { ok: true, value: dup.addResponse(initHint) })];
            dup.waiter = { requestId, deadlineMs: context.nowMs() + waitMs };
            return [];
          },
          abandon: (error) => {
            this.creating.delete(dup.changeKey);
            return [reply(requestId, { ok: false, error })];
          },
        },
      ),
    ];
  }

  modify(requestId: RequestId, body: ModifyDuplicationRequest): MetaAction[] {
    try {
      return this.planModify(requestId, body);
    } catch (error) {
      return [failure(requestId, error)];
    }
  }

  query(body: QueryDuplicationRequest): QueryDuplicationResponse {
    checkDuplicationEnabled(this.context.options);
    return queryOf(availableApp(this.context.state, body.appName), this.context.registry);
  }

  list(body: ListDuplicationsRequest): ListDuplicationsResponse {
    checkDuplicationEnabled(this.context.options);
    return listDuplications(this.context.state, this.context.registry, body);
  }

  resync(requestId: RequestId, body: ResyncDuplicationRequest): MetaAction[] {
    return this.fullSync.resync(requestId, body);
  }

  /** Full duplication: the calls to remote meta servers the runtime should make now. */
  remoteTasks(): DuplicationRemoteTask[] {
    return this.fullSync.remoteTasks();
  }

  /** Full duplication: the outcome of a remote call the runtime made. */
  onRemoteResult(task: DuplicationRemoteTask, result: MetaResult): MetaAction[] {
    return this.fullSync.onRemoteResult(task, result);
  }

  sync(requestId: RequestId, body: DuplicationSyncRequest): MetaAction[] {
    const { context } = this;
    let value: DuplicationSyncResponse;
    const actions: MetaAction[] = [];
    try {
      checkDuplicationEnabled(context.options);
      if (!context.state.nodes.has(body.node))
        throw new TalariaError(
          "ERR_OBJECT_NOT_FOUND",
          `replica server ${body.node} is not known to the meta server (no beacon yet)`,
        );
      const touched = applySyncReports(context.state, context.registry, body, context.log);
      for (const { dup, partitionIndex } of touched.progress)
        actions.push(...this.maybeWriteProgress(dup, partitionIndex));
      for (const dup of touched.starting) actions.push(...this.maybeStart(dup));
      for (const dup of touched.preparing) actions.push(...this.fullSync.maybePrepare(dup));
      for (const dup of touched.resyncing) actions.push(...this.fullSync.maybeFinishResync(dup));
      for (const dup of touched.failed) actions.push(...this.pauseAfterFailure(dup));
      value = syncReply(context.state, context.registry, context.options, body.node);
    } catch (error) {
      return [...actions, failure(requestId, error)];
    }
    return [...actions, reply(requestId, { ok: true, value })];
  }

  // ---- time ----

  /** Add replies whose wait ran out, start and full-sync attempts, throttled progress writes. */
  tick(): MetaAction[] {
    const { context } = this;
    const now = context.nowMs();
    const actions: MetaAction[] = [];
    for (const dup of context.registry.all()) {
      const app = context.state.apps.get(dup.appId);
      const available = app?.status === AppStatus.AVAILABLE;
      if (dup.waiter !== undefined && (!available || now >= dup.waiter.deadlineMs)) {
        const { requestId } = dup.waiter;
        dup.waiter = undefined;
        actions.push(
          available
            ? reply(requestId, { ok: true, value: dup.addResponse(initHint) })
            : reply(requestId, {
                ok: false,
                error: new TalariaError(
                  "ERR_APP_NOT_EXIST",
                  `table of app ${dup.appId} was dropped while duplication ${dup.dupid} was starting; it resumes if the table is recalled`,
                ),
              }),
        );
      }
      if (!available) continue;
      if (dup.status === DS_INIT) actions.push(...this.maybeStart(dup));
      else if (dup.status === DS_PREPARE || dup.status === DS_APP)
        actions.push(...this.fullSync.step(dup));
      else
        for (let index = 0; index < dup.partitionCount; index += 1)
          actions.push(...this.maybeWriteProgress(dup, index));
    }
    return actions;
  }

  /**
   * The table's records were deleted (an expired dropped table), after the records of the re-sync
   * marks its duplications may have left (app-ddl.ts writes them): those marks are removed next.
   */
  forgetApp(appId: number): void {
    this.orphanMarks.removed(this.context.registry.ofApp(appId));
    this.context.registry.forgetApp(appId);
  }

  // ---- changes ----

  /**
   * FAIL_FAST: a partition's shipper gave up, so the whole duplication pauses (persisted like an
   * operator's pause; the error stays visible per partition in query / list). Starting it again
   * is the operator's call.
   */
  private pauseAfterFailure(dup: Duplication): MetaAction[] {
    if (dup.status !== DS_LOG || dup.failMode !== "FAIL_FAST" || dup.altering !== undefined)
      return [];
    const { context } = this;
    return [
      this.changes.alterRecord(
        "ALTER_DUPLICATION",
        dup,
        { status: DS_PAUSE },
        {
          committed: () => {
            context.log.warn(
              { appId: dup.appId, dupid: dup.dupid },
              "duplication paused: a partition failed under FAIL_FAST",
            );
            return [];
          },
          abandoned: () => [],
        },
      ),
    ];
  }

  private planModify(requestId: RequestId, body: ModifyDuplicationRequest): MetaAction[] {
    const { context } = this;
    checkDuplicationEnabled(context.options);
    const app = availableApp(context.state, body.appName);
    const dup = context.registry.get(app.appId, body.dupid);
    if (dup === undefined)
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `table ${app.appName} has no duplication ${String(body.dupid)}`,
        { details: { appId: app.appId, dupid: body.dupid } },
      );
    const to = body.status ?? dup.status;
    const toFailMode = body.failMode ?? dup.failMode;
    if (to !== dup.status && (to === DS_INIT || to === DS_PREPARE || to === DS_APP))
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `${to} is set by the meta server itself; ask for DS_LOG, DS_PAUSE or DS_REMOVED`,
      );
    const check = checkAlteration(dup, dup.altering !== undefined, to, toFailMode);
    if (dup.status === DS_INIT && to === DS_LOG)
      throw new TalariaError(
        "ERR_BUSY",
        `duplication ${dup.dupid} is still waiting for start decrees; it moves to ${dup.freezed ? DS_PAUSE : DS_LOG} by itself`,
      );
    if (dup.status === DS_APP && to === DS_LOG)
      throw new TalariaError(
        "ERR_BUSY",
        `duplication ${dup.dupid} is still copying data; it moves to ${dup.freezed ? DS_PAUSE : DS_LOG} by itself`,
      );
    const response = (status = to, failMode = toFailMode): ModifyDuplicationResponse => ({
      appId: dup.appId,
      dupid: dup.dupid,
      status,
      failMode,
    });
    if (!check.change) return [reply(requestId, { ok: true, value: response() })];
    if (to === DS_REMOVED) {
      dup.altering = { kind: "remove", requestId, started: false };
      return this.maybeRemove(dup);
    }
    const change: RecordChange = { status: to, failMode: toFailMode };
    return [
      this.changes.alterRecord("ALTER_DUPLICATION", dup, change, {
        committed: (from) => {
          context.log.info(
            { appId: dup.appId, dupid: dup.dupid, from, to, failMode: toFailMode },
            "duplication altered",
          );
          return [reply(requestId, { ok: true, value: response() })];
        },
        abandoned: (error) => [reply(requestId, { ok: false, error })],
      }),
    ];
  }

  /** Starts a requested removal once no progress write of the duplication is in flight. */
  private maybeRemove(dup: Duplication): MetaAction[] {
    const altering = dup.altering;
    if (altering?.kind !== "remove" || altering.started || dup.progressWritesInFlight > 0)
      return [];
    altering.started = true;
    const { requestId } = altering;
    const { clusterRoot, options } = this.context;
    const path = duplicationPath(clusterRoot, dup.appId, dup.dupid);
    // The record of the re-sync mark it may leave first: a crash between the two leaves the
    // duplication, which owns its mark, with a dormant record (orphan-marks.ts).
    const writes = [
      ...orphanMarkWrites(clusterRoot, [dup], options),
      { op: "deleteTree", path } as const,
    ];
    return [
      this.changes.persist("REMOVE_DUPLICATION", dup.changeKey, writes, {
        commit: () => {
          dup.altering = undefined;
          this.orphanMarks.removed([dup]);
          dup.status = DS_REMOVED;
          this.context.registry.delete(dup);
          this.context.log.info({ appId: dup.appId, dupid: dup.dupid }, "duplication removed");
          const actions: MetaAction[] = [];
          if (dup.waiter !== undefined) {
            actions.push(
              reply(dup.waiter.requestId, {
                ok: false,
                error: new TalariaError(
                  "ERR_OBJECT_NOT_FOUND",
                  `duplication ${dup.dupid} was removed before it started`,
                ),
              }),
            );
            dup.waiter = undefined;
          }
          const value: ModifyDuplicationResponse = {
            appId: dup.appId,
            dupid: dup.dupid,
            status: DS_REMOVED,
            failMode: dup.failMode,
          };
          actions.push(reply(requestId, { ok: true, value }));
          return actions;
        },
        abandon: (error) => {
          dup.altering = undefined;
          return [reply(requestId, { ok: false, error })];
        },
      }),
    ];
  }

  /**
   * DS_INIT → DS_LOG (or DS_PAUSE when freezed) once every partition's current primary has
   * reported its start decree: one change writes every partition's confirmed decree (first) and
   * the record (last), so a partly persisted change leaves the duplication in DS_INIT.
   */
  private maybeStart(dup: Duplication): MetaAction[] {
    const { context } = this;
    if (dup.status !== DS_INIT || dup.altering !== undefined) return [];
    const app = context.state.apps.get(dup.appId);
    if (app?.status !== AppStatus.AVAILABLE) return [];
    let complete = true;
    for (const [index, progress] of dup.partitions.entries()) {
      const config = context.state.partition(dup.appId, index);
      const start = progress.start;
      if (
        start !== undefined &&
        (config?.primary !== start.node || config.ballot !== start.ballot)
      ) {
        context.log.info(
          { appId: dup.appId, dupid: dup.dupid, partitionIndex: index, reportedBy: start.node },
          "start decree dropped: the partition's configuration changed; waiting for its primary",
        );
        progress.start = undefined;
      }
      if (progress.start === undefined) complete = false;
    }
    if (!complete) return [];
    const to = dup.freezed ? DS_PAUSE : DS_LOG;
    assert(isValidTransition(DS_INIT, DS_LOG), "DS_INIT → DS_LOG must be valid");
    assert(!dup.freezed || isValidTransition(DS_LOG, DS_PAUSE), "DS_LOG → DS_PAUSE must be valid");
    const decrees = dup.partitions.map((progress) =>
      Math.max(progress.storedDecree, progress.start?.decree ?? -1),
    );
    const writes: MetaStoreWrite[] = [
      ...this.changes.progressWrites(dup, decrees),
      this.changes.recordWrite(dup, { status: to }),
    ];
    dup.altering = { kind: "start" };
    return [
      this.changes.persist("START_DUPLICATION", dup.changeKey, writes, {
        commit: () => {
          dup.altering = undefined;
          dup.apply({ status: to });
          const now = context.nowMs();
          for (const [index, progress] of dup.partitions.entries()) {
            const decree = decrees[index] ?? -1;
            progress.storedDecree = Math.max(progress.storedDecree, decree);
            progress.reportedDecree = Math.max(progress.reportedDecree, decree);
            progress.lastWriteMs = now;
            progress.start = undefined;
          }
          context.log.info(
            { appId: dup.appId, dupid: dup.dupid, status: to, startDecrees: decrees },
            "duplication started",
          );
          const waiter = dup.waiter;
          dup.waiter = undefined;
          return waiter === undefined
            ? []
            : [reply(waiter.requestId, { ok: true, value: dup.addResponse() })];
        },
        // The start decrees stay; the next sync or tick tries again.
        abandon: () => {
          dup.altering = undefined;
          return [];
        },
      }),
    ];
  }

  /**
   * Persists a partition's reported confirmed decree, at most every progressMinUpdatePeriodMs
   * (DS_LOG and DS_PAUSE only: nothing ships before, and a full sync writes the decrees itself).
   */
  private maybeWriteProgress(dup: Duplication, index: number): MetaAction[] {
    const { context } = this;
    const progress = dup.partitions[index];
    if (progress === undefined || (dup.status !== DS_LOG && dup.status !== DS_PAUSE)) return [];
    if (progress.writing || dup.altering?.kind === "remove") return [];
    if (progress.reportedDecree <= progress.storedDecree) return [];
    const now = context.nowMs();
    if (
      progress.lastWriteMs !== undefined &&
      now - progress.lastWriteMs < context.options.progressMinUpdatePeriodMs
    )
      return [];
    const decree = progress.reportedDecree;
    progress.writing = true;
    progress.lastWriteMs = now;
    const path = progressPath(context.clusterRoot, dup.appId, dup.dupid, index);
    const done = (): MetaAction[] => {
      progress.writing = false;
      return this.maybeRemove(dup);
    };
    return [
      this.changes.persist(
        "DUPLICATION_PROGRESS",
        dup.progressKey(index),
        [{ op: "set", path, data: encodeProgress(decree) }],
        {
          commit: () => {
            progress.storedDecree = Math.max(progress.storedDecree, decree);
            return done();
          },
          abandon: () => done(),
        },
      ),
    ];
  }

  /** Keeps the largest dupid issued for the table, so one removed is never issued again. */
  private dupidFloorWrite(dup: Duplication): MetaStoreWrite {
    return {
      op: "set",
      path: duplicationsPath(this.context.clusterRoot, dup.appId),
      data: Buffer.from(String(dup.dupid), "utf8"),
    };
  }
}
