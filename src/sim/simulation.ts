/**
 * One deterministic simulation run: everything (cluster shape, fault rates, fault schedule,
 * delays, client behaviour) derives from the seed, so `runSimulation({ seed })` replays exactly.
 *
 *   phase 1 (activeMs): clients write; faults happen (message drop / delay / duplication /
 *            reordering, network partitions, server crashes and restarts — at most maxDown
 *            servers down at once, every crashed server restarts);
 *   phase 2 (quietMs): everything healed and up, no faults, no new writes;
 *   then the checkers (checker.ts) run; online checks (history.ts) stop the run early.
 */
import { pino } from "pino";
import type { MetaCoreOptions } from "../meta/core/index.ts";
import type { NodeAddress } from "../protocol/ids.ts";
import { AppStatus } from "../protocol/partition-config.ts";
import type { ReplicationOptions } from "../replication/index.ts";
import { defaultReplicationOptions } from "../replication/index.ts";
import { checkAcknowledgedWrites, checkConvergence } from "./checker.ts";
import { SimClient } from "./client.ts";
import type { ConfigAuthority } from "./config-authority.ts";
import { EventQueue } from "./event-queue.ts";
import { History } from "./history.ts";
import { MetaCoreAuthority } from "./meta-core-authority.ts";
import { attachMeta } from "./meta-endpoint.ts";
import { cleanNetwork, type NetworkFaults, SimNetwork } from "./network.ts";
import { Prng } from "./prng.ts";
import {
  type HarnessBugs,
  META_NODE,
  type ServerTimings,
  SimReplicaServer,
} from "./replica-server.ts";
import { SimpleConfigAuthority } from "./simple-authority.ts";

export interface SimulationOptions {
  readonly seed: number;
  /** Simulated milliseconds of load and faults before healing. */
  readonly activeMs?: number;
  /** Simulated milliseconds of quiet after healing, before the final checks. */
  readonly quietMs?: number;
  /**
   * Which meta server decides configurations: the real meta core (default) or the small in-sim
   * stand-in, for comparison. `bugs.promoteNonMembers` always uses the stand-in.
   */
  readonly meta?: SimMetaKind;
  /** Test-only harness bugs, to show the checkers catch them. */
  readonly bugs?: HarnessBugs;
  readonly log?: (line: string) => void;
}

export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure?: string;
  readonly stats: Readonly<Record<string, number>>;
}

export type SimMetaKind = "core" | "simple";

export const SIM_APP_ID = 1;
export const SIM_APP_NAME = "sim";
const REPLICA_COUNT = 3;

/** Timers scaled so that failures are detected within the run. */
export const simReplicationOptions: ReplicationOptions = {
  ...defaultReplicationOptions,
  prepareWindowMax: 32,
  writeQueueMax: 16,
  prepareBufferMax: 32,
  resendBatchMax: 8,
  prepareResendIntervalMs: 150,
  prepareTimeoutMs: 800,
  secondaryTimeoutMs: 1_500,
  groupCheckIntervalMs: 200,
  configChangeRetryMs: 600,
  learnersMax: 2,
  learnerTimeoutMs: 3_000,
  learnRetryMs: 400,
  learnBatchBytesMax: 2_000,
};

/** Meta core settings scaled like the replication timers (lease < grace, as in production). */
export const simMetaCoreOptions: Partial<MetaCoreOptions> = {
  fdLeaseMs: 1_200,
  fdGraceMs: 2_000,
  balanceIntervalMs: 2_500,
  learnerProposalTimeoutMs: 4_000,
  persistRetryDelayMs: 100,
  persistRetryDelayMaxMs: 800,
};

const META_TICK_INTERVAL_MS = 100;

const timings: ServerTimings = {
  tickIntervalMs: 50,
  beaconIntervalMs: 200,
  fsyncDelayMaxMs: 8,
  logReadDelayMaxMs: 5,
  checkpointFetchTimeoutMs: 1_000,
  logRetainedMax: 20,
  learnReadCountMax: 16,
};

export function runSimulation(options: SimulationOptions): SimulationResult {
  const activeMs = options.activeMs ?? 10_000;
  const quietMs = options.quietMs ?? 15_000;
  const log = options.log ?? (() => {});
  const rng = new Prng(options.seed);
  const queue = new EventQueue();
  const history = new History(() => queue.nowMs);
  const network = new SimNetwork(queue, rng.fork());

  // Swarm: each seed picks its own cluster shape and fault mix.
  const nodeCount = rng.int(4, 5);
  const partitionCount = rng.int(2, 4);
  const clientCount = rng.int(2, 4);
  const faults: NetworkFaults = {
    dropRate: rng.pick([0, 0.01, 0.03, 0.08]),
    duplicateRate: rng.pick([0, 0.01, 0.05]),
    delayMinMs: 1,
    delayMaxMs: rng.pick([3, 10, 30]),
    slowRate: rng.pick([0, 0.005, 0.02]),
    slowDelayMaxMs: rng.int(100, 800),
  };
  const crashes = rng.chance(0.85);
  const partitions = rng.chance(0.7);
  const faultIntervalMs = rng.int(400, 2_500);
  const maxDown = nodeCount >= 5 ? 2 : 1;
  const metaKind: SimMetaKind =
    options.bugs?.promoteNonMembers === true ? "simple" : (options.meta ?? "core");
  const metaPersistDelayMaxMs = rng.pick([0, 5, 30, 150]);
  const metaPersistTimeoutRate = rng.pick([0, 0, 0.03]);
  const metaCrashes = metaKind === "core" && rng.chance(0.3);
  log(
    `seed ${options.seed}: ${nodeCount} servers, ${partitionCount} partitions, ${clientCount} clients, ` +
      `network ${JSON.stringify(faults)}, crashes ${crashes}, partitions ${partitions}, fault every ${faultIntervalMs}ms, ` +
      `meta ${metaKind}` +
      (metaKind === "core"
        ? ` (persist delay ≤ ${metaPersistDelayMaxMs}ms, timeouts ${metaPersistTimeoutRate}, crashes ${metaCrashes})`
        : ""),
  );

  const nodes: NodeAddress[] = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}:1`);
  const metaRng = rng.fork();
  const metaCore =
    metaKind === "core"
      ? new MetaCoreAuthority(
          {
            nodes,
            table: {
              appId: SIM_APP_ID,
              appName: SIM_APP_NAME,
              partitionCount,
              replicaCount: REPLICA_COUNT,
            },
            meta: simMetaCoreOptions,
            persistDelayMaxMs: metaPersistDelayMaxMs,
            persistTimeoutRate: metaPersistTimeoutRate,
            createDeadlineMs: 1_000,
          },
          {
            queue,
            rng: metaRng,
            log,
            count: (what) => history.count(what),
            fail: (message) => history.fail(message),
            ...(options.log === undefined
              ? {}
              : {
                  coreLog: pino(
                    { base: null, timestamp: false },
                    { write: (line: string) => log(`t=${queue.nowMs} meta: ${line.trimEnd()}`) },
                  ),
                }),
          },
        )
      : undefined;
  const authority: ConfigAuthority =
    metaCore ??
    new SimpleConfigAuthority({
      nodes,
      app: {
        appId: SIM_APP_ID,
        appName: SIM_APP_NAME,
        partitionCount,
        replicaCount: REPLICA_COUNT,
        status: AppStatus.AVAILABLE,
        envs: {},
        createdAtMs: 0,
      },
      leaseMs: 1_200,
      graceMs: 2_000,
      proposalTtlMs: 4_000,
      ...(options.bugs?.promoteNonMembers === true ? { promoteNonMembers: true } : {}),
    });
  attachMeta(network, queue, authority, META_TICK_INTERVAL_MS, log);

  const servers = new Map<string, SimReplicaServer>();
  for (const node of nodes) {
    const server = new SimReplicaServer(
      node,
      queue,
      network,
      rng.fork(),
      history,
      simReplicationOptions,
      timings,
      options.bugs,
    );
    servers.set(node, server);
    server.start();
  }
  const clients = Array.from(
    { length: clientCount },
    (_, i) =>
      new SimClient(`client${i + 1}:1`, queue, network, rng.fork(), history, {
        appId: SIM_APP_ID,
        partitionCount,
        requestTimeoutMs: 1_000,
        attemptsMax: 5,
        thinkTimeMaxMs: 20,
        overwriteKeyCount: 4,
        overwriteRate: 0.3,
      }),
  );
  for (const client of clients) client.start();
  network.faults = faults;

  const faultRng = rng.fork();
  let healed = false;
  const scheduleFault = (): void => {
    queue.after(
      faultRng.int(Math.floor(faultIntervalMs / 2), Math.floor(faultIntervalMs * 1.5)),
      () => {
        if (healed) return;
        injectFault();
        scheduleFault();
      },
    );
  };
  const injectFault = (): void => {
    const kind = faultRng.pick([
      ...(crashes ? ["crash", "crash"] : []),
      ...(partitions ? ["partition"] : []),
      ...(metaCrashes ? ["meta-crash"] : []),
      "none",
    ]);
    if (kind === "meta-crash" && metaCore?.up === true) {
      metaCore.crash();
      const downMs = faultRng.int(200, 4_000);
      log(`t=${queue.nowMs} crash meta for ${downMs}ms`);
      queue.after(downMs, () => {
        if (metaCore.up) return;
        log(`t=${queue.nowMs} restart meta`);
        metaCore.restart();
      });
    } else if (kind === "crash") {
      const up = [...servers.values()].filter((s) => s.up);
      if (nodeCount - up.length >= maxDown) return;
      const victim = faultRng.pick(up);
      victim.crash();
      const downMs = faultRng.int(200, 6_000);
      log(`t=${queue.nowMs} crash ${victim.address} for ${downMs}ms`);
      queue.after(downMs, () => {
        if (victim.up) return;
        log(`t=${queue.nowMs} restart ${victim.address}`);
        victim.restart();
      });
    } else if (kind === "partition" && !network.partitioned) {
      const shape = faultRng.pick(["isolate", "split", "from-meta"]);
      const victim = faultRng.pick(nodes);
      if (shape === "isolate") {
        network.partition(
          [victim],
          [...nodes.filter((n) => n !== victim), META_NODE, ...clients.map((c) => c.address)],
        );
      } else if (shape === "from-meta") {
        network.partition([victim], [META_NODE]);
      } else {
        const side = nodes.filter(() => faultRng.chance(0.5));
        const other = [...nodes.filter((n) => !side.includes(n)), META_NODE];
        network.partition(side, other);
      }
      const durationMs = faultRng.int(300, 5_000);
      log(`t=${queue.nowMs} partition ${shape} ${victim} for ${durationMs}ms`);
      queue.after(durationMs, () => {
        if (healed) return;
        network.heal();
        log(`t=${queue.nowMs} heal`);
      });
    }
  };
  scheduleFault();

  const violated = () => history.violation !== undefined;
  let exception: string | undefined;
  try {
    if (queue.runUntil(activeMs, violated)) {
      healed = true;
      network.heal();
      network.faults = cleanNetwork;
      for (const client of clients) client.stop();
      for (const server of servers.values()) {
        if (!server.up) server.restart();
      }
      if (metaCore?.up === false) metaCore.restart();
      log(`t=${queue.nowMs} healed; quiet for ${quietMs}ms`);
      queue.runUntil(activeMs + quietMs, violated);
    }
  } catch (error) {
    // An assertion inside a core or the harness: a failure of this seed, not of the sweep.
    exception = `t=${queue.nowMs}ms: exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
  const configs = authority.configurations();
  const failure =
    exception ??
    history.violation ??
    (configs.length === partitionCount
      ? undefined
      : `the table has ${configs.length} of ${partitionCount} partitions at the end`) ??
    checkConvergence(configs, servers) ??
    checkAcknowledgedWrites(history, configs, servers);
  const acked = history.writes.filter((w) => w.decree !== undefined).length;
  const stats = {
    simulatedMs: queue.nowMs,
    events: queue.executedCount,
    messages: network.sent,
    writes: history.writes.length,
    acknowledged: acked,
    applies: history.applyCount,
    maxBallot: Math.max(0, ...configs.map((c) => c.ballot)),
    ...Object.fromEntries(history.counters),
  };
  log(`t=${queue.nowMs} done: ${JSON.stringify(stats)}`);
  for (const config of configs) log(`  final ${JSON.stringify(config)}`);
  return failure === undefined
    ? { seed: options.seed, ok: true, stats }
    : { seed: options.seed, ok: false, failure, stats };
}
