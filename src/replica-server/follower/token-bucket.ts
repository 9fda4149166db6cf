/**
 * A token bucket in bytes, shared by every follower copy of one replica server
 * (`[replication] dup_checkpoint_copy_rate_mb`), so checkpoint copies together never take more
 * than the configured rate from the network and disk and live traffic is not starved.
 *
 * `take(n)` reserves n bytes at once and waits until the bucket has paid for them: the balance may
 * go negative, and each caller waits for its own debt, so concurrent callers are served in call
 * order and a request larger than the burst is still admitted (after its time). Rate 0 = no limit.
 *
 * Invariant: over any window of T ms, admitted bytes ≤ burstBytes + rate × T.
 */
import { TalariaError } from "../../common/errors.ts";

export interface TokenBucketDeps {
  /** A monotonic clock in ms. */
  nowMs(): number;
  /** Resolves after `ms`, or rejects once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export class TokenBucket {
  private readonly rateBytesPerSec: number;
  private readonly burstBytes: number;
  private readonly deps: TokenBucketDeps;
  private balance: number;
  private updatedAtMs: number;

  /** `rateBytesPerSec` 0 = unlimited; `burstBytes` ≥ 1 is what may pass at once after idling. */
  constructor(rateBytesPerSec: number, burstBytes: number, deps: TokenBucketDeps) {
    if (!Number.isFinite(rateBytesPerSec) || rateBytesPerSec < 0) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", "rateBytesPerSec must be ≥ 0", {
        details: { option: "rateBytesPerSec", value: rateBytesPerSec },
      });
    }
    if (!Number.isSafeInteger(burstBytes) || burstBytes < 1) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", "burstBytes must be ≥ 1", {
        details: { option: "burstBytes", value: burstBytes },
      });
    }
    this.rateBytesPerSec = rateBytesPerSec;
    this.burstBytes = burstBytes;
    this.deps = deps;
    this.balance = burstBytes;
    this.updatedAtMs = deps.nowMs();
  }

  get unlimited(): boolean {
    return this.rateBytesPerSec === 0;
  }

  /** Waits until `bytes` may pass (immediately when unlimited). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const waitMs = this.reserve(bytes);
    if (waitMs > 0) await this.deps.sleep(waitMs, signal);
  }

  /**
   * Reserves `bytes` now and answers how long the caller must wait before using them (0: at
   * once) — for callers that cannot await, e.g. a socket read callback that pauses its socket.
   */
  reserve(bytes: number): number {
    if (this.unlimited || bytes <= 0) return 0;
    this.refill();
    this.balance -= bytes;
    if (this.balance >= 0) return 0;
    return Math.ceil((-this.balance * 1000) / this.rateBytesPerSec);
  }

  /** Resolves after `ms` (the bucket's clock), or rejects once `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.deps.sleep(ms, signal);
  }

  private refill(): void {
    const now = this.deps.nowMs();
    const elapsedMs = Math.max(0, now - this.updatedAtMs);
    this.updatedAtMs = now;
    this.balance = Math.min(
      this.burstBytes,
      this.balance + (elapsedMs * this.rateBytesPerSec) / 1000,
    );
  }
}

/** Real time: `performance.now()` and an abortable timer. */
export const systemBucketDeps: TokenBucketDeps = {
  nowMs: () => performance.now(),
  sleep: abortableSleep,
};

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
