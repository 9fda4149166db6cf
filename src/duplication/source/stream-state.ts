/**
 * A batch in flight and its per-target-partition streams (source-core.ts drives them). Each
 * stream ships its requests strictly in order with at most one in flight (streams of different
 * batches run side by side: source-core.ts says why that is safe); a request is resent
 * unchanged until acknowledged or, under FAIL_SKIP, durably dead-lettered.
 */
import type { Mutation } from "../../codec/mutation.ts";
import { assert } from "../../common/assert.ts";
import type { PlannedBatch, ShipRequest } from "./batch-plan.ts";
import type { DuplicationError, SourceAction } from "./events.ts";

export interface StreamState {
  readonly partition: number;
  readonly requests: readonly ShipRequest[];
  /** Index of the request being shipped (== requests.length once the stream is done). */
  next: number;
  /** The SHIP in flight for requests[next]. */
  shipId: number | undefined;
  /** Consecutive failures of requests[next]. */
  failures: number;
  /** requests[next] (or its dead letter) is not sent again before this time. */
  retryAtMs: number | undefined;
  /** Set once FAIL_SKIP gave up on requests[next]: it is to be dead-lettered instead. */
  deadLetter: { readonly error: DuplicationError; writeFailures: number } | undefined;
  /** The DEAD_LETTER in flight for requests[next]. */
  deadLetterId: number | undefined;
}

export interface BatchState {
  /** Kept to route the batch again if the remote's partition count changes (bounded by batch bytes). */
  readonly mutations: readonly Mutation[];
  readonly fromDecree: number;
  readonly toDecree: number;
  readonly targetPartitionCount: number;
  readonly streams: StreamState[];
  /** Streams not done yet. */
  remaining: number;
}

export function startBatch(
  mutations: readonly Mutation[],
  plan: PlannedBatch,
  targetPartitionCount: number,
): BatchState {
  const first = mutations[0];
  const last = mutations[mutations.length - 1];
  assert(first !== undefined && last !== undefined, "a batch has mutations");
  const streams: StreamState[] = [...plan.streams].map(([partition, requests]) => ({
    partition,
    requests,
    next: 0,
    shipId: undefined,
    failures: 0,
    retryAtMs: undefined,
    deadLetter: undefined,
    deadLetterId: undefined,
  }));
  return {
    mutations,
    fromDecree: first.decree,
    // The last mutation READ, whatever it holds: a batch ending in skipped updates still ends here.
    toDecree: last.decree,
    targetPartitionCount,
    streams,
    remaining: streams.length,
  };
}

/**
 * The SHIPs (and FAIL_SKIP DEAD_LETTERs) due now: for each stream with nothing in flight whose
 * retry delay is over, its next request — one per stream, in stream order.
 */
export function issueStreamActions(
  batch: BatchState,
  nowMs: number,
  nextId: () => number,
): SourceAction[] {
  const out: SourceAction[] = [];
  for (const stream of batch.streams) {
    const request = stream.requests[stream.next];
    if (request === undefined || stream.shipId !== undefined) continue;
    if (stream.deadLetterId !== undefined) continue;
    if (stream.retryAtMs !== undefined && nowMs < stream.retryAtMs) continue;
    if (stream.deadLetter !== undefined) {
      stream.deadLetterId = nextId();
      out.push({
        type: "DEAD_LETTER",
        deadLetterId: stream.deadLetterId,
        letter: {
          kind: "ship",
          fromDecree: request.fromDecree,
          toDecree: request.toDecree,
          targetPartition: stream.partition,
          targetPartitionCount: batch.targetPartitionCount,
          entries: request.entries,
          error: stream.deadLetter.error,
          attempts: stream.failures,
        },
      });
      continue;
    }
    stream.shipId = nextId();
    out.push({
      type: "SHIP",
      shipId: stream.shipId,
      targetPartition: stream.partition,
      targetPartitionCount: batch.targetPartitionCount,
      entries: request.entries,
      bytes: request.bytes,
      fromDecree: request.fromDecree,
      toDecree: request.toDecree,
    });
  }
  return out;
}
