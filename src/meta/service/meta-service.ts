/**
 * The meta server's runtime around the pure meta core: leadership, restore from the meta store,
 * request dispatch, persistence of the core's writes, and ticks. All decisions are the core's.
 *
 * Invariants:
 *  - Only the elected leader runs a core; every other meta server answers ERR_NOT_LEADER naming
 *    the leader, so clients and replica servers move there.
 *  - A reply to a state change is sent only after the core saw its writes persisted.
 *  - Losing leadership is fatal for this process's core: it stops answering and reports through
 *    `onLeadershipLost` (the process exits and restarts clean, as Pegasus's meta server does).
 *  - Full duplication's calls to other clusters' meta servers are the core's tasks
 *    (`duplicationRemoteTasks`), made here at most one per duplication at a time, each outcome
 *    fed back as a `duplicationRemote` event; the core decides retries and what follows.
 */
import type { Clock } from "../../common/clock.ts";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/logger.ts";
import { MetaMethod } from "../../protocol/index.ts";
import {
  type AppEnvValidator,
  type DuplicationRemoteTask,
  type MetaAction,
  MetaCore,
  type MetaCoreOptionsInput,
  type MetaRecord,
  type MetaResult,
} from "../core/index.ts";
import type { LeaderElection, MetaStore } from "../store/index.ts";
import { decodeRemoteConfiguration } from "./decode-remote.ts";
import { decodeMetaRequest, isMetaMethod } from "./decode-requests.ts";
import {
  connectRemoteMeta,
  type RemoteMetaConnection,
  type RemoteMetaConnector,
} from "./remote-meta.ts";

export interface MetaServiceOptions {
  /** This meta server's RPC address: its identity in the leader election. */
  readonly address: string;
  readonly core?: MetaCoreOptionsInput;
  /** How often the core is ticked (failure detection, reassignment, balancing). */
  readonly tickIntervalMs?: number;
  /** Most nodes read from the meta store at restore (a bound on a corrupt or foreign tree). */
  readonly restoreNodesMax?: number;
}

export interface MetaServiceDeps {
  readonly store: MetaStore;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly validateAppEnv?: AppEnvValidator;
  readonly onLeadershipLost?: () => void;
  /** How to reach another cluster's meta servers (full duplication); TCP by default. */
  readonly connectRemoteMeta?: RemoteMetaConnector;
}

const TICK_INTERVAL_MS_DEFAULT = 1000;
/** Deadline of one call to a remote cluster's meta servers (the core retries after a failure). */
export const REMOTE_META_CALL_TIMEOUT_MS = 10_000;
const RESTORE_NODES_MAX_DEFAULT = 1_000_000;

const defaultConnector = connectRemoteMeta();

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class MetaService {
  private readonly options: MetaServiceOptions;
  private readonly deps: MetaServiceDeps;
  private readonly logger: Logger;
  private readonly election: LeaderElection;
  private core: MetaCore | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped = false;
  /** Keys of the duplication remote tasks being run. */
  private readonly remoteTasksRunning = new Set<string>();
  /** One connection per remote cluster, made on first use. */
  private readonly remoteMetas = new Map<string, RemoteMetaConnection>();

  constructor(options: MetaServiceOptions, deps: MetaServiceDeps) {
    this.options = options;
    this.deps = deps;
    this.logger = (deps.logger ?? silentLogger).child({ component: "meta-service" });
    // One election per cluster root: clusters sharing a ZooKeeper ensemble elect separately.
    this.election = deps.store.election(
      options.address,
      `${options.core?.clusterRoot ?? "/talaria"}/leader_election`,
    );
  }

  /** Campaigns in the background; resolves once this server leads (tests and onebox await it). */
  async start(): Promise<void> {
    this.election.onLost(() => this.lose("leadership lost"));
    await this.election.campaign();
    if (this.stopped) return;
    const records = await this.readRecords();
    this.core = MetaCore.restore(records, this.options.core ?? {}, {
      log: this.logger,
      ...(this.deps.validateAppEnv === undefined
        ? {}
        : { validateAppEnv: this.deps.validateAppEnv }),
    });
    for (const problem of this.core.restoreReport.problems)
      this.logger.warn(problem, "meta: restore skipped a record");
    this.logger.info(
      { records: records.length, address: this.options.address, store: this.deps.store.kind },
      "meta: leading",
    );
    this.ticker = setInterval(
      () => this.tick(),
      this.options.tickIntervalMs ?? TICK_INTERVAL_MS_DEFAULT,
    );
    this.ticker.unref();
  }

  get isLeader(): boolean {
    return this.core !== undefined;
  }

  /** The leading core for a synchronous read (metrics at scrape time); undefined when not leading. */
  coreIfLeading(): MetaCore | undefined {
    return this.core;
  }

  /** The leading core, for read-only queries (HTTP, shell); ERR_NOT_LEADER when not leading. */
  async leadingCore(): Promise<MetaCore> {
    if (this.core === undefined) throw await this.notLeader();
    return this.core;
  }

  private async notLeader(): Promise<TalariaError> {
    const leader = await this.election.leader().catch(() => undefined);
    return new TalariaError(
      "ERR_NOT_LEADER",
      leader === undefined ? "no meta server leads right now" : `the leader is ${leader}`,
      {
        details: leader === undefined ? {} : { leader },
      },
    );
  }

  /** Answers one RPC. */
  async handle(method: string, payload: unknown): Promise<unknown> {
    if (!isMetaMethod(method))
      throw new TalariaError("ERR_HANDLER_NOT_FOUND", `no meta method ${method}`);
    const request = decodeMetaRequest(method, payload);
    const core = this.core;
    if (core === undefined) throw await this.notLeader();
    const nowMs = this.deps.clock.nowMs();
    if (request.method === MetaMethod.BEACON) return core.beacon(request.body, nowMs);
    const requestId = this.nextRequestId++;
    const answer = new Promise<unknown>((resolve, reject) =>
      this.pending.set(requestId, { resolve, reject }),
    );
    this.execute(core, core.step({ type: "request", nowMs, requestId, request }));
    return answer;
  }

  private tick(): void {
    const core = this.core;
    if (core === undefined) return;
    this.execute(core, core.tick(this.deps.clock.nowMs()));
    this.runRemoteTasks(core);
  }

  /** Starts every due duplication remote task that is not running yet. */
  private runRemoteTasks(core: MetaCore): void {
    for (const task of core.duplicationRemoteTasks()) {
      if (this.remoteTasksRunning.has(task.key)) continue;
      this.remoteTasksRunning.add(task.key);
      void this.runRemoteTask(core, task);
    }
  }

  private async runRemoteTask(core: MetaCore, task: DuplicationRemoteTask): Promise<void> {
    let result: MetaResult;
    try {
      const remote = this.remoteMeta(task.remoteClusterName, task.remoteMetas);
      if (task.kind === "CREATE_FOLLOWER") {
        await remote.call(MetaMethod.CREATE_APP, task.request, REMOTE_META_CALL_TIMEOUT_MS);
        result = { ok: true, value: undefined };
      } else if (task.kind === "MARK_RESYNC") {
        await remote.call(MetaMethod.SET_APP_ENVS, task.request, REMOTE_META_CALL_TIMEOUT_MS);
        result = { ok: true, value: undefined };
      } else if (task.kind === "UNMARK_RESYNC") {
        await remote.call(MetaMethod.DEL_APP_ENVS, task.request, REMOTE_META_CALL_TIMEOUT_MS);
        result = { ok: true, value: undefined };
      } else {
        const answer = await remote.call(
          MetaMethod.QUERY_CONFIGURATION,
          task.request,
          REMOTE_META_CALL_TIMEOUT_MS,
        );
        result = { ok: true, value: decodeRemoteConfiguration(answer) };
      }
    } catch (error) {
      result = {
        ok: false,
        error: isTalariaError(error)
          ? error
          : new TalariaError("ERR_NETWORK_FAILURE", "call to a remote meta server failed", {
              cause: error,
            }),
      };
    } finally {
      this.remoteTasksRunning.delete(task.key);
    }
    if (this.core !== core) return; // leadership changed meanwhile; this core is gone
    this.execute(
      core,
      core.step({ type: "duplicationRemote", nowMs: this.deps.clock.nowMs(), task, result }),
    );
    // The next step of a full duplication may be due at once (the query found the copy done):
    // not a tick later.
    this.runRemoteTasks(core);
  }

  private remoteMeta(cluster: string, metaServers: readonly string[]): RemoteMetaConnection {
    const key = `${cluster}=${metaServers.join(",")}`;
    let connection = this.remoteMetas.get(key);
    if (connection === undefined) {
      const connect = this.deps.connectRemoteMeta ?? defaultConnector;
      connection = connect(cluster, metaServers);
      this.remoteMetas.set(key, connection);
    }
    return connection;
  }

  private closeRemoteMetas(): void {
    for (const connection of this.remoteMetas.values())
      connection
        .close()
        .catch((error: unknown) =>
          this.logger.warn({ err: error }, "meta: closing a remote meta connection failed"),
        );
    this.remoteMetas.clear();
  }

  private execute(core: MetaCore, actions: readonly MetaAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case "reply": {
          const pending = this.pending.get(action.requestId);
          this.pending.delete(action.requestId);
          if (action.result.ok) pending?.resolve(action.result.value);
          else pending?.reject(action.result.error);
          break;
        }
        case "persist":
          void this.persist(core, action);
          break;
      }
    }
  }

  private async persist(
    core: MetaCore,
    action: Extract<MetaAction, { type: "persist" }>,
  ): Promise<void> {
    let outcome: { ok: true } | { ok: false; error: unknown };
    try {
      for (const write of action.writes) {
        if (write.op === "deleteTree") await this.deleteTree(write.path);
      }
      const sets = action.writes.flatMap((w) =>
        w.op === "set" ? [{ op: "set" as const, path: w.path, data: w.data }] : [],
      );
      if (sets.length > 0) await this.deps.store.multi(sets);
      outcome = { ok: true };
    } catch (error) {
      this.logger.warn(
        { err: error, kind: action.kind, opId: action.opId, attempt: action.attempt },
        "meta: persist failed",
      );
      outcome = { ok: false, error };
    }
    if (this.core !== core) return; // leadership changed meanwhile; this core is gone
    const nowMs = this.deps.clock.nowMs();
    this.execute(
      core,
      core.step(
        outcome.ok
          ? { type: "persisted", nowMs, opId: action.opId }
          : { type: "persistFailed", nowMs, opId: action.opId, error: outcome.error },
      ),
    );
    // A persisted full-duplication step (DS_APP, say) makes its remote call due.
    this.runRemoteTasks(core);
  }

  private async deleteTree(path: string): Promise<void> {
    try {
      await this.deps.store.delete(path, { recursive: true });
    } catch (error) {
      if (!isTalariaError(error, "ERR_OBJECT_NOT_FOUND")) throw error;
    }
  }

  /** Every node under the cluster root, depth first. */
  private async readRecords(): Promise<MetaRecord[]> {
    const root = this.options.core?.clusterRoot ?? "/talaria";
    const max = this.options.restoreNodesMax ?? RESTORE_NODES_MAX_DEFAULT;
    const records: MetaRecord[] = [];
    const stack = [root];
    while (stack.length > 0) {
      const path = stack.pop() as string;
      const value = await this.deps.store.get(path);
      if (value === undefined) continue;
      if (path !== root) records.push({ path, value });
      if (records.length > max)
        throw new TalariaError(
          "ERR_LIMIT_EXCEEDED",
          `more than ${max} meta-store nodes under ${root}`,
        );
      for (const child of await this.deps.store.children(path)) {
        // The election's candidates are not metadata.
        if (path === root && child === "leader_election") continue;
        stack.push(`${path}/${child}`);
      }
    }
    return records;
  }

  private lose(reason: string): void {
    if (this.core === undefined && this.stopped) return;
    this.logger.error({ reason }, "meta: no longer leader");
    this.core = undefined;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const pending of this.pending.values())
      pending.reject(new TalariaError("ERR_NOT_LEADER", reason));
    this.pending.clear();
    this.closeRemoteMetas();
    if (!this.stopped) this.deps.onLeadershipLost?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.core = undefined;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const pending of this.pending.values())
      pending.reject(new TalariaError("ERR_NOT_LEADER", "meta server stopping"));
    this.pending.clear();
    this.closeRemoteMetas();
    await this.election.resign().catch(() => undefined);
  }
}
