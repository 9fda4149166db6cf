/**
 * A replica server's host for its partition replicas (Pegasus `replica_stub`): it opens replicas
 * as the meta server assigns them (or as a primary starts teaching this server), beacons the
 * meta server and feeds each replica its lease and configuration, carries replica messages and
 * configuration requests, and serves checkpoints to learners. Decisions stay in the cores.
 *
 * Invariants:
 *  - The lease fed to replicas is measured from when the beacon was SENT, so it never outlives
 *    what the meta server granted.
 *  - One PartitionReplica per gpid; concurrent opens of the same gpid share one promise.
 *  - A peer's bad message is refused for that request only; it never reaches a core.
 */
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { MetaSession } from "../client/meta-session.ts";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import type { ReadLimits, WriteLimits } from "../common/limits.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import { type RemoteTransportOptions, resyncMarks } from "../config/index.ts";
import {
  checkDuplicateRequest,
  type DuplicateReceiverPolicy,
  type DuplicationMetrics,
  type SourceOptions,
} from "../duplication/index.ts";
import type { ReplicaMetrics } from "../metrics/index.ts";
import type { PlogFs } from "../plog/index.ts";
import {
  DeadLetterMethod,
  decodeListDeadLettersRequest,
  decodeReplayDeadLettersRequest,
} from "../protocol/dead-letter-messages.ts";
import { DupCheckpointMethod } from "../protocol/dup-checkpoint-messages.ts";
import {
  type AppInfo,
  type BeaconResponse,
  type Gpid,
  gpidKey,
  isNodeAddress,
  MetaMethod,
  type NodeAddress,
  type PartitionConfiguration,
  parseGpid,
  type ReplicaReport,
  type ReplicaStatus,
  type UpdateConfigurationRequest,
  type UpdateConfigurationResponse,
} from "../protocol/index.ts";
import type { ReplicaMessage } from "../protocol/replica-messages.ts";
import { ReplicaMethod } from "../protocol/replica-messages.ts";
import { type CoalesceLimits, openPrivateLogOn, PartitionReplica } from "../replica/index.ts";
import { defaultReplicationOptions, type ReplicationOptions } from "../replication/index.ts";
import { RpcClient, type RpcServer, type Transport } from "../rpc/index.ts";
import { AppEnvPolicy } from "./app-env-policy.ts";
import { CheckpointMethod, CheckpointSource, fetchCheckpoint } from "./checkpoint-transfer.ts";
import { registerClientHandlers, type ServedPartition } from "./client-handlers.ts";
import { listDeadLetters, replayDeadLettersHere } from "./duplication-admin.ts";
import { DuplicationAgent } from "./duplication-agent.ts";
import {
  CheckpointHttpClient,
  FollowerCopies,
  type FollowerCopyLimits,
  type FollowerCopyMetrics,
  type MasterConnector,
} from "./follower/index.ts";
import type { FullSyncMetrics } from "./full-sync-metrics.ts";
import type { LearnerCheckpointMetrics } from "./learner-checkpoint-metrics.ts";
import { LearnerCheckpointStream } from "./learner-checkpoint-stream.ts";
import { decodeConfig, decodePeerMessage, encodePeerMessage } from "./peer-wire.ts";
import { ReplicaCollector } from "./replica-gc.ts";
import type { TargetLagMetrics } from "./target-lag-metrics.ts";

/** `[replication] gc_disk_garbage_replica_interval_seconds` default (Pegasus: 1 day). */
const STALE_REPLICA_HOLD_MS_DEFAULT = 86_400_000;

export interface ReplicaStubOptions {
  readonly self: NodeAddress;
  readonly dataDir: string;
  readonly metaServers: readonly string[];
  readonly clusterId: number;
  readonly beaconIntervalMs: number;
  readonly gcIntervalMs: number;
  /** How long a stale replica's data is kept once retired (default 1 day). */
  readonly staleReplicaHoldMs?: number;
  /** `[replication] checkpoint_interval_seconds`, in ms: how often storage is flushed durable. */
  readonly checkpointIntervalMs?: number;
  readonly replication?: Partial<ReplicationOptions>;
  readonly writeLimits?: WriteLimits;
  /** `[replication] write_coalesce_max_updates` / `_bytes`: client writes per mutation. */
  readonly writeCoalesce?: CoalesceLimits;
  readonly readLimits?: ReadLimits;
  readonly plogSegmentBytesMax?: number;
  /** `[replication] log_private_tail_cache_kb`, in bytes. */
  readonly plogTailCacheBytes?: number;
  readonly plogFsync?: boolean;
  readonly tombstoneRetentionSeconds?: number;
  readonly sweepIntervalMs?: number;
  readonly sweepBudget?: number;
  /** Timeout of one peer message or meta call. */
  readonly callTimeoutMs?: number;
  /**
   * Full duplication, follower side (follower/): `rateBytesPerSec` is
   * `[replication] dup_checkpoint_copy_rate_mb` in bytes per second (0 = unlimited; default
   * 100 MiB/s).
   */
  readonly followerCopy?: {
    readonly rateBytesPerSec: number;
    readonly limits?: Partial<FollowerCopyLimits>;
  };
  /** Duplication (absent: this server ships nothing and refuses DUPLICATE writes' unknown ids). */
  readonly duplication?: {
    readonly syncPeriodMs: number;
    readonly source: SourceOptions;
    readonly receiver: DuplicateReceiverPolicy;
    /** How to reach a remote cluster (`remoteTransportOptions(config, name)`); absent: directly. */
    readonly remoteTransport?: (clusterName: string) => RemoteTransportOptions;
    /** `[duplication-group]` (cluster name → id), for full re-syncs. */
    readonly clusterIds?: Readonly<Record<string, number>>;
  };
}

export interface ReplicaStubDeps {
  readonly transport: Transport;
  readonly logger?: Logger;
  readonly metrics?: ReplicaMetrics;
  readonly duplicationMetrics?: DuplicationMetrics;
  readonly targetLag?: TargetLagMetrics;
  readonly followerCopyMetrics?: FollowerCopyMetrics;
  readonly fullSyncMetrics?: FullSyncMetrics;
  readonly learnerCheckpointMetrics?: LearnerCheckpointMetrics;
  /** The file system the replicas' private logs use (default: nodeFs, syncs on the thread pool). */
  readonly plogFs?: PlogFs;
}

function duplicationDisabled(): TalariaError {
  return new TalariaError("ERR_OPERATION_DISABLED", "duplication is not enabled on this cluster", {
    details: { reason: "duplication_disabled" },
  });
}

interface Hosted {
  readonly replica: PartitionReplica;
  policy: AppEnvPolicy | undefined;
}

const CALL_TIMEOUT_MS_DEFAULT = 5000;
const FOLLOWER_COPY_RATE_BYTES_PER_SEC_DEFAULT = 100 * 1024 * 1024;
const CHECKPOINT_INTERVAL_MS_DEFAULT = 100_000;

export class ReplicaStub {
  private readonly options: ReplicaStubOptions;
  private readonly deps: ReplicaStubDeps;
  private readonly logger: Logger;
  private readonly meta: MetaSession;
  private readonly hosted = new Map<string, Hosted>();
  private readonly opening = new Map<string, Promise<Hosted>>();
  private readonly apps = new Map<number, AppInfo>();
  /** Tables marked by a remote cluster's re-sync (app env duplication.resync_from.<cluster>). */
  private readonly resyncMarked = new Map<number, readonly string[]>();
  /** Deletes what the meta server says no configuration wants (replica-gc.ts). */
  private readonly collector: ReplicaCollector;
  private readonly timers: NodeJS.Timeout[] = [];
  private beaconInFlight = false;
  private readonly duplication: DuplicationAgent | undefined;
  /** Full duplication, follower side: replicas filled from the master cluster before they open. */
  private readonly followers: FollowerCopies;
  /** Transports of remote clusters reached through a proxy (remoteTransportFor). */
  private readonly remoteTransports = new Map<string, RpcClient>();
  /** HTTP clients of remote clusters, for the follower copy's bulk path (remoteHttpFor). */
  private readonly remoteHttp = new Map<string, CheckpointHttpClient>();
  /** The checkpoints hosted replicas hold for learners, served by CHUNK and over HTTP. */
  readonly learnerCheckpoints = new CheckpointSource(
    (gpid, id) => this.hosted.get(gpidKey(gpid))?.replica.checkpointPath(id),
    { onCrc: (outcome) => this.deps.learnerCheckpointMetrics?.fileCrc(outcome) },
  );
  /** This server's learners copy checkpoints over their primary's HTTP server with it. */
  private readonly learnerStream: LearnerCheckpointStream;
  private closed = false;

  /**
   * The one place that decides how this server reaches another cluster's meta and replica
   * servers (the follower copy's MasterConnector): through the cluster's `[duplication-proxy]`
   * when one is configured, else over the server's own transport.
   */
  private readonly remoteTransportFor: MasterConnector = (cluster) => {
    const options = this.options.duplication?.remoteTransport?.(cluster) ?? {};
    if (Object.keys(options).length === 0) return this.deps.transport;
    let client = this.remoteTransports.get(cluster);
    if (client === undefined) {
      client = new RpcClient({ name: `replica ${this.options.self} → ${cluster}`, ...options });
      this.remoteTransports.set(cluster, client);
    }
    return client;
  };

  /** The same rule for the follower copy's HTTP bulk path: one client per cluster (proxy or not). */
  private readonly remoteHttpFor = (cluster: string): CheckpointHttpClient => {
    let client = this.remoteHttp.get(cluster);
    if (client === undefined) {
      client = new CheckpointHttpClient(this.options.duplication?.remoteTransport?.(cluster) ?? {});
      this.remoteHttp.set(cluster, client);
    }
    return client;
  };

  constructor(options: ReplicaStubOptions, deps: ReplicaStubDeps) {
    this.options = options;
    this.deps = deps;
    this.logger = (deps.logger ?? silentLogger).child({
      component: "replica-stub",
      node: options.self,
    });
    this.meta = new MetaSession(options.metaServers, deps.transport);
    this.learnerStream = new LearnerCheckpointStream({}, { logger: this.logger });
    this.followers = new FollowerCopies(
      {
        self: options.self,
        dataDir: options.dataDir,
        rateBytesPerSec:
          options.followerCopy?.rateBytesPerSec ?? FOLLOWER_COPY_RATE_BYTES_PER_SEC_DEFAULT,
        ...(options.followerCopy?.limits === undefined
          ? {}
          : { limits: options.followerCopy.limits }),
      },
      {
        connect: this.remoteTransportFor,
        connectHttp: this.remoteHttpFor,
        logger: this.logger,
        onInstalled: (gpid, config) => this.openInstalledFollower(gpid, config),
        ...(deps.followerCopyMetrics === undefined ? {} : { metrics: deps.followerCopyMetrics }),
      },
    );
    this.collector = new ReplicaCollector({
      dataDir: options.dataDir,
      staleHoldMs: options.staleReplicaHoldMs ?? STALE_REPLICA_HOLD_MS_DEFAULT,
      logger: this.logger,
      metrics: deps.metrics,
      isClosed: () => this.closed,
      release: (which) => this.release(which),
      stopFollowerCopies: (appId) => this.followers.dropApp(appId),
      ownsFollowerCopy: (gpid) => this.followers.owns(gpid),
    });
    const duplication = options.duplication;
    this.duplication =
      duplication === undefined
        ? undefined
        : new DuplicationAgent(
            {
              self: options.self,
              dataDir: options.dataDir,
              syncPeriodMs: duplication.syncPeriodMs,
              source: duplication.source,
              callTimeoutMs: this.callTimeoutMs,
              ...(duplication.remoteTransport === undefined
                ? {}
                : { remoteTransport: duplication.remoteTransport }),
              ...(duplication.clusterIds === undefined
                ? {}
                : { clusterIds: duplication.clusterIds }),
            },
            {
              meta: this.meta,
              replicas: () => [...this.hosted.values()].map((h) => h.replica),
              resyncMarks: () => this.resyncMarked,
              logger: this.logger,
              ...(deps.duplicationMetrics === undefined
                ? {}
                : { metrics: deps.duplicationMetrics }),
              ...(deps.fullSyncMetrics === undefined
                ? {}
                : { fullSyncMetrics: deps.fullSyncMetrics }),
            },
          );
  }

  /** The duplication side of this server (HTTP, dead letters). */
  get duplicationAgent(): DuplicationAgent | undefined {
    return this.duplication;
  }

  /**
   * Names this server's HTTP server ("host:port") in dup checkpoint OPEN and learner checkpoint
   * FILES replies, so follower copies and learners stream the files over it
   * (DUP_CHECKPOINT_HTTP_PATH, LEARNER_CHECKPOINT_HTTP_PATH); undefined: CHUNK only.
   */
  advertiseHttp(address: string | undefined): void {
    this.duplication?.fullSync.server.advertiseHttp(address);
    this.learnerCheckpoints.advertiseHttp(address);
  }

  private get callTimeoutMs(): number {
    return this.options.callTimeoutMs ?? CALL_TIMEOUT_MS_DEFAULT;
  }

  /** Registers every RPC this server answers (client, peer, checkpoint). */
  register(server: RpcServer): void {
    registerClientHandlers(server, (gpid) => this.served(gpid));
    for (const method of Object.values(ReplicaMethod)) {
      server.handle(method, async (payload, context) => {
        const message = decodePeerMessage(method, payload);
        // The sender's listening address (its identity in configurations), not its socket's.
        const claimed = (payload as { from?: unknown }).from;
        const from = isNodeAddress(claimed) ? claimed : context.remoteAddress;
        await this.deliver(from, message);
        return {};
      });
    }
    const agent = this.duplication;
    const replicas = () => [...this.hosted.values()].map((h) => h.replica);
    server.handle(DeadLetterMethod.LIST, async (payload) => {
      if (agent === undefined) throw duplicationDisabled();
      return listDeadLetters(
        this.options.self,
        agent,
        replicas(),
        decodeListDeadLettersRequest(payload),
      );
    });
    server.handle(DeadLetterMethod.REPLAY, async (payload) => {
      if (agent === undefined) throw duplicationDisabled();
      return replayDeadLettersHere(
        this.options.self,
        agent,
        replicas(),
        decodeReplayDeadLettersRequest(payload),
      );
    });
    const source = this.learnerCheckpoints;
    server.handle(CheckpointMethod.FILES, (payload) => source.files(payload));
    server.handle(CheckpointMethod.CHUNK, (payload) => source.chunk(payload));
    // Full duplication, master side: follower primaries of another cluster pull dup checkpoints.
    server.handle(DupCheckpointMethod.OPEN, async (payload) => {
      if (agent === undefined) throw duplicationDisabled();
      return agent.fullSync.server.open(payload);
    });
    server.handle(DupCheckpointMethod.CHUNK, async (payload) => {
      if (agent === undefined) throw duplicationDisabled();
      return agent.fullSync.server.chunk(payload);
    });
  }

  /**
   * Opens every replica found on disk, then starts beaconing: the meta server reads a missing
   * report as "this server holds no replica of the partition", so the first beacon must already
   * name everything this server has data for.
   */
  async start(): Promise<void> {
    await mkdir(this.options.dataDir, { recursive: true });
    await this.collector.start();
    for (const entry of await readdir(this.options.dataDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      let gpid: Gpid;
      try {
        gpid = parseGpid(entry.name);
      } catch {
        continue;
      }
      try {
        // An unfinished follower copy is not a replica yet: it resumes once meta configures it.
        if (await this.followers.adoptFromDisk(gpid, join(this.options.dataDir, entry.name)))
          continue;
        await this.open(gpid);
      } catch (error) {
        this.logger.error({ err: error, gpid: entry.name }, "cannot open a replica found on disk");
      }
    }
    this.logger.info({ replicas: this.hosted.size }, "replicas loaded");
    const beacon = setInterval(() => void this.beacon(), this.options.beaconIntervalMs);
    const gc = setInterval(() => void this.gcLogs(), this.options.gcIntervalMs);
    const checkpoint = setInterval(
      () => void this.checkpointAll(),
      this.options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS_DEFAULT,
    );
    checkpoint.unref();
    this.timers.push(checkpoint);
    beacon.unref();
    gc.unref();
    this.timers.push(beacon, gc);
    void this.beacon();
    this.duplication?.start();
  }

  /** Replicas hosted here, for HTTP and beacons. */
  reports(): ReplicaReport[] {
    const hosted = [...this.hosted.values()].map((h) => h.replica.report());
    return [...hosted, ...this.followers.reports()];
  }

  /** Tables of which this server keeps replica data without hosting it (dropped ones), sorted. */
  storedAppIds(): number[] {
    return this.collector.storedAppIds();
  }

  /** Full duplication, follower side: the copies this server runs or waits to resume. */
  get followerCopies(): FollowerCopies {
    return this.followers;
  }

  replica(gpid: Gpid): PartitionReplica | undefined {
    return this.hosted.get(gpidKey(gpid))?.replica;
  }

  private served(gpid: Gpid): ServedPartition | undefined {
    const hosted = this.hosted.get(gpidKey(gpid));
    const app = this.apps.get(gpid.appId);
    if (hosted === undefined || app === undefined) return undefined;
    const policy = this.policyOf(hosted, app);
    return {
      partitionCount: app.partitionCount,
      refusal: (kind) => hosted.replica.refusal(kind),
      write: (request) => {
        // A DUPLICATE from a cluster that is us or not in our [duplication-group] is refused.
        if (request.op === "duplicate") {
          const receiver = this.options.duplication?.receiver;
          if (receiver === undefined) {
            throw new TalariaError(
              "ERR_DUP_CLUSTER_ID_REFUSED",
              "duplication is not enabled on this cluster",
              {
                details: { beforeExecution: true },
              },
            );
          }
          checkDuplicateRequest(request, receiver, gpidKey(gpid));
          if (request.resync === true) this.duplication?.noteResyncReceived(gpid);
          return hosted.replica.write(request).then((result) => {
            const nowMs = Date.now();
            this.deps.targetLag?.observe(request.entries, nowMs);
            return { ...result, receiverNowMs: nowMs };
          });
        }
        return hosted.replica.write(request);
      },
      reads: hosted.replica.reads,
      ...(policy === undefined ? {} : { policy }),
    };
  }

  private policyOf(hosted: Hosted, app: AppInfo): AppEnvPolicy | undefined {
    if (Object.keys(app.envs).length === 0) return undefined;
    if (hosted.policy?.source !== JSON.stringify(app.envs))
      hosted.policy = new AppEnvPolicy(app.envs, app.partitionCount);
    return hosted.policy;
  }

  /** Opens the replica of `gpid` (creating it empty when new). */
  private open(gpid: Gpid): Promise<Hosted> {
    const key = gpidKey(gpid);
    const existing = this.hosted.get(key);
    if (existing !== undefined) return Promise.resolve(existing);
    let opening = this.opening.get(key);
    if (opening === undefined) {
      opening = this.openNow(gpid).finally(() => this.opening.delete(key));
      this.opening.set(key, opening);
    }
    return opening;
  }

  private async openNow(gpid: Gpid): Promise<Hosted> {
    const key = gpidKey(gpid);
    const refusal = this.collector.openRefusal(gpid);
    if (refusal !== undefined) throw refusal;
    if (this.followers.owns(gpid)) {
      throw new TalariaError("ERR_BUSY", `replica ${key} is being copied from the master cluster`, {
        details: { gpid: key },
      });
    }
    const dir = join(this.options.dataDir, key);
    await mkdir(dir, { recursive: true });
    const o = this.options;
    const replica = await PartitionReplica.open(
      {
        dir,
        self: o.self,
        gpid,
        clusterId: o.clusterId,
        // Every replica of a partition must decide deletes alike (a tombstone on one and a physical
        // delete on another would let a late, older duplicated write resurrect the key on one of
        // them only), and any table may become duplicated: cluster replicas always keep tombstones;
        // the sweeper collects them after tombstoneRetentionSeconds.
        keepTombstones: true,
        replication: { ...defaultReplicationOptions, ...o.replication },
        ...(o.writeLimits === undefined ? {} : { writeLimits: o.writeLimits }),
        ...(o.writeCoalesce === undefined ? {} : { writeCoalesce: o.writeCoalesce }),
        ...(o.readLimits === undefined ? {} : { readLimits: o.readLimits }),
        ...(o.plogSegmentBytesMax === undefined
          ? {}
          : { plogSegmentBytesMax: o.plogSegmentBytesMax }),
        ...(o.plogTailCacheBytes === undefined ? {} : { plogTailCacheBytes: o.plogTailCacheBytes }),
        ...(o.plogFsync === undefined ? {} : { plogFsync: o.plogFsync }),
        ...(o.tombstoneRetentionSeconds === undefined
          ? {}
          : { tombstoneRetentionSeconds: o.tombstoneRetentionSeconds }),
        ...(o.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: o.sweepIntervalMs }),
        ...(o.sweepBudget === undefined ? {} : { sweepBudget: o.sweepBudget }),
        ...(this.deps.metrics === undefined ? {} : { metrics: this.deps.metrics }),
      },
      {
        send: (to, message) => this.send(to, message),
        requestConfigChange: (request) => void this.requestConfigChange(request),
        fetchCheckpoint: (ref, scratchDir) =>
          fetchCheckpoint(this.deps.transport, gpid, ref, scratchDir, {
            http: this.learnerStream,
            logger: this.logger,
            ...(this.deps.learnerCheckpointMetrics === undefined
              ? {}
              : { metrics: this.deps.learnerCheckpointMetrics }),
          }),
        logger: this.logger,
        ...(this.deps.plogFs === undefined ? {} : { openLog: openPrivateLogOn(this.deps.plogFs) }),
        ...(this.duplication === undefined
          ? {}
          : { holdTombstones: () => this.duplication?.tombstonesHeld(gpid.appId) !== false }),
      },
    );
    // Until this server's next duplication sync says which duplications hold the log, hold all of
    // it: a replica opened (or reopened after a restart) must not collect log a duplication needs.
    if (this.duplication !== undefined) replica.setDuplicationLogHold(1);
    const hosted: Hosted = { replica, policy: undefined };
    if (this.closed) {
      await replica.close();
      throw new Error("replica server closed");
    }
    this.hosted.set(key, hosted);
    return hosted;
  }

  private send(to: NodeAddress, message: ReplicaMessage): void {
    // One-way: the core resends what matters, so a lost message is only logged at debug.
    const { transport } = this.deps;
    const payload = { ...encodePeerMessage(message), from: this.options.self };
    const options = { timeoutMs: this.callTimeoutMs };
    if (transport.notify !== undefined) {
      transport.notify(to, message.method, payload, options);
      return;
    }
    transport
      .call(to, message.method, payload, options)
      .catch((error: unknown) =>
        this.logger.debug(
          { err: error, to, method: message.method },
          "replica message not delivered",
        ),
      );
  }

  private async deliver(from: NodeAddress, message: ReplicaMessage): Promise<void> {
    const known = this.hosted.get(gpidKey(message.gpid));
    // A primary teaching this server (or a new configuration naming it) creates the replica;
    // not while the follower side fills it from the master cluster.
    const hosted =
      known ??
      ((message.method === ReplicaMethod.GROUP_CHECK || message.method === ReplicaMethod.PREPARE) &&
      !this.followers.owns(message.gpid)
        ? await this.open(message.gpid)
        : undefined);
    hosted?.replica.step({ type: "MESSAGE", from, message });
  }

  private async requestConfigChange(request: UpdateConfigurationRequest): Promise<void> {
    const replica = this.hosted.get(gpidKey(request.gpid))?.replica;
    try {
      const response = (await this.meta.call(
        MetaMethod.UPDATE_CONFIGURATION,
        request,
        this.callTimeoutMs,
      )) as UpdateConfigurationResponse;
      replica?.step({ type: "CONFIG", config: decodeConfig(response.config, "config") });
    } catch (error) {
      let config: ReturnType<typeof decodeConfig> | undefined;
      if (isTalariaError(error) && error.details.config !== undefined) {
        try {
          config = decodeConfig(error.details.config, "details.config");
        } catch {
          config = undefined;
        }
      }
      this.logger.info(
        { err: error, gpid: gpidKey(request.gpid), change: request.change },
        "configuration change refused",
      );
      replica?.step(
        config === undefined
          ? { type: "CONFIG_CHANGE_REFUSED", request }
          : { type: "CONFIG_CHANGE_REFUSED", request, config },
      );
    }
  }

  private async beacon(): Promise<void> {
    if (this.beaconInFlight || this.closed) return;
    this.beaconInFlight = true;
    const sentAt = new Map([...this.hosted].map(([key, h]) => [key, h.replica.nowMs()]));
    const sentAtMs = Date.now();
    try {
      const reply = (await this.meta.call(
        MetaMethod.BEACON,
        {
          node: this.options.self,
          replicas: this.reports(),
          storedAppIds: this.storedAppIds(),
        },
        this.callTimeoutMs,
      )) as BeaconResponse;
      await this.onBeaconReply(reply, sentAt, sentAtMs);
    } catch (error) {
      this.logger.warn({ err: error }, "beacon failed");
    } finally {
      this.beaconInFlight = false;
    }
  }

  /** Keeps `appId`'s re-sync marks (its tombstones are held while any stays) and logs changes. */
  private noteResyncMarks(appId: number, clusters: readonly string[]): void {
    const before = this.resyncMarked.get(appId) ?? [];
    if (before.join(",") === clusters.join(",")) return;
    if (clusters.length > 0) this.resyncMarked.set(appId, clusters);
    else this.resyncMarked.delete(appId);
    if (clusters.length > 0 && before.length === 0)
      this.logger.warn(
        { appId, from: clusters },
        "tombstones held: a remote cluster re-syncs into this table (app env duplication.resync_from.*); its replicas here collect no tombstone until the mark is removed",
      );
    else if (clusters.length === 0)
      this.logger.info({ appId, from: before }, "re-sync mark removed: tombstone holds as before");
  }

  private async onBeaconReply(
    reply: BeaconResponse,
    sentAt: ReadonlyMap<string, number>,
    sentAtMs: number,
  ): Promise<void> {
    for (const app of reply.apps) {
      this.apps.set(app.appId, app);
      this.collector.noteServed(app.appId);
      this.noteResyncMarks(app.appId, resyncMarks(app.envs));
    }
    for (const app of reply.droppedApps ?? []) {
      this.apps.delete(app.appId);
      this.noteResyncMarks(app.appId, []);
    }
    const dropped = new Set((reply.droppedApps ?? []).map((app) => app.appId));
    for (const appId of dropped) {
      await this.followers.dropApp(appId);
      this.collector.noteDropped(appId);
    }
    for (const [key, hosted] of this.hosted) {
      if (dropped.has(hosted.replica.report().gpid.appId)) {
        this.hosted.delete(key);
        this.logger.info(
          { gpid: key },
          "table dropped: closing its replica (data kept for recall)",
        );
        await hosted.replica.close();
      }
    }
    // Never a table the same reply says this server serves (it cannot be both).
    const serving = new Set(reply.apps.map((app) => app.appId));
    const removed = (reply.removedAppIds ?? []).filter(
      (appId) => Number.isSafeInteger(appId) && !serving.has(appId),
    );
    for (const appId of removed) this.apps.delete(appId);
    if (removed.length > 0) this.collector.collectRemoved(removed);
    const members = new Set(reply.configs.map((config) => gpidKey(config.gpid)));
    const stale = (reply.staleReplicas ?? []).filter(
      (gpid) =>
        Number.isSafeInteger(gpid?.appId) &&
        Number.isSafeInteger(gpid?.partitionIndex) &&
        !members.has(gpidKey(gpid)),
    );
    if (stale.length > 0) this.collector.retireStale(stale);
    for (const raw of reply.configs) {
      const config = decodeConfig(raw, "config");
      // A follower primary copies its checkpoint first (in the background); it opens after.
      if (
        !this.hosted.has(gpidKey(config.gpid)) &&
        (await this.followers.claim(config, this.apps.get(config.gpid.appId)))
      )
        continue;
      const hosted = await this.open(config.gpid);
      hosted.replica.step({ type: "CONFIG", config });
    }
    for (const proposal of reply.learnerProposals) {
      this.hosted.get(gpidKey(proposal.gpid))?.replica.step({ type: "LEARNER_PROPOSED", proposal });
    }
    for (const [key, hosted] of this.hosted) {
      // Measured from the send, in each replica's own time base.
      const start = sentAt.get(key) ?? hosted.replica.nowMs() - (Date.now() - sentAtMs);
      hosted.replica.step({ type: "LEASE", expiresAtMs: start + reply.leaseMs });
    }
  }

  /** Stops hosting (and closes) the replicas `which` picks, once the opens in progress are done. */
  private async release(which: (gpid: Gpid, status: ReplicaStatus) => boolean): Promise<void> {
    await Promise.allSettled([...this.opening.values()]);
    for (const [key, hosted] of this.hosted) {
      const report = hosted.replica.report();
      if (!which(report.gpid, report.status)) continue;
      this.hosted.delete(key);
      await hosted.replica.close();
    }
  }

  /**
   * A follower copy was installed in the replica's directory: open the replica, give it the
   * configuration that makes it primary, and beacon now so the lease follows at once. Its
   * secondaries will learn by checkpoint (its log starts after the copy), so the checkpoint for
   * them is made now, while meta proposes them, instead of when the first one asks — and its
   * files are listed with their CRC32C (cached for FILES), which reads it back from disk.
   */
  private async openInstalledFollower(
    gpid: Gpid,
    config: PartitionConfiguration | undefined,
  ): Promise<void> {
    if (this.closed) return;
    const hosted = await this.open(gpid);
    if (config !== undefined) hosted.replica.step({ type: "CONFIG", config });
    void this.beacon();
    if ((config?.maxReplicaCount ?? 1) > 1)
      void this.prepareLearnerCheckpoint(gpid, hosted.replica);
  }

  private async prepareLearnerCheckpoint(gpid: Gpid, replica: PartitionReplica): Promise<void> {
    const ref = await replica.prepareLearnerCheckpoint();
    if (ref === undefined || this.closed) return;
    await this.learnerCheckpoints.files({ gpid, id: ref.id }).catch((error: unknown) => {
      this.logger.warn({ err: error, gpid: gpidKey(gpid) }, "learner checkpoint not listed ahead");
    });
  }

  /** The checkpoint timer: makes each replica's applied state durable (see flushStorage). */
  private async checkpointAll(): Promise<void> {
    for (const [key, hosted] of this.hosted) {
      try {
        await hosted.replica.flushStorage();
      } catch (error) {
        this.logger.warn({ err: error, gpid: key }, "storage flush failed");
      }
    }
  }

  private async gcLogs(): Promise<void> {
    for (const [key, hosted] of this.hosted) {
      try {
        await hosted.replica.gcLog();
      } catch (error) {
        this.logger.warn({ err: error, gpid: key }, "plog gc failed");
      }
    }
    await this.collector.sweep(Date.now());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.learnerStream.close();
    await this.followers.close();
    await this.collector.settled();
    await this.duplication?.close();
    await Promise.allSettled([...this.opening.values()]);
    await Promise.all([...this.hosted.values()].map((h) => h.replica.close()));
    this.hosted.clear();
    await Promise.all([...this.remoteTransports.values()].map((client) => client.close()));
    for (const client of this.remoteHttp.values()) client.close();
  }
}
