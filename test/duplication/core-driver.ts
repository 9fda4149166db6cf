/**
 * A synchronous driver for DuplicationSourceCore in tests: an in-memory log of mutations, a
 * scriptable remote and dead-letter store, and a seeded order in which outstanding actions
 * complete (so streams interleave), checking on the way that requests in flight to one target
 * partition come from different batches (disjoint decree ranges), at most pipelineBatchesMax.
 */
import assert from "node:assert/strict";
import { partitionIndex } from "../../src/codec/key-schema.ts";
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  type Mutation,
  type Update,
  UpdateKind,
} from "../../src/codec/mutation.ts";
import { encodeMutation } from "../../src/codec/mutation-codec.ts";
import type {
  DeadLetterRecord,
  DuplicationError,
  SourceAction,
  SourceEvent,
} from "../../src/duplication/index.ts";
import {
  DuplicationSourceCore,
  resolveSourceOptions,
  type SourceInit,
  type SourceOptions,
} from "../../src/duplication/index.ts";
import { Prng } from "../../src/sim/prng.ts";

export const b = (text: string): Buffer => Buffer.from(text);

export function put(hashKey: string, sortKey: string, value = `v-${hashKey}/${sortKey}`): Update {
  return {
    kind: UpdateKind.PUT,
    hashKey: b(hashKey),
    sortKey: b(sortKey),
    value: b(value),
    expireTs: 0,
  };
}

export function del(hashKey: string, sortKey: string): Update {
  return { kind: UpdateKind.REMOVE, hashKey: b(hashKey), sortKey: b(sortKey) };
}

export function multiPut(hashKey: string, sortKeys: readonly string[]): Update {
  return {
    kind: UpdateKind.MULTI_PUT,
    hashKey: b(hashKey),
    kvs: sortKeys.map((sk) => ({ sortKey: b(sk), value: b(`m-${sk}`) })),
    expireTs: 0,
  };
}

export function duplicated(hashKey: string, clusterId = 2): Update {
  return {
    kind: UpdateKind.DUPLICATE,
    entries: [{ timestampUs: 5, clusterId, update: put(hashKey, "x") as DuplicableUpdate }],
  };
}

export const EMPTY_UPDATE: Update = { kind: UpdateKind.EMPTY };

export function mutation(decree: number, updates: readonly Update[]): Mutation {
  return { ballot: 1, decree, timestampUs: 1_000_000 + decree, updates };
}

/** Hash keys `prefix<i>` that fall in `partition` of `count`. */
export function keysInPartition(prefix: string, partition: number, count: number, n: number) {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) {
    const key = `${prefix}${i}`;
    if (partitionIndex(b(key), b(""), count) === partition) keys.push(key);
  }
  return keys;
}

export type ShipOutcome =
  | "ack"
  | { readonly error: DuplicationError; readonly partitionCount?: number };
export type LoadOutcome = "ok" | { readonly error: DuplicationError; readonly truncated?: boolean };

export interface DriverScript {
  load?(action: Extract<SourceAction, { type: "LOAD" }>): LoadOutcome;
  ship?(action: Extract<SourceAction, { type: "SHIP" }>): ShipOutcome;
  deadLetter?(letter: DeadLetterRecord): "ok" | DuplicationError;
}

export const TEST_OPTIONS: SourceOptions = {
  sourceClusterId: 1,
  batchBytes: 1 << 20,
  retryDelayMsMin: 10,
  retryDelayMsMax: 80,
  noMutationLoadDelayMs: 5,
  skipAfterFailures: 3,
  failFastAfterFailures: 2,
};

export class CoreDriver {
  readonly core: DuplicationSourceCore;
  nowMs = 0;
  /** Every action the core returned, in order. */
  readonly actions: SourceAction[] = [];
  /** Acknowledged requests, in acknowledgement order. */
  readonly acked: Extract<SourceAction, { type: "SHIP" }>[] = [];
  readonly progress: number[] = [];
  readonly deadLetters: DeadLetterRecord[] = [];
  private readonly pending: SourceAction[] = [];
  /** Requests in flight per `<partition count>/<partition>` (a re-route starts new streams). */
  private readonly inFlightByPartition = new Map<
    string,
    Extract<SourceAction, { type: "SHIP" }>[]
  >();
  private readonly pipelineBatchesMax: number;
  private readonly rng: Prng;

  constructor(
    readonly log: Mutation[],
    readonly script: DriverScript = {},
    options: Partial<SourceOptions> = {},
    init: Partial<SourceInit> = {},
    seed = 1,
  ) {
    this.rng = new Prng(seed);
    this.pipelineBatchesMax = resolveSourceOptions({
      ...TEST_OPTIONS,
      ...options,
    }).pipelineBatchesMax;
    this.core = new DuplicationSourceCore(
      { ...TEST_OPTIONS, ...options },
      {
        confirmedDecree: 0,
        targetPartitionCount: 1,
        failMode: "FAIL_SLOW",
        status: "start",
        nowMs: 0,
        ...init,
      },
    );
  }

  get committedDecree(): number {
    return this.log[this.log.length - 1]?.decree ?? 0;
  }

  step(event: SourceEvent): SourceAction[] {
    const actions = this.core.step(event);
    for (const action of actions) {
      this.actions.push(action);
      if (action.type === "SHIP") {
        const stream = `${action.targetPartitionCount}/${action.targetPartition}`;
        const inFlight = this.inFlightByPartition.get(stream) ?? [];
        for (const other of inFlight) {
          assert.ok(
            action.toDecree < other.fromDecree || action.fromDecree > other.toDecree,
            `two requests of one batch in flight to ${stream}`,
          );
        }
        inFlight.push(action);
        assert.ok(
          inFlight.length <= this.pipelineBatchesMax,
          `${inFlight.length} requests in flight to ${stream}`,
        );
        this.inFlightByPartition.set(stream, inFlight);
      }
      if (action.type === "PROGRESS") this.progress.push(action.lastDecree);
      if (action.type === "LOAD" || action.type === "SHIP" || action.type === "DEAD_LETTER") {
        this.pending.push(action);
      }
    }
    return actions;
  }

  /** Feeds the log state and the time. */
  tick(
    advanceMs = 0,
    retainedBytes = 0,
    receivingResync = false,
    resyncReceivedThroughDecree?: number,
  ): void {
    this.nowMs += advanceMs;
    this.step({
      type: "LOG_STATE",
      committedDecree: this.committedDecree,
      retainedBytes,
      ...(receivingResync ? { receivingResync } : {}),
      ...(resyncReceivedThroughDecree === undefined ? {} : { resyncReceivedThroughDecree }),
    });
    this.step({ type: "TICK", nowMs: this.nowMs });
  }

  /** Acknowledges one SHIP now (outside the random completion order). */
  ack(ship: Extract<SourceAction, { type: "SHIP" }> | undefined): void {
    assert.ok(ship !== undefined, "a SHIP to acknowledge");
    const index = this.pending.indexOf(ship);
    assert.ok(index >= 0, "the SHIP is outstanding");
    this.pending.splice(index, 1);
    this.complete(ship);
  }

  /** Completes one outstanding action (a random one), or returns false when none is left. */
  completeOne(): boolean {
    if (this.pending.length === 0) return false;
    const index = this.rng.int(0, this.pending.length - 1);
    const [action] = this.pending.splice(index, 1);
    assert.ok(action !== undefined);
    this.complete(action);
    return true;
  }

  private complete(action: SourceAction): void {
    switch (action.type) {
      case "LOAD": {
        const outcome = this.script.load?.(action) ?? "ok";
        if (outcome !== "ok") {
          this.step({
            type: "LOAD_FAILED",
            loadId: action.loadId,
            error: outcome.error,
            truncated: outcome.truncated ?? false,
          });
          return;
        }
        const mutations: Mutation[] = [];
        let bytes = 0;
        for (const m of this.log) {
          if (m.decree < action.fromDecree || m.decree > action.toDecree) continue;
          if (mutations.length > 0 && bytes >= action.bytesMax) break;
          mutations.push(m);
          bytes += encodeMutation(m).length;
        }
        this.step({ type: "BATCH_LOADED", loadId: action.loadId, mutations, bytes });
        return;
      }
      case "SHIP": {
        const stream = `${action.targetPartitionCount}/${action.targetPartition}`;
        const inFlight = this.inFlightByPartition.get(stream) ?? [];
        inFlight.splice(inFlight.indexOf(action), 1);
        const outcome = this.script.ship?.(action) ?? "ack";
        if (outcome === "ack") {
          this.acked.push(action);
          this.step({ type: "SHIP_ACKED", shipId: action.shipId });
        } else {
          this.step({
            type: "SHIP_FAILED",
            shipId: action.shipId,
            error: outcome.error,
            ...(outcome.partitionCount === undefined
              ? {}
              : { partitionCount: outcome.partitionCount }),
          });
        }
        return;
      }
      case "DEAD_LETTER": {
        const outcome = this.script.deadLetter?.(action.letter) ?? "ok";
        if (outcome === "ok") {
          this.deadLetters.push(action.letter);
          this.step({ type: "DEAD_LETTERED", deadLetterId: action.deadLetterId });
        } else {
          this.step({
            type: "DEAD_LETTER_FAILED",
            deadLetterId: action.deadLetterId,
            error: outcome,
          });
        }
        return;
      }
      default:
        return;
    }
  }

  /**
   * Ticks and completes actions until the core has shipped the whole log (or `stepsMax` runs
   * out); time advances `tickMs` whenever nothing is outstanding.
   */
  run(stepsMax = 10_000, tickMs = 10): void {
    this.tick();
    for (let i = 0; i < stepsMax; i++) {
      if (this.completeOne()) continue;
      const snapshot = this.core.snapshot();
      if (snapshot.lastDecree >= this.committedDecree || snapshot.phase === "paused") return;
      if (snapshot.phase === "log_truncated" || snapshot.phase === "removed") return;
      this.tick(tickMs);
    }
  }

  /** Every acknowledged entry, per target partition, in acknowledgement order. */
  entriesByPartition(): Map<number, DuplicateEntry[]> {
    const out = new Map<number, DuplicateEntry[]>();
    for (const ship of this.acked) {
      const list = out.get(ship.targetPartition) ?? [];
      list.push(...ship.entries);
      out.set(ship.targetPartition, list);
    }
    return out;
  }

  actionsOf<T extends SourceAction["type"]>(type: T): Extract<SourceAction, { type: T }>[] {
    return this.actions.filter((a): a is Extract<SourceAction, { type: T }> => a.type === type);
  }
}

export const err = (code = "ERR_TIMEOUT", message = "remote did not answer"): DuplicationError => ({
  code,
  message,
});
