/**
 * The real meta core (src/meta/core) behind the simulator's ConfigAuthority, run the way the meta
 * server runtime runs it (docs/meta-server.md, "What the runtime does"), in virtual time:
 *
 *  - beacons go to `MetaCore.beacon`, UPDATE_CONFIGURATION and CREATE_APP are `request` events,
 *    and the sim's meta ticker calls `tick`;
 *  - each `persist` action is applied to an in-memory meta store (SimMetaStore) and acknowledged,
 *    at once or after a random delay; some time out instead (outcome unknown: applied or not,
 *    at random), and the core retries them;
 *  - the table is created through CREATE_APP once every server has beaconed (or at a deadline);
 *  - the meta server can crash (the core and everything in flight are lost; a write already
 *    sent to the store may still land until a new leader takes over, then it is fenced off) and
 *    restart (`MetaCore.restore` from the store, which must report no problems; nodes get the
 *    core's grace period before they can be declared dead).
 */
import { assert } from "../common/assert.ts";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import {
  type MetaAction,
  MetaCore,
  type MetaCoreOptions,
  type MetaEvent,
  type MetaRequest,
  type MetaResult,
  type RequestId,
} from "../meta/core/index.ts";
import type { NodeAddress } from "../protocol/ids.ts";
import {
  type BeaconRequest,
  type BeaconResponse,
  type CreateAppResponse,
  MetaMethod,
  type QueryConfigurationRequest,
  type QueryConfigurationResponse,
  type UpdateConfigurationRequest,
  type UpdateConfigurationResponse,
} from "../protocol/meta-messages.ts";
import type { PartitionConfiguration } from "../protocol/partition-config.ts";
import type { ConfigAuthority, UpdateConfigurationResult } from "./config-authority.ts";
import type { EventQueue } from "./event-queue.ts";
import type { Prng } from "./prng.ts";
import { SimMetaStore } from "./sim-meta-store.ts";

export interface MetaCoreAuthorityOptions {
  readonly nodes: readonly NodeAddress[];
  /** The table created at the start, and the id it must get. */
  readonly table: {
    readonly appId: number;
    readonly appName: string;
    readonly partitionCount: number;
    readonly replicaCount: number;
  };
  readonly meta: Partial<MetaCoreOptions>;
  /** Largest meta-store latency; 0 applies and acknowledges a persist within the same step. */
  readonly persistDelayMaxMs: number;
  /** Probability that a persist times out (applied or not, at random). */
  readonly persistTimeoutRate: number;
  /** The table is created at the first tick after every server beaconed, or after this time. */
  readonly createDeadlineMs: number;
}

export interface MetaCoreAuthorityDeps {
  readonly queue: EventQueue;
  readonly rng: Prng;
  readonly log: (line: string) => void;
  /** Counts events for the run's stats. */
  readonly count: (what: string) => void;
  /** Reports a violation (a broken contract between the core and its runtime). */
  readonly fail: (message: string) => void;
  /** The core's own structured log (silent when absent). */
  readonly coreLog?: Logger;
}

type PersistAction = Extract<MetaAction, { type: "persist" }>;

export class MetaCoreAuthority implements ConfigAuthority {
  readonly store = new SimMetaStore();
  private core: MetaCore | undefined;
  /** Bumped at each crash and restart: callbacks of an older one are stale. */
  private generation = 0;
  private readonly waiting = new Map<RequestId, (result: MetaResult) => void>();
  private nextRequestId = 1;
  private creating = false;
  private readonly heard = new Set<NodeAddress>();
  private lastConfigs: readonly PartitionConfiguration[] = [];

  constructor(
    private readonly options: MetaCoreAuthorityOptions,
    private readonly deps: MetaCoreAuthorityDeps,
  ) {
    this.core = MetaCore.create(options.meta, this.coreDeps());
  }

  get up(): boolean {
    return this.core !== undefined;
  }

  crash(): void {
    assert(this.core !== undefined, "the meta server is already down");
    this.lastConfigs = this.configurations();
    this.core = undefined;
    this.generation += 1;
    this.waiting.clear();
    this.creating = false;
    this.deps.count("metaCrashes");
  }

  restart(): void {
    assert(this.core === undefined, "the meta server is already up");
    this.generation += 1;
    const core = MetaCore.restore(this.store.list(), this.options.meta, this.coreDeps());
    if (core.restoreReport.problems.length > 0)
      this.deps.fail(`meta restore problems: ${JSON.stringify(core.restoreReport.problems)}`);
    this.core = core;
    this.heard.clear();
  }

  onBeacon(request: BeaconRequest, nowMs: number): BeaconResponse | undefined {
    if (this.core === undefined) return undefined;
    this.heard.add(request.node);
    return this.core.beacon(request, nowMs);
  }

  onUpdateConfiguration(
    request: UpdateConfigurationRequest,
    nowMs: number,
    reply: (result: UpdateConfigurationResult) => void,
  ): void {
    this.request({ method: MetaMethod.UPDATE_CONFIGURATION, body: request }, nowMs, (result) => {
      if (result.ok) {
        reply({ ok: true, response: result.value as UpdateConfigurationResponse });
        return;
      }
      const config = result.error.details.config as PartitionConfiguration | undefined;
      reply({ ok: false, code: result.error.code, ...(config === undefined ? {} : { config }) });
    });
  }

  onQueryConfiguration(
    request: QueryConfigurationRequest,
    _nowMs: number,
  ): QueryConfigurationResponse | undefined {
    try {
      return this.core?.queryConfiguration(request);
    } catch (error) {
      if (isTalariaError(error) && error.code === "ERR_APP_NOT_EXIST") return undefined;
      throw error;
    }
  }

  tick(nowMs: number): void {
    const core = this.core;
    if (core === undefined) return;
    this.handle(core.tick(nowMs));
    this.maybeCreateTable(nowMs);
  }

  configurations(): readonly PartitionConfiguration[] {
    if (this.core !== undefined) this.lastConfigs = this.core.durableState().partitions;
    return this.lastConfigs;
  }

  // -------------------------------------------------------------------------------------------

  private coreDeps(): { log?: Logger } {
    return this.deps.coreLog === undefined ? {} : { log: this.deps.coreLog };
  }

  private request(
    request: MetaRequest,
    nowMs: number,
    onResult: (result: MetaResult) => void,
  ): void {
    const core = this.core;
    if (core === undefined) return;
    const requestId = this.nextRequestId;
    this.nextRequestId += 1;
    this.waiting.set(requestId, onResult);
    this.handle(core.step({ type: "request", nowMs, requestId, request }));
  }

  private feed(event: MetaEvent): void {
    const core = this.core;
    if (core !== undefined) this.handle(core.step(event));
  }

  private handle(actions: readonly MetaAction[]): void {
    for (const action of actions) {
      if (action.type === "persist") {
        this.persist(action);
        continue;
      }
      const onResult = this.waiting.get(action.requestId);
      assert(onResult !== undefined, `a reply to unknown request ${action.requestId}`);
      this.waiting.delete(action.requestId);
      onResult(action.result);
    }
  }

  private persist(action: PersistAction): void {
    const { queue, rng } = this.deps;
    this.deps.count(`meta${action.kind}`);
    const generation = this.generation;
    const timedOut = rng.chance(this.options.persistTimeoutRate);
    const applied = !timedOut || rng.chance(0.5);
    const finish = (): void => {
      // A write sent by a leader that has since crashed may still land, until a new leader
      // restores (the store fences the old leader's session off from then on).
      const current = this.generation === generation;
      const fenced = this.generation > generation + 1;
      if (applied && (current || !fenced)) this.store.apply(action.writes);
      if (!current) return;
      if (!timedOut) {
        this.feed({ type: "persisted", nowMs: queue.nowMs, opId: action.opId });
        return;
      }
      this.deps.count("metaPersistTimeouts");
      const error = new TalariaError("ERR_TIMEOUT", "simulated meta-store timeout");
      this.feed({ type: "persistFailed", nowMs: queue.nowMs, opId: action.opId, error });
    };
    if (this.options.persistDelayMaxMs === 0 && !timedOut) finish();
    else queue.after(rng.int(1, Math.max(1, this.options.persistDelayMaxMs)), finish);
  }

  private maybeCreateTable(nowMs: number): void {
    const core = this.core;
    const table = this.options.table;
    if (core === undefined || this.creating) return;
    if (core.listApps().apps.some((app) => app.appName === table.appName)) return;
    const everyone = this.options.nodes.every((node) => this.heard.has(node));
    if (!everyone && nowMs < this.options.createDeadlineMs) return;
    this.creating = true;
    const { appName, partitionCount, replicaCount } = table;
    const body = { appName, partitionCount, replicaCount };
    this.request({ method: MetaMethod.CREATE_APP, body }, nowMs, (result) => {
      this.creating = false;
      if (!result.ok) {
        this.deps.log(`t=${nowMs} CREATE_APP failed (${result.error.code}); will retry`);
        return;
      }
      const created = result.value as CreateAppResponse;
      if (created.app.appId !== table.appId)
        this.deps.fail(`table created with id ${created.app.appId}, expected ${table.appId}`);
      this.deps.log(`t=${this.deps.queue.nowMs} table ${appName} created`);
    });
  }
}
