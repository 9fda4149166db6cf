/**
 * A simulated replica server: hosts one ReplicaCore per partition replica, performs the cores'
 * actions against SimDisk (the runtime's I/O contract, see src/replication/core/types.ts),
 * beacons to the meta server, drives ticks, and can crash and restart.
 *
 * A crash loses every in-memory core, every log action not yet fsynced and every scheduled
 * callback of the old incarnation; a restart rebuilds each core from its disk (RecoveredState).
 */
import { UpdateKind } from "../codec/mutation.ts";
import { unreachable } from "../common/assert.ts";
import type { Gpid, NodeAddress } from "../protocol/ids.ts";
import { gpidKey } from "../protocol/ids.ts";
import type { PartitionConfiguration } from "../protocol/partition-config.ts";
import { type ReplicaMessage, ReplicaMethod } from "../protocol/replica-messages.ts";
import {
  ReplicaCore,
  type ReplicationAction,
  type ReplicationEvent,
  type ReplicationOptions,
} from "../replication/index.ts";
import type { EventQueue } from "./event-queue.ts";
import type { History } from "./history.ts";
import type { SimMessage } from "./messages.ts";
import type { SimNetwork } from "./network.ts";
import type { Prng } from "./prng.ts";
import { SimDisk, type StorageSnapshot } from "./sim-disk.ts";

export const META_NODE: NodeAddress = "meta:1";

export interface ServerTimings {
  readonly tickIntervalMs: number;
  readonly beaconIntervalMs: number;
  readonly fsyncDelayMaxMs: number;
  readonly logReadDelayMaxMs: number;
  readonly checkpointFetchTimeoutMs: number;
  readonly logRetainedMax: number;
  /** Most log records one learner read returns (in addition to the core's byte bound). */
  readonly learnReadCountMax: number;
}

/** Test-only faults of the harness itself, to prove the checkers can fail. */
export interface HarnessBugs {
  /** Acknowledge every prepare to the primary as soon as it is sent, before anyone logged it. */
  readonly ackBeforeLogged?: boolean;
  /** The in-sim meta server promotes any live replica of the partition, member or not. */
  readonly promoteNonMembers?: boolean;
}

interface HostedReplica {
  readonly gpid: Gpid;
  readonly core: ReplicaCore;
  readonly disk: SimDisk;
  flushScheduled: boolean;
  installingCheckpointId?: string;
}

interface PendingClientWrite {
  readonly client: NodeAddress;
  readonly clientRequestId: number;
}

export class SimReplicaServer {
  up = true;
  incarnation = 0;
  private readonly disks = new Map<string, SimDisk>();
  private replicas = new Map<string, HostedReplica>();
  private clientWrites = new Map<number, PendingClientWrite>();
  private checkpoints = new Map<string, StorageSnapshot>();
  private nextRequestId = 1;
  private nextCheckpointId = 1;
  private lastTimestampUs = 0;

  constructor(
    readonly address: NodeAddress,
    private readonly queue: EventQueue,
    private readonly network: SimNetwork,
    private readonly rng: Prng,
    private readonly history: History,
    private readonly replication: ReplicationOptions,
    private readonly timings: ServerTimings,
    private readonly bugs: HarnessBugs = {},
  ) {}

  start(): void {
    this.up = true;
    this.network.attach(this.address, (from, message) => this.onMessage(from, message));
    for (const [key, disk] of this.disks) {
      const gpid = this.gpidOf(key);
      this.host(
        gpid,
        disk,
        new ReplicaCore(
          { self: this.address, gpid, replication: this.replication },
          disk.recover(),
        ),
      );
    }
    const incarnation = this.incarnation;
    this.every(
      this.rng.int(0, this.timings.tickIntervalMs),
      this.timings.tickIntervalMs,
      incarnation,
      () => {
        for (const replica of this.replicas.values()) this.step(replica, { type: "TICK" });
      },
    );
    this.every(
      this.rng.int(0, this.timings.beaconIntervalMs),
      this.timings.beaconIntervalMs,
      incarnation,
      () => this.beacon(),
    );
  }

  crash(): void {
    this.history.count("crashes");
    this.up = false;
    this.incarnation++;
    this.network.detach(this.address);
    for (const disk of this.disks.values()) disk.crash();
    this.replicas = new Map();
    this.clientWrites = new Map();
    this.checkpoints = new Map();
  }

  restart(): void {
    this.start();
  }

  replica(gpid: Gpid): { core: ReplicaCore; disk: SimDisk } | undefined {
    return this.replicas.get(gpidKey(gpid));
  }

  // -------------------------------------------------------------------------------------------

  private every(
    firstDelayMs: number,
    intervalMs: number,
    incarnation: number,
    run: () => void,
  ): void {
    this.queue.after(firstDelayMs, () => {
      if (this.incarnation !== incarnation) return;
      run();
      this.every(intervalMs, intervalMs, incarnation, run);
    });
  }

  private beacon(): void {
    const replicas = [...this.replicas.values()].map((r) => r.core.report());
    this.network.send(this.address, META_NODE, {
      kind: "BEACON",
      request: { node: this.address, replicas },
      sentAtMs: this.queue.nowMs,
    });
  }

  private onMessage(from: NodeAddress, message: SimMessage): void {
    switch (message.kind) {
      case "BEACON_REPLY": {
        const expiresAtMs = message.sentAtMs + message.response.leaseMs;
        for (const config of message.response.configs) this.onConfig(config);
        for (const replica of this.replicas.values())
          this.step(replica, { type: "LEASE", expiresAtMs });
        for (const proposal of message.response.learnerProposals) {
          const replica = this.replicas.get(gpidKey(proposal.gpid));
          if (replica !== undefined) this.step(replica, { type: "LEARNER_PROPOSED", proposal });
        }
        return;
      }
      case "UPDATE_CONFIG_REPLY": {
        const replica = this.replicas.get(gpidKey(message.request.gpid));
        if (replica === undefined) return;
        if (message.ok && message.config !== undefined)
          this.step(replica, { type: "CONFIG", config: message.config });
        else if (!message.ok) {
          this.step(replica, {
            type: "CONFIG_CHANGE_REFUSED",
            request: message.request,
            ...(message.config === undefined ? {} : { config: message.config }),
          });
        }
        return;
      }
      case "REPLICA":
        this.onReplicaMessage(from, message.message);
        return;
      case "CLIENT_WRITE":
        this.onClientWrite(from, message);
        return;
      case "CHECKPOINT_FETCH": {
        const snapshot = this.checkpoints.get(message.id);
        this.network.send(this.address, from, {
          kind: "CHECKPOINT_DATA",
          gpid: message.gpid,
          id: message.id,
          ...(snapshot === undefined ? {} : { snapshot }),
        });
        return;
      }
      case "CHECKPOINT_DATA":
        this.onCheckpointData(message.gpid, message.id, message.snapshot);
        return;
      default:
        return; // not for replica servers
    }
  }

  private onConfig(config: PartitionConfiguration): void {
    const replica = this.replicas.get(gpidKey(config.gpid)) ?? this.create(config.gpid);
    this.step(replica, { type: "CONFIG", config });
  }

  private onReplicaMessage(from: NodeAddress, message: ReplicaMessage): void {
    let replica = this.replicas.get(gpidKey(message.gpid));
    if (replica === undefined) {
      // A primary teaching us a partition we do not host yet: start it empty.
      if (message.method !== ReplicaMethod.GROUP_CHECK && message.method !== ReplicaMethod.PREPARE)
        return;
      replica = this.create(message.gpid);
    }
    this.step(replica, { type: "MESSAGE", from, message });
  }

  private onClientWrite(
    client: NodeAddress,
    message: Extract<SimMessage, { kind: "CLIENT_WRITE" }>,
  ): void {
    const replica = this.replicas.get(gpidKey(message.gpid));
    if (replica === undefined) {
      this.network.send(this.address, client, {
        kind: "CLIENT_REPLY",
        requestId: message.requestId,
        ok: false,
        code: "ERR_INVALID_STATE",
      });
      return;
    }
    const requestId = this.nextRequestId++;
    this.clientWrites.set(requestId, { client, clientRequestId: message.requestId });
    this.lastTimestampUs = Math.max(this.queue.nowMs * 1000, this.lastTimestampUs + 1);
    this.step(replica, {
      type: "CLIENT_WRITE",
      requestId,
      updates: [
        {
          kind: UpdateKind.PUT,
          hashKey: Buffer.from(message.key),
          sortKey: Buffer.alloc(0),
          value: Buffer.from(message.value),
          expireTs: 0,
        },
      ],
      timestampUs: this.lastTimestampUs,
    });
  }

  private onCheckpointData(gpid: Gpid, id: string, snapshot: StorageSnapshot | undefined): void {
    const replica = this.replicas.get(gpidKey(gpid));
    if (replica === undefined || replica.installingCheckpointId !== id) return;
    delete replica.installingCheckpointId;
    if (snapshot === undefined) {
      this.step(replica, { type: "CHECKPOINT_INSTALL_FAILED" });
      return;
    }
    replica.disk.install(snapshot);
    this.history.recordInstall(this.address, gpid, snapshot.decree);
    this.step(replica, {
      type: "CHECKPOINT_INSTALLED",
      decree: snapshot.decree,
      ballot: snapshot.ballot,
    });
  }

  private create(gpid: Gpid): HostedReplica {
    const key = gpidKey(gpid);
    const disk = this.disks.get(key) ?? new SimDisk(this.timings.logRetainedMax);
    this.disks.set(key, disk);
    return this.host(
      gpid,
      disk,
      new ReplicaCore({ self: this.address, gpid, replication: this.replication }, disk.recover()),
    );
  }

  private host(gpid: Gpid, disk: SimDisk, core: ReplicaCore): HostedReplica {
    const replica: HostedReplica = { gpid, core, disk, flushScheduled: false };
    this.replicas.set(gpidKey(gpid), replica);
    this.history.observe(this.address, this.incarnation, gpid, core.snapshot());
    return replica;
  }

  private step(replica: HostedReplica, event: ReplicationEvent): void {
    const actions = replica.core.step(event, this.queue.nowMs);
    for (const action of actions) this.perform(replica, action);
    this.history.observe(this.address, this.incarnation, replica.gpid, replica.core.snapshot());
  }

  private perform(replica: HostedReplica, action: ReplicationAction): void {
    switch (action.type) {
      case "APPEND_LOG":
        replica.disk.enqueueAppend(action.logSeq, action.mutation);
        this.scheduleFlush(replica);
        return;
      case "TRUNCATE_LOG":
        replica.disk.enqueueTruncate(action.logSeq, action.afterDecree);
        this.history.count("truncations");
        this.scheduleFlush(replica);
        return;
      case "APPLY":
        replica.disk.apply(action.mutation);
        this.history.recordApply(this.address, replica.gpid, action.mutation);
        return;
      case "SEND":
        this.network.send(this.address, action.to, { kind: "REPLICA", message: action.message });
        if (this.bugs.ackBeforeLogged === true && action.message.method === ReplicaMethod.PREPARE) {
          const prepare = action.message;
          this.step(replica, {
            type: "MESSAGE",
            from: action.to,
            message: {
              method: ReplicaMethod.PREPARE_ACK,
              gpid: prepare.gpid,
              ballot: prepare.ballot,
              ackedDecree: prepare.mutation.decree,
            },
          });
        }
        return;
      case "REPLY": {
        const pending = this.clientWrites.get(action.requestId);
        if (pending === undefined) return;
        this.clientWrites.delete(action.requestId);
        const result = action.result;
        this.network.send(this.address, pending.client, {
          kind: "CLIENT_REPLY",
          requestId: pending.clientRequestId,
          ok: result.ok,
          ...(result.ok ? { decree: result.decree } : { code: result.code }),
        });
        return;
      }
      case "REQUEST_CONFIG_CHANGE":
        this.history.count(`request${action.request.change.type}`);
        this.network.send(this.address, META_NODE, {
          kind: "UPDATE_CONFIG",
          request: action.request,
        });
        return;
      case "READ_LOG_FOR_LEARNER":
        this.later(this.rng.int(1, this.timings.logReadDelayMaxMs), replica, () => {
          const mutations = replica.disk.read(
            action.fromDecree,
            action.toDecree,
            this.timings.learnReadCountMax,
          );
          if (mutations !== undefined && mutations.length > 0) {
            this.step(replica, {
              type: "LEARNER_LOG_READ",
              learner: action.learner,
              ballot: action.ballot,
              mutations,
            });
            return;
          }
          const snapshot = replica.disk.snapshot();
          const id = `${this.address}/${gpidKey(replica.gpid)}/${this.nextCheckpointId++}`;
          this.checkpoints.set(id, snapshot);
          const checkpoint = {
            node: this.address,
            id,
            decree: snapshot.decree,
            ballot: snapshot.ballot,
          };
          this.step(replica, {
            type: "LEARNER_CHECKPOINT_READY",
            learner: action.learner,
            ballot: action.ballot,
            checkpoint,
          });
        });
        return;
      case "INSTALL_CHECKPOINT": {
        const id = action.checkpoint.id;
        replica.installingCheckpointId = id;
        this.network.send(this.address, action.checkpoint.node, {
          kind: "CHECKPOINT_FETCH",
          gpid: replica.gpid,
          id,
        });
        this.later(this.timings.checkpointFetchTimeoutMs, replica, () => {
          if (replica.installingCheckpointId !== id) return;
          delete replica.installingCheckpointId;
          this.step(replica, { type: "CHECKPOINT_INSTALL_FAILED" });
        });
        return;
      }
      case "PEER_LOG_HOLD":
        // The simulated replicas keep their whole log: there is nothing to hold back.
        return;
      default:
        unreachable(action, "replication action");
    }
  }

  private scheduleFlush(replica: HostedReplica): void {
    if (replica.flushScheduled) return;
    replica.flushScheduled = true;
    this.later(this.rng.int(1, this.timings.fsyncDelayMaxMs), replica, () => {
      replica.flushScheduled = false;
      const logSeq = replica.disk.flush();
      if (logSeq > 0) this.step(replica, { type: "LOG_DURABLE", logSeq });
    });
  }

  /** Runs `run` later unless the server crashed (or the replica was replaced) meanwhile. */
  private later(delayMs: number, replica: HostedReplica, run: () => void): void {
    const incarnation = this.incarnation;
    this.queue.after(delayMs, () => {
      if (this.incarnation !== incarnation || this.replicas.get(gpidKey(replica.gpid)) !== replica)
        return;
      run();
    });
  }

  private gpidOf(key: string): Gpid {
    const [appId, partitionIndex] = key.split(".").map(Number);
    return { appId: appId ?? 0, partitionIndex: partitionIndex ?? 0 };
  }
}
