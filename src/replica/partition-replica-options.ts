/**
 * Settings and dependencies of a PartitionReplica (`new`-style `(options, deps)`): options are
 * data with named bounds; deps are the ports the replica server provides (messaging, the meta
 * server, checkpoint transfer) and the clocks and timer tests replace.
 */
import type { Clock } from "../common/clock.ts";
import { systemClock } from "../common/clock.ts";
import type { ReadLimits, WriteLimits } from "../common/limits.ts";
import type { Logger } from "../common/logger.ts";
import { monotonicClock } from "../common/monotonic-clock.ts";
import type { ReplicaMetrics } from "../metrics/index.ts";
import type { Gpid, NodeAddress } from "../protocol/ids.ts";
import type { UpdateConfigurationRequest } from "../protocol/meta-messages.ts";
import type { CheckpointRef, ReplicaMessage } from "../protocol/replica-messages.ts";
import type { ReplicationOptions } from "../replication/index.ts";
import type { LogOpener } from "./replica-files.ts";
import type { CoalesceLimits } from "./write-sequencer.ts";

export interface PartitionReplicaOptions {
  /** Directory of this replica (layout in replica-layout.ts). */
  readonly dir: string;
  /** This replica server's address, as configurations name it. */
  readonly self: NodeAddress;
  readonly gpid: Gpid;
  /** This cluster's id in `[duplication-group]` (1..127), 0 when unconfigured. */
  readonly clusterId: number;
  /** Local deletes leave tombstones (true on duplicated tables). Default false. */
  readonly keepTombstones?: boolean;
  readonly replication?: ReplicationOptions;
  readonly writeLimits?: WriteLimits;
  readonly readLimits?: ReadLimits;
  readonly plogSegmentBytesMax?: number;
  /** The plog's in-memory tail (`tailCacheBytes`; default 1 MiB). */
  readonly plogTailCacheBytes?: number;
  /** fdatasync the plog on every group commit. Default true; tests may turn it off. */
  readonly plogFsync?: boolean;
  readonly tombstoneRetentionSeconds?: number;
  /** Background TTL / tombstone sweep period; 0 disables the sweeper. Default 60 s. */
  readonly sweepIntervalMs?: number;
  /** Records the sweeper examines per run. Default 10,000. */
  readonly sweepBudget?: number;
  /** Bytes of log read per batch when rebuilding state on open. Default 4 MiB. */
  readonly replayBatchBytes?: number;
  /** Period of the core's TICK (group checks, resends, timeouts); 0 = no timer. Default 50 ms. */
  readonly tickIntervalMs?: number;
  /** Writes waiting behind an atomic operation for their turn; one more is ERR_BUSY. Default 1,024. */
  readonly pendingWritesMax?: number;
  /** How many plain writes one coalesced mutation may carry (write-sequencer.ts). */
  readonly writeCoalesce?: CoalesceLimits;
  /** Checkpoints kept for learners (the newest); older ones are deleted. Default 2. */
  readonly learnerCheckpointsMax?: number;
  /** Where to report metrics, and the partition label (`<appId>.<partitionIndex>`). */
  readonly metrics?: ReplicaMetrics;
}

/** Runs `run` every `intervalMs` until the returned function is called. */
export interface TickTimer {
  every(intervalMs: number, run: () => void): () => void;
}

/**
 * Most callbacks one shared setInterval runs (64): more join a timer of their own, so a server
 * with many partitions does not run all their ticks in one turn (≈ 10 µs each for an idle replica
 * here: a full turn stays under a millisecond).
 */
export const SHARED_TICK_CALLBACKS_MAX = 64;

interface TickGroup {
  readonly timer: NodeJS.Timeout;
  readonly runs: Set<() => void>;
}

/**
 * A TickTimer on the process's timers in which the `every`s of one interval share a setInterval
 * (unref'd; up to SHARED_TICK_CALLBACKS_MAX each): a replica server's partitions and shippers
 * tick in one event turn, so their messages to a peer leave in one write, and an idle server
 * wakes once per interval instead of once per partition. An idle onebox replica server with 8
 * partitions woke ≈ 340 times a second with one interval per partition, ≈ 250 with this
 * (docs/benchmarks.md, 2026-11-22). A callback that throws does not keep the others of its turn
 * from running; its error is rethrown on its own, as an interval of its own would.
 */
export class SharedTickTimer implements TickTimer {
  /** Per interval, its timers, each running at most SHARED_TICK_CALLBACKS_MAX callbacks. */
  private readonly groups = new Map<number, TickGroup[]>();
  private readonly rethrow: (error: unknown) => void;

  /** `rethrow` gets what a callback threw (default: thrown again in a microtask of its own). */
  constructor(rethrow?: (error: unknown) => void) {
    this.rethrow =
      rethrow ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  every(intervalMs: number, run: () => void): () => void {
    const groups = this.groups.get(intervalMs) ?? [];
    this.groups.set(intervalMs, groups);
    let group = groups.find((g) => g.runs.size < SHARED_TICK_CALLBACKS_MAX);
    if (group === undefined) {
      group = this.startGroup(intervalMs);
      groups.push(group);
    }
    const joined = group;
    // A wrapper per call: the same function registered twice ticks twice, as two intervals would.
    const entry = () => run();
    joined.runs.add(entry);
    return () => {
      if (!joined.runs.delete(entry) || joined.runs.size > 0) return;
      clearInterval(joined.timer);
      const left = (this.groups.get(intervalMs) ?? []).filter((g) => g !== joined);
      if (left.length > 0) this.groups.set(intervalMs, left);
      else this.groups.delete(intervalMs);
    };
  }

  /** Running timers, over every interval (tests). */
  get timerCount(): number {
    let count = 0;
    for (const groups of this.groups.values()) count += groups.length;
    return count;
  }

  private startGroup(intervalMs: number): TickGroup {
    const runs = new Set<() => void>();
    const timer = setInterval(() => {
      for (const each of [...runs]) {
        // Stopped by an earlier callback of this turn: it does not run.
        if (!runs.has(each)) continue;
        try {
          each();
        } catch (error) {
          this.rethrow(error);
        }
      }
    }, intervalMs);
    timer.unref();
    return { timer, runs };
  }
}

export const systemTickTimer: TickTimer = new SharedTickTimer();

export interface PartitionReplicaDeps {
  /** Sends a replica message (one-way; may be lost: the core retries). Must not throw. */
  readonly send: (to: NodeAddress, message: ReplicaMessage) => void;
  /**
   * Asks the meta server for a configuration change. The server feeds the answer back through
   * `step`: CONFIG when accepted, CONFIG_CHANGE_REFUSED {request, config?} when refused (with
   * this very request: a late refusal must not be taken for a later request's). Must not throw.
   */
  readonly requestConfigChange: (request: UpdateConfigurationRequest) => void;
  /**
   * Fetches the checkpoint `ref` from `ref.node` into `scratchDir` (an empty directory the
   * replica owns and deletes afterwards) and resolves to the local directory holding it
   * (`scratchDir` or a directory inside it; the install renames its files into place rather than
   * copying them). Rejecting makes the install fail; the learner asks again.
   */
  readonly fetchCheckpoint: (ref: CheckpointRef, scratchDir: string) => Promise<string>;
  /** Wall clock: write timestamps (hybrid clock) and TTL. Default: the system clock. */
  readonly clock?: Clock;
  /** The core's time (leases, timeouts, ticks): must not jump back. Default: monotonic. */
  readonly timeClock?: Clock;
  readonly timer?: TickTimer;
  readonly logger?: Logger;
  /** Opens the private log; tests wrap it to inject faults or delay durability. */
  readonly openLog?: LogOpener;
  /**
   * Asked before every sweep step: true makes the step collect no tombstones (a re-sync, sent or
   * received, still needs them; tombstone-holds.ts).
   */
  readonly holdTombstones?: () => boolean;
}

export const replicaDefaults = {
  keepTombstones: false,
  sweepIntervalMs: 60_000,
  sweepBudget: 10_000,
  replayBatchBytes: 4 * 1024 * 1024,
  tickIntervalMs: 50,
  pendingWritesMax: 1024,
  learnerCheckpointsMax: 2,
} as const;

export function defaultClocks(deps: PartitionReplicaDeps): { clock: Clock; timeClock: Clock } {
  return { clock: deps.clock ?? systemClock, timeClock: deps.timeClock ?? monotonicClock() };
}
