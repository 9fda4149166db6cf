/**
 * Drives the REAL DuplicationSourceCore of one duplication on one source partition inside the
 * simulator: LOADs read the partition's log after a small delay (and may fail), SHIPs travel over
 * the inter-cluster link to the target partition and back (or time out), DEAD_LETTERs go to the
 * duplication's in-sim letter list. A stopped shipper (crash, primary change) ignores every
 * outcome still on its way, exactly like a restarted process.
 *
 * A re-sync shipper is the same core over a checkpoint instead of the log (the REAL
 * ResyncLogReader over SimPartition.checkpoint(), as resync-sender.ts runs it): DUPLICATE entries
 * allowed, no retention bounds, never skipping.
 *
 * Harness bugs (never in the core) show the checkers catch known Pegasus defects:
 *  - dropTrailingBatch: a batch that ends with a DUPLICATE mutation ships nothing (#2284);
 *  - lastEntryRouting: every request of a batch goes to the partition of the batch's LAST entry,
 *    and the target does not check keys (Pegasus's routing, notes §5);
 *  - resyncDropsDeletes: a re-sync ships no tombstones, so deletes the log never carried are lost;
 *  - noTombstoneHold: the sweeper goes on collecting tombstones while a duplication is out of its
 *    log, so a late re-sync lacks deletes (replica-server/tombstone-holds.ts prevents it);
 *  - replayEverything: dead letters replayed whole after the targets collected the tombstones of
 *    later deletes bring those keys back (replay.ts's stillCurrent prevents it).
 */
import { type DuplicableUpdate, type Mutation, UpdateKind } from "../../codec/mutation.ts";
import {
  type DeadLetterRecord,
  type DuplicationError,
  DuplicationSourceCore,
  entryPartitionIndex,
  type FailMode,
  type LogTruncatedReason,
  type ResyncLogReader,
  type SourceAction,
  type SourceEvent,
  type SourceOptions,
} from "../../duplication/index.ts";
import type { EventQueue } from "../event-queue.ts";
import type { Prng } from "../prng.ts";
import type { Links } from "./links.ts";
import type { SimPartition } from "./sim-partition.ts";

export interface DupBugs {
  readonly dropTrailingBatch?: boolean;
  readonly lastEntryRouting?: boolean;
  /** A re-sync that sends no deletes (its checkpoint's tombstones ship as nothing). */
  readonly resyncDropsDeletes?: boolean;
  /** No tombstone hold: the sweeper collects on tables whose duplication fell out of its log. */
  readonly noTombstoneHold?: boolean;
  /** Dead letters replayed whole, superseded records included (the replay before stillCurrent). */
  readonly replayEverything?: boolean;
  /**
   * Tombstones held only for the table's own duplications (the rules before the hold for an
   * incoming re-sync and through the own re-sync's DS_APP).
   */
  readonly ownHoldsOnly?: boolean;
  /**
   * A re-sync's writes count toward the receiving table's own duplications' byte bound: two-way
   * re-syncs push each other out of their logs for ever.
   */
  readonly countResyncBytes?: boolean;
  /**
   * No re-sync mark on the receiving table (the rules before `duplication.resync_from.*`): it is
   * held only while the re-sync's writes arrive, so a re-sync that stalls longer than the hold's
   * release meets collected tombstones when it resumes.
   */
  readonly noResyncMark?: boolean;
}

/** One duplication (source cluster → target cluster) and what meta keeps of it. */
export interface SimDup {
  readonly dupid: number;
  readonly sourceClusterId: number;
  readonly targetClusterId: number;
  readonly targetPartitionCount: number;
  failMode: FailMode;
  /** Meta's persisted confirmed decree, per source partition. */
  readonly confirmed: number[];
  readonly deadLetters: DeadLetterRecord[];
  /** A re-sync is running (DS_PREPARE → DS_APP): the log shippers are stopped meanwhile. */
  resyncing: boolean;
  /**
   * Where a running re-sync is: "marking" the remote table (DS_PREPARE, after the checkpoints),
   * "sending" (DS_APP), "unmarking" (every record acknowledged); undefined when not re-syncing.
   */
  resyncStep: "marking" | "sending" | "unmarking" | undefined;
}

/** What a shipper reads: the partition's log, or a re-sync's checkpoint. */
export interface ShipperLog {
  readonly kind: "log" | "resync";
  committedDecree(): number;
  /** Log bytes held from `decree` on (the core's retention bound). */
  retainedBytesFrom(decree: number): number;
  read(
    fromDecree: number,
    toDecree: number,
    bytesMax: number,
  ): { readonly mutations: readonly Mutation[]; readonly bytes: number } | "gone";
}

/** The partition's own log. */
export function partitionLog(partition: SimPartition): ShipperLog {
  return {
    kind: "log",
    committedDecree: () => partition.lastDecree,
    retainedBytesFrom: (decree) => partition.bytesFrom(decree),
    read: (fromDecree, toDecree, bytesMax) => {
      const read = partition.read(fromDecree, toDecree, bytesMax);
      if (read === "gone") return read;
      return {
        mutations: read.map((entry) => entry.mutation),
        bytes: read.reduce((sum, entry) => sum + entry.bytes, 0),
      };
    },
  };
}

/** A re-sync's checkpoint, read through the real ResyncLogReader. */
export function resyncLog(reader: ResyncLogReader): ShipperLog {
  return {
    kind: "resync",
    committedDecree: () => reader.committedDecree(),
    retainedBytesFrom: () => reader.retainedBytesFrom(),
    read: (fromDecree, toDecree, bytesMax) =>
      reader.readMutationsNow(fromDecree, { toDecree, bytesMax }),
  };
}

export interface ShipperHost {
  readonly queue: EventQueue;
  readonly rng: Prng;
  readonly links: Links;
  readonly bugs: DupBugs;
  readonly stats: Record<string, number>;
  readonly tickMs: number;
  readonly shipTimeoutMs: number;
  loadFailureRate: number;
  /** The target's answer to a DUPLICATE request arriving there (runs at the target). */
  deliver(
    dup: SimDup,
    targetPartition: number,
    routedBy: number,
    entries: Parameters<SimPartition["receiveDuplicate"]>[0],
  ): "ack" | DuplicationError;
  onPausedWithError(shipper: SimShipper): void;
  /**
   * Whether cluster `clusterId` received re-sync writes lately (the primary's report) or a
   * re-sync marks its table (every replica server sees the mark).
   */
  receivingResync(clusterId: number): boolean;
  onLogTruncated(shipper: SimShipper, reason: LogTruncatedReason): void;
  log(line: string): void;
}

function count(stats: Record<string, number>, name: string, by = 1): void {
  stats[name] = (stats[name] ?? 0) + by;
}

export class SimShipper {
  readonly core: DuplicationSourceCore;
  private alive = true;
  /** shipId → settled, for the SHIPs in flight. */
  private readonly ships = new Map<number, boolean>();
  /** lastEntryRouting: where every request of the current batch goes. */
  private batchPartition: number | undefined;

  constructor(
    private readonly host: ShipperHost,
    readonly dup: SimDup,
    readonly partition: SimPartition,
    options: SourceOptions,
    readonly log: ShipperLog = partitionLog(partition),
  ) {
    const resync = log.kind === "resync";
    this.core = new DuplicationSourceCore(
      resync
        ? {
            ...options,
            shipDuplicateEntries: true,
            retainedLogBytesMax: Number.MAX_SAFE_INTEGER,
            retainedLogMsMax: Number.MAX_SAFE_INTEGER,
          }
        : options,
      {
        confirmedDecree: resync ? 0 : (dup.confirmed[partition.index] ?? 0),
        targetPartitionCount: dup.targetPartitionCount,
        // A re-sync never skips a record (resync-sender.ts, resyncFailMode).
        failMode: resync && dup.failMode === "FAIL_SKIP" ? "FAIL_SLOW" : dup.failMode,
        status: "start",
        nowMs: host.queue.nowMs,
        committedDecree: log.committedDecree(),
      },
    );
    this.scheduleTick();
  }

  get isAlive(): boolean {
    return this.alive;
  }

  stop(): void {
    this.alive = false;
  }

  feed(event: SourceEvent): void {
    if (!this.alive) return;
    for (const action of this.core.step(event)) this.perform(action);
  }

  private scheduleTick(): void {
    this.host.queue.after(this.host.tickMs, () => {
      if (!this.alive) return;
      const confirmed = this.core.snapshot().confirmedDecree;
      this.feed({
        type: "LOG_STATE",
        committedDecree: this.log.committedDecree(),
        retainedBytes: this.log.retainedBytesFrom(confirmed + 1),
        receivingResync:
          this.host.bugs.countResyncBytes !== true &&
          this.host.receivingResync(this.dup.sourceClusterId),
        ...(this.host.bugs.countResyncBytes === true || this.log.kind !== "log"
          ? {}
          : {
              resyncReceivedThroughDecree: this.partition.resyncReceivedThrough,
            }),
      });
      this.feed({ type: "TICK", nowMs: this.host.queue.nowMs });
      this.scheduleTick();
    });
  }

  private perform(action: SourceAction): void {
    const host = this.host;
    switch (action.type) {
      case "LOAD":
        host.queue.after(host.rng.int(1, 4), () => this.load(action));
        return;
      case "SHIP":
        this.ship(action);
        return;
      case "DEAD_LETTER":
        host.queue.after(1, () => {
          if (!this.alive) return;
          this.dup.deadLetters.push(action.letter);
          count(host.stats, "deadLetters");
          this.feed({ type: "DEAD_LETTERED", deadLetterId: action.deadLetterId });
        });
        return;
      case "PROGRESS":
        return;
      case "PAUSED_WITH_ERROR":
        count(host.stats, "pausedWithError");
        host.log(`dup ${this.dup.dupid} p${this.partition.index}: paused (${action.error.code})`);
        host.onPausedWithError(this);
        return;
      case "LOG_TRUNCATED":
        count(host.stats, "logTruncated");
        host.log(`dup ${this.dup.dupid} p${this.partition.index}: ${action.message}`);
        host.onLogTruncated(this, action.reason);
        return;
    }
  }

  private load(action: Extract<SourceAction, { type: "LOAD" }>): void {
    if (!this.alive) return;
    const host = this.host;
    if (host.rng.chance(host.loadFailureRate)) {
      count(host.stats, "loadFailures");
      this.feed({
        type: "LOAD_FAILED",
        loadId: action.loadId,
        error: { code: "ERR_FILE_OPERATION_FAILED", message: "injected plog read failure" },
        truncated: false,
      });
      return;
    }
    const read = this.log.read(action.fromDecree, action.toDecree, action.bytesMax);
    if (read === "gone") {
      this.feed({
        type: "LOAD_FAILED",
        loadId: action.loadId,
        error: { code: "ERR_OBJECT_NOT_FOUND", message: "garbage-collected" },
        truncated: true,
      });
      return;
    }
    let mutations: readonly Mutation[] = read.mutations;
    const last = mutations[mutations.length - 1];
    if (
      this.log.kind === "log" &&
      host.bugs.dropTrailingBatch === true &&
      last?.updates.some((u) => u.kind === UpdateKind.DUPLICATE)
    ) {
      mutations = mutations.map((m) => ({ ...m, updates: [{ kind: UpdateKind.EMPTY }] }));
    }
    if (this.log.kind === "resync" && host.bugs.resyncDropsDeletes === true) {
      mutations = mutations.map((m) =>
        m.updates.some(
          (u) =>
            u.kind === UpdateKind.DUPLICATE &&
            u.entries.some((e) => e.update.kind === UpdateKind.REMOVE),
        )
          ? { ...m, updates: [{ kind: UpdateKind.EMPTY }] }
          : m,
      );
    }
    if (host.bugs.lastEntryRouting === true)
      this.batchPartition = this.lastEntryPartition(mutations);
    this.feed({
      type: "BATCH_LOADED",
      loadId: action.loadId,
      mutations,
      bytes: read.bytes,
      wallNowMs: this.partition.wallNowMs(),
    });
  }

  private lastEntryPartition(mutations: readonly Mutation[]): number | undefined {
    for (let i = mutations.length - 1; i >= 0; i--) {
      const updates = (mutations[i] as Mutation).updates;
      for (let j = updates.length - 1; j >= 0; j--) {
        const update = updates[j];
        if (update === undefined || update.kind === UpdateKind.DUPLICATE) continue;
        if (update.kind === UpdateKind.EMPTY) continue;
        return entryPartitionIndex(update as DuplicableUpdate, this.dup.targetPartitionCount);
      }
    }
    return undefined;
  }

  private ship(action: Extract<SourceAction, { type: "SHIP" }>): void {
    const host = this.host;
    const dup = this.dup;
    const partition = this.batchPartition ?? action.targetPartition;
    this.ships.set(action.shipId, false);
    const settle = (event: SourceEvent): void => {
      if (!this.alive || this.ships.get(action.shipId) !== false) return;
      this.ships.delete(action.shipId);
      this.feed(event);
    };
    count(host.stats, "shipRequests");
    host.links.send(dup.sourceClusterId, dup.targetClusterId, () => {
      const answer = host.deliver(dup, partition, action.targetPartitionCount, action.entries);
      host.links.send(dup.targetClusterId, dup.sourceClusterId, () => {
        if (answer === "ack") settle({ type: "SHIP_ACKED", shipId: action.shipId });
        else settle({ type: "SHIP_FAILED", shipId: action.shipId, error: answer });
      });
    });
    host.queue.after(host.shipTimeoutMs, () =>
      settle({
        type: "SHIP_FAILED",
        shipId: action.shipId,
        error: { code: "ERR_TIMEOUT", message: "no answer from the remote" },
      }),
    );
  }
}
