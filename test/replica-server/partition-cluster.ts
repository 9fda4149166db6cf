/**
 * A replicated partition in one process: PartitionReplicas (real plog and lmdb in a temp
 * directory) wired through an in-memory `send` that delivers each message by calling the peer's
 * step from a microtask. No meta server: tests feed configurations, leases and learner proposals
 * directly and read the configuration changes primaries ask for from `configRequests`.
 *
 * Time is virtual (one ManualClock for the cores and the hybrid clocks, one manual tick timer);
 * only the disk is real, so waiting means polling until I/O has completed.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { ManualClock } from "../../src/common/clock.ts";
import { TalariaError } from "../../src/common/errors.ts";
import type { Gpid, NodeAddress } from "../../src/protocol/ids.ts";
import type { UpdateConfigurationRequest } from "../../src/protocol/meta-messages.ts";
import type { PartitionConfiguration } from "../../src/protocol/partition-config.ts";
import type { ReplicaMessage } from "../../src/protocol/replica-messages.ts";
import {
  PartitionReplica,
  type PartitionReplicaDeps,
  type PartitionReplicaOptions,
  type TickTimer,
} from "../../src/replica/index.ts";
import { defaultReplicationOptions, type ReplicationOptions } from "../../src/replication/index.ts";

export const GPID: Gpid = { appId: 1, partitionIndex: 0 };
export const A = "a:1";
export const B = "b:1";
export const C = "c:1";
export const D = "d:1";

/** 2026-01-01T00:00:00Z in µs. */
const T0_US = 1_767_225_600_000_000;
export const LEASE_MS = 3_600_000;
/** Virtual time added while polling, so group checks and resends happen. */
const POLL_ADVANCE_MS = 20;
const POLL_ADVANCE_EVERY = 50;
const POLL_DEADLINE_MS = 20_000;

/** Fast group checks and resends; timeouts that polling never reaches (no removals). */
export const testReplication: ReplicationOptions = {
  ...defaultReplicationOptions,
  groupCheckIntervalMs: 100,
  prepareResendIntervalMs: 100,
  learnRetryMs: 300,
  prepareTimeoutMs: 3_600_000,
  secondaryTimeoutMs: 3_600_000,
  learnerTimeoutMs: 3_600_000,
  configChangeRetryMs: 3_600_000,
};

class ManualTimer implements TickTimer {
  private readonly runs = new Set<() => void>();
  every(_intervalMs: number, run: () => void): () => void {
    this.runs.add(run);
    return () => this.runs.delete(run);
  }
  fire(): void {
    for (const run of [...this.runs]) run();
  }
}

export function config(
  ballot: number,
  primary: NodeAddress,
  secondaries: NodeAddress[],
): PartitionConfiguration {
  return { gpid: GPID, ballot, primary, secondaries, maxReplicaCount: 3, lastCommittedDecree: 0 };
}

export class PartitionCluster {
  readonly clock = new ManualClock(T0_US);
  readonly replicas = new Map<NodeAddress, PartitionReplica>();
  readonly configRequests: UpdateConfigurationRequest[] = [];
  readonly checkpointFetches: { node: NodeAddress; id: string; decree: number }[] = [];
  private readonly timer = new ManualTimer();
  private readonly held = new Set<NodeAddress>();
  private heldMessages: { from: NodeAddress; to: NodeAddress; message: ReplicaMessage }[] = [];

  private constructor(
    readonly root: string,
    private readonly extra: Partial<PartitionReplicaOptions>,
  ) {}

  static async create(extra: Partial<PartitionReplicaOptions> = {}): Promise<PartitionCluster> {
    const root = await mkdtemp(join(tmpdir(), "talaria-partition-"));
    const cluster = new PartitionCluster(root, extra);
    after(async () => {
      await Promise.all([...cluster.replicas.values()].map((r) => r.close()));
      await rm(root, { recursive: true, force: true });
    });
    return cluster;
  }

  dir(node: NodeAddress): string {
    return join(this.root, node.replace(":", "_"));
  }

  get(node: NodeAddress): PartitionReplica {
    const replica = this.replicas.get(node);
    if (replica === undefined) throw new Error(`${node} is not open`);
    return replica;
  }

  /** Opens (or reopens, from its directory) the replica on `node`. */
  async open(
    node: NodeAddress,
    overrides: Partial<PartitionReplicaOptions> = {},
    deps: Pick<PartitionReplicaDeps, "openLog"> = {},
  ): Promise<PartitionReplica> {
    const replica = await PartitionReplica.open(
      {
        dir: this.dir(node),
        self: node,
        gpid: GPID,
        clusterId: 1,
        plogFsync: false,
        sweepIntervalMs: 0,
        tickIntervalMs: 10,
        replication: testReplication,
        ...this.extra,
        ...overrides,
      },
      {
        send: (to, message) => this.send(node, to, message),
        requestConfigChange: (request) => this.configRequests.push(request),
        fetchCheckpoint: (ref, scratchDir) => this.fetchCheckpoint(ref, scratchDir),
        clock: this.clock,
        timeClock: this.clock,
        timer: this.timer,
        ...deps,
      },
    );
    this.replicas.set(node, replica);
    return replica;
  }

  async close(node: NodeAddress): Promise<void> {
    const replica = this.get(node);
    this.replicas.delete(node);
    await replica.close();
  }

  /** Feeds `config` to every open replica it names (or to `nodes`). */
  feedConfig(config: PartitionConfiguration, nodes?: NodeAddress[]): void {
    const members = nodes ?? [config.primary ?? "", ...config.secondaries];
    for (const node of members) this.replicas.get(node)?.step({ type: "CONFIG", config });
  }

  grantLease(node: NodeAddress): void {
    const replica = this.get(node);
    replica.step({ type: "LEASE", expiresAtMs: replica.nowMs() + LEASE_MS });
  }

  /** Messages to `node` wait until release(node). */
  hold(node: NodeAddress): void {
    this.held.add(node);
  }

  /** Delivers what was held for `node`, in order, and stops holding. */
  release(node: NodeAddress): void {
    this.held.delete(node);
    const due = this.heldMessages.filter((m) => m.to === node);
    this.heldMessages = this.heldMessages.filter((m) => m.to !== node);
    for (const m of due) this.deliver(m.from, m.to, m.message);
  }

  /** Moves virtual time on and ticks every replica. */
  advance(ms: number): void {
    this.clock.advanceMs(ms);
    this.timer.fire();
  }

  /** Polls until `predicate` holds, letting I/O finish and (unless frozen) virtual time pass. */
  async eventually(
    predicate: () => boolean,
    what: string,
    options: { freezeTime?: boolean } = {},
  ): Promise<void> {
    const deadline = Date.now() + POLL_DEADLINE_MS;
    for (let i = 1; !predicate(); i++) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.freezeTime !== true && i % POLL_ADVANCE_EVERY === 0)
        this.advance(POLL_ADVANCE_MS);
    }
  }

  /** Lets pending I/O and messages run for a while without moving virtual time. */
  async settle(turns = 200): Promise<void> {
    for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  private send(from: NodeAddress, to: NodeAddress, message: ReplicaMessage): void {
    if (this.held.has(to)) {
      this.heldMessages.push({ from, to, message });
      return;
    }
    queueMicrotask(() => this.deliver(from, to, message));
  }

  private deliver(from: NodeAddress, to: NodeAddress, message: ReplicaMessage): void {
    // A closed node loses what is sent to it, as a crashed server would.
    this.replicas.get(to)?.step({ type: "MESSAGE", from, message });
  }

  /** What the replica server's transfer does: copy the primary's checkpoint directory. */
  private async fetchCheckpoint(
    ref: { node: NodeAddress; id: string; decree: number },
    scratchDir: string,
  ): Promise<string> {
    const source = this.replicas.get(ref.node)?.checkpointPath(ref.id);
    if (source === undefined) {
      throw new TalariaError("ERR_OBJECT_NOT_FOUND", `no checkpoint ${ref.id} on ${ref.node}`);
    }
    this.checkpointFetches.push({ node: ref.node, id: ref.id, decree: ref.decree });
    const target = join(scratchDir, "checkpoint");
    await cp(source, target, { recursive: true });
    return target;
  }
}

/** Every visible record of a replica's applied state, as "hashKey/sortKey=value" strings. */
export function dump(replica: PartitionReplica): string[] {
  const out: string[] = [];
  let batch = replica.localReads.scan({ batchSize: 1000 });
  for (;;) {
    for (const kv of batch.kvs) out.push(`${kv.hashKey}/${kv.sortKey}=${kv.value}`);
    if (batch.continuationToken === undefined) return out;
    batch = replica.localReads.scanNext(batch.continuationToken);
  }
}
