/**
 * The remote cluster's wall clock, as seen from one duplication's acknowledged requests. A remote
 * that supports it answers every DUPLICATE with its wall clock (`receiverNowMs`), read between the
 * send and the acknowledgement, so on this cluster's wall clock the offset lies in
 * `[receiverNowMs − ackedAtMs, receiverNowMs − sentAtMs]` whatever the network did (retries
 * included): the midpoint is the estimate, half the round trip the uncertainty.
 *
 * `[replication] dup_max_clock_skew_seconds` is what the retention check assumed the clocks never
 * differ by (docs/duplication.md, "Retention and clock skew"). A reading whose whole interval lies
 * beyond it proves the assumption wrong: the shipper flags it (metric, log, status), so an operator
 * learns of a broken clock before a late write can outlive a tombstone. Pure: times in, reading out.
 */

export interface RemoteClockReading {
  /** Remote minus local wall clock, estimated (ms); positive when the remote runs ahead. */
  readonly offsetMs: number;
  /** Half the round trip the reading was taken over: the true offset is within ± this. */
  readonly uncertaintyMs: number;
  /** The clocks certainly differ by more than the allowed skew (either way). */
  readonly skewExceeded: boolean;
}

/**
 * The reading of one acknowledged request sent at `sentAtMs` and acknowledged at `ackedAtMs`
 * (local wall clock) whose answer carried `receiverNowMs`; undefined when the answer carries no
 * usable clock (an older remote) or the local clock went back during the request.
 */
export function readRemoteClock(
  sentAtMs: number,
  ackedAtMs: number,
  receiverNowMs: unknown,
  maxSkewMs: number,
): RemoteClockReading | undefined {
  if (typeof receiverNowMs !== "number" || !Number.isFinite(receiverNowMs)) return undefined;
  if (!(ackedAtMs >= sentAtMs)) return undefined;
  const least = receiverNowMs - ackedAtMs;
  const most = receiverNowMs - sentAtMs;
  return {
    offsetMs: (least + most) / 2,
    uncertaintyMs: (most - least) / 2,
    skewExceeded: least > maxSkewMs || most < -maxSkewMs,
  };
}

/** The remote's wall clock from a DUPLICATE answer, if it carries one. */
export function receiverNowOf(answer: unknown): unknown {
  return typeof answer === "object" && answer !== null
    ? (answer as { readonly receiverNowMs?: unknown }).receiverNowMs
    : undefined;
}
