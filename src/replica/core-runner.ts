/**
 * Performs a ReplicaCore's actions with real I/O — the runtime half of src/replication's I/O
 * contract (src/replication/core/types.ts). PartitionReplica wraps it with client writes,
 * reads and lifecycle.
 *
 * Invariants:
 *  - One event at a time: events that arrive while actions are being performed (a message
 *    delivered synchronously may be answered at once) wait in the mailbox, so actions are
 *    performed exactly in the order the core emitted them.
 *  - Log actions reach the plog in logSeq order; LOG_DURABLE {s} is fed only once s and every
 *    earlier log action are durable (log-driver.ts).
 *  - APPLY reaches storage in emission order (decree order, no gaps) (apply-driver.ts).
 *  - A REPLY resolves its client only after the APPLY emitted before it has been applied
 *    (client-replies.ts), and the hybrid clock has observed every logged timestamp.
 *  - INSTALL_CHECKPOINT starts after every earlier log action and apply has settled; while it
 *    runs, every later action but SEND and REQUEST_CONFIG_CHANGE waits, then runs in order
 *    before the core hears the result.
 *  - After a log, storage, core or install failure the runner stops: it feeds the core nothing
 *    more and fails every open write — a replica that may have lost a mutation must not keep
 *    acknowledging.
 */
import type { Update } from "../codec/mutation.ts";
import { unreachable } from "../common/assert.ts";
import type { Clock } from "../common/clock.ts";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Gpid, NodeAddress } from "../protocol/ids.ts";
import type { CheckpointRef } from "../protocol/replica-messages.ts";
import type { ReplicaCore, ReplicationAction, ReplicationEvent } from "../replication/index.ts";
import type { ApplyResult, StorageEngine, StorageEngineOptions } from "../storage/index.ts";
import { ApplyDriver } from "./apply-driver.ts";
import { commitCheckpoint, prepareCheckpoint } from "./checkpoint-install.ts";
import { ClientReplies } from "./client-replies.ts";
import type { HybridClock } from "./hybrid-clock.ts";
import { LearnerSource } from "./learner-source.ts";
import { LogDriver } from "./log-driver.ts";
import type { PartitionReplicaDeps } from "./partition-replica-options.ts";
import { mutationMaxTimestampUs } from "./replica-files.ts";
import type { ReplicaLog } from "./replica-log.ts";
import type { CoreWriteOutcome } from "./write-sequencer.ts";

export interface CoreRunnerConfig {
  readonly dir: string;
  readonly self: NodeAddress;
  readonly gpid: Gpid;
  readonly clusterId: number;
  readonly keepTombstones: boolean;
  readonly learnerCheckpointsMax: number;
  readonly storageOptions: Omit<StorageEngineOptions, "path">;
  readonly logger: Logger;
  readonly timeClock: Clock;
  readonly ports: Pick<PartitionReplicaDeps, "send" | "requestConfigChange" | "fetchCheckpoint">;
  /** Something happened that may let a waiting write start (a step ran, an apply finished). */
  readonly onProgress: () => void;
  /** A checkpoint install replaced the storage engine. */
  readonly onStorageReplaced: (engine: StorageEngine) => void;
  /** The runner stopped for good after `error`. */
  readonly onFailed: (error: TalariaError) => void;
  /** Duplication's log hold on this replica (learner checkpoints step back to it). */
  readonly logHold: () => number | undefined;
  /** The primary's duplication log hold changed (PEER_LOG_HOLD). */
  readonly onPeerLogHold: (fromDecree: number | undefined) => void;
}

export interface CoreRunnerParts {
  readonly core: ReplicaCore;
  readonly log: ReplicaLog;
  readonly storage: StorageEngine;
  /** Name of the storage environment in use (replica-layout.ts). */
  readonly dataDir: string;
  readonly clock: HybridClock;
}

export class CoreRunner {
  readonly core: ReplicaCore;
  readonly log: ReplicaLog;
  readonly applier: ApplyDriver;
  readonly replies: ClientReplies;
  readonly learners: LearnerSource;
  keepTombstones: boolean;
  private readonly clock: HybridClock;
  private readonly logDriver: LogDriver;
  private dataDir: string;
  private lastNowMs = 0;
  private mailbox: ReplicationEvent[] = [];
  private stepping = false;
  private currentEvent: ReplicationEvent | undefined;
  /** Apply promises of the current batch, by decree, for the REPLY that follows them. */
  private readonly recentApplies = new Map<number, Promise<ApplyResult>>();
  private installation: Promise<void> | undefined;
  private deferred: ReplicationAction[] = [];
  private failure: unknown;
  private stopped = false;

  constructor(
    private readonly config: CoreRunnerConfig,
    parts: CoreRunnerParts,
  ) {
    this.core = parts.core;
    this.log = parts.log;
    this.clock = parts.clock;
    this.dataDir = parts.dataDir;
    this.keepTombstones = config.keepTombstones;
    this.logDriver = new LogDriver(
      parts.log,
      (logSeq) => this.step({ type: "LOG_DURABLE", logSeq }),
      (error) => this.fail(error, "private log write failed"),
    );
    this.applier = new ApplyDriver(parts.storage, config.onProgress, (error) =>
      this.fail(error, "storage apply failed"),
    );
    this.replies = new ClientReplies(config.gpid);
    this.learners = new LearnerSource({
      dir: config.dir,
      self: config.self,
      checkpointsMax: config.learnerCheckpointsMax,
      logger: config.logger,
      log: () => this.log,
      storage: () => this.applier.storage,
      logHold: () => config.logHold(),
    });
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  get failureCause(): unknown {
    return this.failure;
  }

  get installing(): boolean {
    return this.installation !== undefined;
  }

  /** The core's clock: never moves back, whatever the injected clock does. */
  nowMs(): number {
    this.lastNowMs = Math.max(this.lastNowMs, this.config.timeClock.nowMs());
    return this.lastNowMs;
  }

  /** Feeds one event to the core and performs the actions it returns. */
  step(event: ReplicationEvent): void {
    if (this.stopped || this.failure !== undefined) return;
    this.mailbox.push(event);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let next = this.mailbox.shift(); next !== undefined; next = this.mailbox.shift()) {
        if (this.failure !== undefined) break;
        this.currentEvent = next;
        for (const action of this.core.step(next, this.nowMs())) this.perform(action);
      }
    } catch (error) {
      // A programmer error in the core or a port: stop this replica, and let it surface.
      this.fail(error, "replication core step failed");
      throw error;
    } finally {
      this.stepping = false;
      this.currentEvent = undefined;
      this.mailbox = [];
      this.recentApplies.clear();
    }
    this.config.onProgress();
  }

  /** Hands a client write to the core; resolves on its REPLY (after its APPLY is applied). */
  submit(updates: readonly Update[], timestampUs: number): Promise<CoreWriteOutcome> {
    return new Promise<CoreWriteOutcome>((resolve, reject) => {
      const requestId = this.replies.register(resolve, reject);
      this.step({ type: "CLIENT_WRITE", requestId, updates, timestampUs });
    });
  }

  /**
   * Lets what is already in flight finish: the install, the log actions (and the commits and
   * applies their durability triggers), the applies. Then the runner stops taking events.
   */
  async drainAndStop(): Promise<void> {
    await this.installation;
    await this.logDriver.settled();
    // LOG_DURABLE is fed from a microtask; let it run so committed entries get applied.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.applier.settled();
    this.stopped = true;
  }

  fail(error: unknown, what: string): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.config.logger.error({ err: error, dir: this.config.dir }, `${what}; replica stopped`);
    this.config.onFailed(
      new TalariaError("ERR_INVALID_STATE", `replica failed: ${what}`, { cause: error }),
    );
  }

  private perform(action: ReplicationAction): void {
    if (
      this.installation !== undefined &&
      action.type !== "SEND" &&
      action.type !== "REQUEST_CONFIG_CHANGE"
    ) {
      this.deferred.push(action);
      return;
    }
    switch (action.type) {
      case "APPEND_LOG":
        this.clock.observe(mutationMaxTimestampUs(action.mutation));
        this.logDriver.perform(action);
        return;
      case "TRUNCATE_LOG":
        this.logDriver.perform(action);
        return;
      case "APPLY": {
        const ctx = { clusterId: this.config.clusterId, keepTombstones: this.keepTombstones };
        this.recentApplies.set(action.mutation.decree, this.applier.apply(action.mutation, ctx));
        return;
      }
      case "SEND":
        this.config.ports.send(action.to, action.message);
        return;
      case "REPLY": {
        // Refused in the very step that brought it: the core never gave it a decree.
        const event = this.currentEvent;
        const onArrival = event?.type === "CLIENT_WRITE" && event.requestId === action.requestId;
        const applied = action.result.ok
          ? (this.recentApplies.get(action.result.decree) ?? this.applier.lastApply)
          : undefined;
        this.replies.settle(action.requestId, action.result, onArrival, applied);
        return;
      }
      case "REQUEST_CONFIG_CHANGE":
        this.config.ports.requestConfigChange(action.request);
        return;
      case "READ_LOG_FOR_LEARNER":
        void this.learners.serve(action).then(
          (event) => this.step(event),
          (error: unknown) => this.config.logger.warn({ err: error }, "serving a learner failed"),
        );
        return;
      case "INSTALL_CHECKPOINT":
        this.installation = this.install(action.checkpoint);
        return;
      case "PEER_LOG_HOLD":
        this.config.onPeerLogHold(action.fromDecree);
        return;
      default:
        unreachable(action, "replication action");
    }
  }

  private async install(ref: CheckpointRef): Promise<void> {
    const logger = this.config.logger;
    await Promise.all([this.logDriver.settled(), this.applier.settled()]);
    let event: ReplicationEvent | undefined;
    try {
      event = await this.installNow(ref);
    } catch (error) {
      logger.warn({ err: error, checkpoint: ref.id, from: ref.node }, "checkpoint install failed");
      event = { type: "CHECKPOINT_INSTALL_FAILED" };
    } finally {
      this.installation = undefined;
    }
    if (event === undefined) return; // the runner failed
    // What the core emitted meanwhile came before it learns the result: perform that first.
    const deferred = this.deferred;
    this.deferred = [];
    this.stepping = true;
    try {
      for (const action of deferred) if (this.failure === undefined) this.perform(action);
    } finally {
      this.stepping = false;
      this.recentApplies.clear();
    }
    this.step(event);
  }

  /** The event for the core; undefined when switching failed (and the runner stopped). */
  private async installNow(ref: CheckpointRef): Promise<ReplicationEvent | undefined> {
    const { dir, ports, storageOptions } = this.config;
    const prepared = await prepareCheckpoint(
      dir,
      this.dataDir,
      ref,
      ports.fetchCheckpoint,
      storageOptions,
    );
    let committed: Awaited<ReturnType<typeof commitCheckpoint>>;
    try {
      committed = await commitCheckpoint(
        dir,
        this.log,
        this.applier.storage,
        this.dataDir,
        prepared,
      );
    } catch (error) {
      await prepared.engine.close();
      this.fail(error, "switching to an installed checkpoint failed");
      return undefined;
    }
    const engine = prepared.engine;
    this.applier.replace(engine);
    this.dataDir = prepared.dataDir;
    this.clock.observe(engine.maxTimestampUs);
    this.config.onStorageReplaced(engine);
    if (committed.tailDropped !== undefined)
      this.config.logger.warn(
        { err: committed.tailDropped, checkpoint: ref.id },
        "the checkpoint's log tail could not be applied: the log starts after the checkpoint",
      );
    this.config.logger.info(
      {
        checkpoint: ref.id,
        from: ref.node,
        decree: engine.lastAppliedDecree,
        logFirstDecree: committed.logFirstDecree,
      },
      "checkpoint installed",
    );
    return {
      type: "CHECKPOINT_INSTALLED",
      decree: engine.lastAppliedDecree,
      ballot: engine.lastAppliedBallot,
    };
  }
}
