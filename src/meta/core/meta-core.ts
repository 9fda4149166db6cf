/**
 * The meta core: the cluster's decision logic as a deterministic state machine. Events in
 * (requests, ticks, persist outcomes, each with its time), actions out (meta-store writes to
 * persist, replies to send); no I/O, no clock, no randomness. Every transition runs to completion.
 *
 * Two-phase changes (Pegasus alter → persist → commit): a change is planned against committed
 * state and emitted as a `persist` action; committed state, queries, beacon replies and the
 * change's reply only reflect it after `persisted { opId }`. Invariants:
 * - at most one change per partition is pending (pending-changes.ts), so each change is planned
 *   from the configuration the store holds and the ballot goes up by exactly one per commit;
 * - table DDL is serialized (ddl-queue.ts);
 * - a retriable persist failure retries the same writes with capped exponential backoff until
 *   they succeed; a non-retriable one (writes certainly not applied) abandons the change;
 * - the core's time never runs backwards (each event's `nowMs` is clamped to the latest seen).
 */
import { assert, unreachable } from "../../common/assert.ts";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/logger.ts";
import type {
  BeaconRequest,
  BeaconResponse,
  ClusterInfoResponse,
  LearnerProposal,
  ListAppsRequest,
  ListAppsResponse,
  ListDuplicationsRequest,
  ListDuplicationsResponse,
  ListNodesRequest,
  ListNodesResponse,
  PartitionConfiguration,
  QueryConfigurationRequest,
  QueryConfigurationResponse,
  QueryDuplicationRequest,
  QueryDuplicationResponse,
} from "../../protocol/index.ts";
import {
  AppStatus,
  DuplicationMethod,
  gpidKey,
  isNodeAddress,
  MetaMethod,
} from "../../protocol/index.ts";
import type { AppEnvValidator, DdlContext, DdlPlan } from "./app-ddl.ts";
import { planPrimaryMoves } from "./balancer.ts";
import { type LastChange, planConfigurationUpdate } from "./config-update.ts";
import { DdlQueue, planQueuedDdl } from "./ddl-queue.ts";
import { DuplicationCore } from "./duplication/duplication-core.ts";
import type { OrphanMark } from "./duplication/orphan-marks.ts";
import type { DuplicationRemoteTask } from "./duplication/remote-tasks.ts";
import type {
  MetaAction,
  MetaEvent,
  MetaRequest,
  MetaResult,
  OpId,
  PersistKind,
  RequestId,
} from "./events.ts";
import { isFollowerCreating } from "./follower-app.ts";
import { encodePartition, type MetaRecord, partitionPath } from "./layout.ts";
import { LearnerProposals } from "./learners.ts";
import { isAwaitedLastPrimary, watchMemberReports } from "./member-watch.ts";
import {
  type MetaCoreOptions,
  type MetaCoreOptionsInput,
  resolveMetaCoreOptions,
} from "./options.ts";
import { PendingChanges } from "./pending-changes.ts";
import {
  clusterInfo,
  listApps,
  listNodes,
  queryConfiguration,
  withFollowerCopy,
} from "./queries.ts";
import { planRepair, type RepairContext } from "./repair.ts";
import { type RestoreReport, restoreState } from "./restore.ts";
import { staleReplicas } from "./stale-replicas.ts";
import { ClusterState, compareAddress, type DurableState, membersOf, nodeLoads } from "./state.ts";

export interface MetaCoreDeps {
  /** Validates one app env (the runtime passes src/config's validator). */
  readonly validateAppEnv?: AppEnvValidator;
  readonly log?: Logger;
}

const emptyReport: RestoreReport = {
  apps: 0,
  partitions: 0,
  nextAppId: 1,
  duplications: 0,
  removedApps: 0,
  orphanResyncMarks: 0,
  problems: [],
};

function replyAction(requestId: RequestId, run: () => unknown): MetaAction {
  try {
    return { type: "reply", requestId, result: { ok: true, value: run() } };
  } catch (error) {
    if (!isTalariaError(error)) throw error;
    return { type: "reply", requestId, result: { ok: false, error } };
  }
}

export class MetaCore {
  readonly options: MetaCoreOptions;
  /** What `restore` found wrong in the stored records (empty for a fresh core). */
  readonly restoreReport: RestoreReport;
  private readonly state: ClusterState;
  private readonly log: Logger;
  private readonly validateAppEnv: AppEnvValidator | undefined;
  private readonly pending: PendingChanges;
  private readonly ddl: DdlQueue;
  private readonly learners: LearnerProposals;
  private readonly duplication: DuplicationCore;
  /** Largest committed decree heard per gpid key (volatile; merged into configs shown). */
  private readonly observedCommitted = new Map<string, number>();
  /** The change fence (config-update.ts): the last numbered change per gpid key (volatile; a
   * restored core starts every partition at "unknown"). */
  private readonly lastChanges = new Map<string, LastChange>();
  /** Time of the first event; nodes known only from restored state count as alive from then. */
  private startMs: number | undefined;
  private nowMs = 0;
  private nextBalanceMs: number | undefined;

  private constructor(
    options: MetaCoreOptions,
    deps: MetaCoreDeps,
    state: ClusterState,
    report: RestoreReport,
  ) {
    this.options = options;
    this.log = deps.log ?? silentLogger;
    this.validateAppEnv = deps.validateAppEnv;
    this.state = state;
    this.restoreReport = report;
    this.pending = new PendingChanges(options);
    this.ddl = new DdlQueue(options.ddlQueueMax);
    this.learners = new LearnerProposals(options);
    this.duplication = new DuplicationCore({
      state,
      registry: state.duplications,
      pending: this.pending,
      options: options.duplication,
      clusterRoot: options.clusterRoot,
      appNameLengthMax: options.appNameLengthMax,
      replicaCountMax: options.replicaCountMax,
      log: this.log,
      nowMs: () => this.nowMs,
    });
    // The change fence starts unknown for every partition restored from the store (config-update.ts).
    for (const config of state.availablePartitions())
      if (config.primary !== undefined)
        this.lastChanges.set(gpidKey(config.gpid), {
          node: config.primary,
          ballot: config.ballot,
          changeId: 0,
          refused: true,
        });
  }

  /** A core for a cluster with no stored metadata. */
  static create(options: MetaCoreOptionsInput = {}, deps: MetaCoreDeps = {}): MetaCore {
    return new MetaCore(resolveMetaCoreOptions(options), deps, new ClusterState(), emptyReport);
  }

  /** A core rebuilt from every record under `clusterRoot` the runtime read from the meta store. */
  static restore(
    records: readonly MetaRecord[],
    options: MetaCoreOptionsInput = {},
    deps: MetaCoreDeps = {},
  ): MetaCore {
    const resolved = resolveMetaCoreOptions(options);
    const { state, report } = restoreState(
      records,
      resolved.clusterRoot,
      deps.log ?? silentLogger,
      resolved.duplication,
    );
    return new MetaCore(resolved, deps, state, report);
  }

  /** Feeds one event; returns the actions to carry out, in order. */
  step(event: MetaEvent): MetaAction[] {
    this.advance(event.nowMs);
    const actions: MetaAction[] = [];
    switch (event.type) {
      case "request":
        actions.push(...this.onRequest(event.requestId, event.request));
        break;
      case "tick":
        actions.push(...this.onTick());
        break;
      case "persisted": {
        const outcome = this.pending.persisted(event.opId);
        actions.push(...("nextPart" in outcome ? [outcome.nextPart] : outcome.committed.commit()));
        break;
      }
      case "persistFailed":
        actions.push(...this.onPersistFailed(event.opId, event.error));
        break;
      case "duplicationRemote":
        actions.push(...this.duplication.onRemoteResult(event.task, event.result));
        break;
      default:
        unreachable(event, "meta event");
    }
    actions.push(...this.pumpDdl());
    return actions;
  }

  tick(nowMs: number): MetaAction[] {
    return this.step({ type: "tick", nowMs });
  }

  /** A beacon never changes durable state, so it is answered at once. Throws on a bad request. */
  beacon(request: BeaconRequest, nowMs: number): BeaconResponse {
    this.advance(nowMs);
    return this.onBeacon(request);
  }

  // ---- queries (committed state only) ----

  durableState(): DurableState {
    return this.state.durable();
  }

  listApps(request: ListAppsRequest = {}): ListAppsResponse {
    return listApps(this.state, request);
  }

  /** With the copy progress of follower primaries pulling their checkpoint (not persisted). */
  queryConfiguration(request: QueryConfigurationRequest): QueryConfigurationResponse {
    return queryConfiguration(this.state, request, (config) =>
      withFollowerCopy(this.state, this.present(config)),
    );
  }

  listNodes(request: ListNodesRequest = {}): ListNodesResponse {
    return listNodes(this.state, request);
  }

  clusterInfo(): ClusterInfoResponse {
    return clusterInfo(this.state, this.pending.size, this.ddl.length);
  }

  learnerProposals(): LearnerProposal[] {
    return this.learners.all(this.state);
  }

  queryDuplication(request: QueryDuplicationRequest): QueryDuplicationResponse {
    return this.duplication.query(request);
  }

  listDuplications(request: ListDuplicationsRequest = {}): ListDuplicationsResponse {
    return this.duplication.list(request);
  }

  /** Re-sync marks removed duplications left on remote tables, still to be removed. */
  orphanResyncMarks(): OrphanMark[] {
    return this.state.duplications.orphanMarks();
  }

  /**
   * Full duplication: the calls to remote clusters' meta servers due now (at most one per
   * duplication, by `key`). The runtime makes each one not already running and feeds its outcome
   * back as a `duplicationRemote` event. Reads committed state only.
   */
  duplicationRemoteTasks(): DuplicationRemoteTask[] {
    return this.duplication.remoteTasks();
  }

  // ---- events ----

  private advance(nowMs: number): void {
    assert(Number.isFinite(nowMs), "event time must be a number");
    this.nowMs = Math.max(this.nowMs, nowMs);
    this.startMs ??= this.nowMs;
    this.nextBalanceMs ??= this.nowMs + this.options.balanceIntervalMs;
  }

  private onRequest(requestId: RequestId, request: MetaRequest): MetaAction[] {
    if (typeof request.body !== "object" || request.body === null)
      return [
        replyAction(requestId, () => {
          throw new TalariaError("ERR_INVALID_PARAMETERS", `${request.method} needs a body`);
        }),
      ];
    switch (request.method) {
      case MetaMethod.BEACON:
        return [replyAction(requestId, () => this.onBeacon(request.body))];
      case MetaMethod.QUERY_CONFIGURATION:
        return [replyAction(requestId, () => this.queryConfiguration(request.body))];
      case MetaMethod.LIST_APPS:
        return [replyAction(requestId, () => this.listApps(request.body))];
      case MetaMethod.LIST_NODES:
        return [replyAction(requestId, () => this.listNodes(request.body))];
      case MetaMethod.CLUSTER_INFO:
        return [replyAction(requestId, () => this.clusterInfo())];
      case MetaMethod.UPDATE_CONFIGURATION:
        return this.onUpdateConfiguration(requestId, request.body);
      case DuplicationMethod.ADD:
        return this.duplication.add(requestId, request.body);
      case DuplicationMethod.MODIFY:
        return this.duplication.modify(requestId, request.body);
      case DuplicationMethod.QUERY:
        return [replyAction(requestId, () => this.duplication.query(request.body))];
      case DuplicationMethod.LIST:
        return [replyAction(requestId, () => this.duplication.list(request.body))];
      case DuplicationMethod.SYNC:
        return this.duplication.sync(requestId, request.body);
      case DuplicationMethod.RESYNC:
        return this.duplication.resync(requestId, request.body);
      case MetaMethod.CREATE_APP:
      case MetaMethod.DROP_APP:
      case MetaMethod.RECALL_APP:
      case MetaMethod.SET_APP_ENVS:
      case MetaMethod.DEL_APP_ENVS:
        if (this.ddl.full)
          return [
            replyAction(requestId, () => {
              const max = this.options.ddlQueueMax;
              throw new TalariaError("ERR_BUSY", `${max} table changes already queued`, {
                details: { limit: "ddlQueueMax", value: this.ddl.length, max },
              });
            }),
          ];
        this.ddl.pushRequest(requestId, request);
        return [];
      default: {
        const method = (request as { method?: unknown }).method;
        return [
          replyAction(requestId, () => {
            throw new TalariaError("ERR_HANDLER_NOT_FOUND", `no meta method ${String(method)}`);
          }),
        ];
      }
    }
  }

  private onBeacon(request: BeaconRequest): BeaconResponse {
    if (!isNodeAddress(request.node) || !Array.isArray(request.replicas))
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        "a beacon needs a node address and replicas",
      );
    const storedAppIds = request.storedAppIds ?? [];
    if (!Array.isArray(storedAppIds) || !storedAppIds.every((id) => Number.isSafeInteger(id)))
      throw new TalariaError("ERR_INVALID_PARAMETERS", "a beacon's storedAppIds must be app ids");
    const node = this.state.node(request.node);
    if (!node.alive) this.log.info({ node: node.address }, "replica server is alive again");
    node.alive = true;
    node.lastBeaconMs = this.nowMs;
    node.reports = new Map(request.replicas.map((report) => [gpidKey(report.gpid), report]));

    const configs: PartitionConfiguration[] = [];
    const appIds = new Set<number>();
    const watched: PartitionConfiguration[] = [];
    for (const config of this.state.availablePartitions()) {
      if (!membersOf(config).includes(node.address)) {
        if (isAwaitedLastPrimary(config, node.address)) watched.push(config);
        continue;
      }
      watched.push(config);
      const key = gpidKey(config.gpid);
      const committed = node.reports.get(key)?.lastCommittedDecree;
      if (committed !== undefined && committed > (this.observedCommitted.get(key) ?? 0))
        this.observedCommitted.set(key, committed);
      configs.push(this.present(config));
      appIds.add(config.gpid.appId);
    }
    watchMemberReports(node, watched, this.nowMs);
    const reportedAppIds = new Set(request.replicas.map((report) => report.gpid.appId));
    const removedAppIds = [...reportedAppIds, ...storedAppIds]
      .filter((appId) => this.isRemovedForGood(appId))
      .sort((a, b) => a - b);
    return {
      leaseMs: this.options.fdLeaseMs,
      configs,
      apps: this.state.sortedApps().filter((app) => appIds.has(app.appId)),
      learnerProposals: this.learners.forPrimary(this.state, node.address),
      droppedApps: this.state
        .sortedApps()
        .filter((app) => app.status === AppStatus.DROPPED && reportedAppIds.has(app.appId)),
      removedAppIds: [...new Set(removedAppIds)],
      staleReplicas: staleReplicas(
        {
          state: this.state,
          isPartitionBusy: (key) => this.pending.isPartitionBusy(key),
          observedCommitted: (key) => this.observedCommitted.get(key) ?? 0,
        },
        node.address,
        request.replicas,
      ),
    };
  }

  /** The table's removal is recorded and nothing available has its id: its data is garbage. */
  private isRemovedForGood(appId: number): boolean {
    return (
      this.state.removedApps.has(appId) &&
      this.state.apps.get(appId)?.status !== AppStatus.AVAILABLE
    );
  }

  private onUpdateConfiguration(
    requestId: RequestId,
    body: Parameters<typeof planConfigurationUpdate>[1],
  ): MetaAction[] {
    let config: PartitionConfiguration;
    try {
      config = planConfigurationUpdate(
        this.state,
        body,
        (key) => this.pending.isPartitionBusy(key),
        (key) => this.observedCommitted.get(key) ?? 0,
        (key) => this.lastChanges.get(key),
      );
    } catch (error) {
      if (!isTalariaError(error)) throw error;
      // Refused at the requester's own ballot, as its primary: that number stays refused.
      const current = error.details.config as PartitionConfiguration | undefined;
      if (current?.ballot === body.ballot && current.primary === body.node)
        this.recordChange(body, true);
      return [{ type: "reply", requestId, result: { ok: false, error } }];
    }
    this.recordChange(body, false);
    return [
      this.startPartitionChange("UPDATE_CONFIGURATION", config, {
        onCommit: (committed) => [
          {
            type: "reply",
            requestId,
            result: { ok: true, value: { config: this.present(committed) } },
          },
        ],
        onAbandon: (error) => [{ type: "reply", requestId, result: { ok: false, error } }],
      }),
    ];
  }

  /** Failure detection, persist retries, reassignment, expiry, learners, balancing — in order. */
  private onTick(): MetaAction[] {
    const now = this.nowMs;
    for (const node of this.state.nodes.values()) {
      const lastHeardMs = node.lastBeaconMs ?? this.startMs ?? now;
      if (node.alive && lastHeardMs + this.options.fdGraceMs < now) {
        node.alive = false;
        this.log.warn({ node: node.address, lastBeaconMs: node.lastBeaconMs }, "node is dead");
      }
    }
    const actions = this.pending.dueRetries(now);
    const isBusy = (key: string): boolean => this.pending.isPartitionBusy(key);
    const context: RepairContext = {
      isAlive: (node) => this.state.isAlive(node),
      isServing: (node) => this.state.isServing(node),
      report: (node, key) => this.state.report(node, key),
      isReplicaMissing: (node, key, ballot) => {
        const since = this.state.nodes.get(node)?.missingSinceMs.get(key);
        return since?.ballot === ballot && now - since.value > this.options.fdGraceMs;
      },
      refusedBeacons: (node, key, ballot) => {
        const refused = this.state.nodes.get(node)?.refusedBeacons.get(key);
        return refused?.ballot === ballot ? refused.value : 0;
      },
      observedCommittedDecree: (key) => this.observedCommitted.get(key) ?? 0,
      isFollowerCopying: (appId) => isFollowerCreating(this.state.apps.get(appId)?.envs ?? {}),
      choosePrimary: (exclude) => {
        const loads = nodeLoads(this.state);
        const load = (node: string) => loads.get(node) ?? { primaries: 0, replicas: 0 };
        return this.state
          .servingNodes()
          .filter((node) => node !== exclude)
          .sort(
            (a, b) =>
              load(a).primaries - load(b).primaries ||
              load(a).replicas - load(b).replicas ||
              compareAddress(a, b),
          )[0];
      },
    };
    for (const config of [...this.state.availablePartitions()]) {
      if (isBusy(gpidKey(config.gpid))) continue;
      const plan = planRepair(config, context);
      if (plan === undefined) continue;
      this.log.info(
        { gpid: gpidKey(config.gpid), reason: plan.reason, failures: plan.failures },
        "reassigning partition",
      );
      actions.push(this.startPartitionChange(plan.reason, plan.config, {}));
    }
    for (const app of this.state.sortedApps()) {
      if (app.status !== AppStatus.DROPPED) continue;
      // A recorded removal finishes even on a meta server whose clock is behind its writer's.
      const expired = now >= (app.dropExpireAtMs ?? 0) || this.state.removedApps.has(app.appId);
      if (expired && !this.pending.isAppBusy(app.appId)) this.ddl.pushRemoval(app.appId);
    }
    this.learners.refresh(this.state, now, isBusy);
    actions.push(...this.duplication.tick());
    if (now >= (this.nextBalanceMs ?? now)) {
      this.nextBalanceMs = now + this.options.balanceIntervalMs;
      const moves = planPrimaryMoves({
        partitions: this.state.availablePartitions(),
        servingNodes: this.state.servingNodes(),
        isBusy,
        report: context.report,
        observedCommittedDecree: context.observedCommittedDecree,
        movesMax: this.options.balanceMovesPerRoundMax,
      });
      for (const { config, from, to } of moves) {
        this.log.info({ gpid: gpidKey(config.gpid), from, to }, "moving primary");
        actions.push(this.startPartitionChange("BALANCE_PRIMARY", config, {}));
      }
    }
    return actions;
  }

  private onPersistFailed(opId: OpId, error: unknown): MetaAction[] {
    const definite = isTalariaError(error) && !error.retriable;
    const outcome = this.pending.failed(opId, definite, this.nowMs);
    if ("abandoned" in outcome) {
      this.log.error({ opId, kind: outcome.abandoned.kind, err: error }, "change refused by store");
      return outcome.abandoned.abandon(error as TalariaError, outcome.partsPersisted);
    }
    this.log.warn({ opId, ...outcome, err: error }, "meta store write failed; will retry");
    return [];
  }

  // ---- changes ----

  private startPartitionChange(
    kind: PersistKind,
    config: PartitionConfiguration,
    handlers: {
      onCommit?: (config: PartitionConfiguration) => MetaAction[];
      onAbandon?: (error: TalariaError) => MetaAction[];
    },
  ): MetaAction {
    const key = gpidKey(config.gpid);
    const { appId, partitionIndex } = config.gpid;
    const current = this.state.partition(appId, partitionIndex);
    assert(current?.ballot === config.ballot - 1, `${key}: ballot must go up by one`);
    return this.pending.start({
      kind,
      writes: [
        {
          op: "set",
          path: partitionPath(this.options.clusterRoot, appId, partitionIndex),
          data: encodePartition(config),
        },
      ],
      partitionKey: key,
      ddl: false,
      commit: () => {
        const before = this.state.partition(appId, partitionIndex);
        assert(before?.ballot === config.ballot - 1, `${key}: commit out of order`);
        this.state.setPartition(config);
        return handlers.onCommit?.(config) ?? [];
      },
      abandon: (error) => handlers.onAbandon?.(error) ?? [],
    });
  }

  /** Starts queued DDL while none is pending; refusals and no-op requests are answered at once. */
  private pumpDdl(): MetaAction[] {
    const actions: MetaAction[] = [];
    while (!this.pending.ddlPending) {
      const item = this.ddl.shift();
      if (item === undefined) break;
      const requestId = item.type === "request" ? item.requestId : undefined;
      const reply = (result: MetaResult): MetaAction[] =>
        requestId === undefined ? [] : [{ type: "reply", requestId, result }];
      let plan: DdlPlan | undefined;
      try {
        plan = planQueuedDdl(this.ddlContext(), item, (appId) => this.pending.isAppBusy(appId));
      } catch (error) {
        if (!isTalariaError(error) || requestId === undefined) throw error;
        actions.push(...reply({ ok: false, error }));
        continue;
      }
      if (plan === undefined) {
        if (item.type === "removeExpired") this.ddl.removalDone(item.appId);
        continue;
      }
      if (plan.kind === "IMMEDIATE") {
        actions.push(...reply({ ok: true, value: plan.value }));
        continue;
      }
      const { commit, abandoned } = plan;
      actions.push(
        this.pending.start({
          kind: plan.kind,
          writes: plan.writes,
          partitionKey: undefined,
          ddl: true,
          commit: () => {
            const value = commit(this.state);
            if (item.type === "removeExpired") {
              if (plan.kind === "RECORD_REMOVED_APP") {
                this.log.info({ appId: item.appId }, "recorded the removal of an expired table");
                this.ddl.removalDone(item.appId);
                this.ddl.pushRemoval(item.appId);
              } else this.forgetApp(item.appId);
            }
            return reply({ ok: true, value });
          },
          abandon: (error, partsPersisted) => {
            abandoned?.(this.state, partsPersisted);
            if (item.type === "removeExpired") this.ddl.removalDone(item.appId);
            return reply({ ok: false, error });
          },
        }),
      );
    }
    return actions;
  }

  private ddlContext(): DdlContext {
    return {
      state: this.state,
      options: this.options,
      validateAppEnv: this.validateAppEnv,
      nowMs: this.nowMs,
    };
  }

  /** The change fence: `body` is the last numbered change of its partition from its primary. */
  private recordChange(
    body: Parameters<typeof planConfigurationUpdate>[1],
    refused: boolean,
  ): void {
    if (body.changeId === undefined) return;
    const key = gpidKey(body.gpid);
    const last = this.lastChanges.get(key);
    if (
      last !== undefined &&
      last.node === body.node &&
      last.ballot === body.ballot &&
      last.changeId > body.changeId
    )
      return;
    this.lastChanges.set(key, {
      node: body.node,
      ballot: body.ballot,
      changeId: body.changeId,
      refused,
    });
  }

  private forgetApp(appId: number): void {
    this.ddl.removalDone(appId);
    this.duplication.forgetApp(appId);
    for (const map of [this.observedCommitted, this.lastChanges])
      for (const key of [...map.keys()]) if (key.startsWith(`${appId}.`)) map.delete(key);
    this.log.info({ appId }, "removed expired dropped table");
  }

  /** A configuration as shown: with the largest committed decree heard from its members. */
  private present(config: PartitionConfiguration): PartitionConfiguration {
    const observed = this.observedCommitted.get(gpidKey(config.gpid)) ?? 0;
    return observed > config.lastCommittedDecree
      ? { ...config, lastCommittedDecree: observed }
      : config;
  }
}
