/**
 * A token bucket of bytes, shared by every connection crossing one direction of a fault proxy, so
 * the limit is the link's, not each connection's. Takers never wait inside it: `take` books the
 * bytes at once (the balance may go below zero) and says how long the caller must wait before
 * sending them, so takers are served in the order they asked, whatever their sizes.
 */

export class TokenBucket {
  readonly bytesPerSec: number;
  /** Most bytes sent back to back after an idle period; also the largest slice a taker books. */
  readonly burstBytes: number;
  private tokens: number;
  private atMs: number;

  constructor(bytesPerSec: number, nowMs: number) {
    if (!Number.isFinite(bytesPerSec) || bytesPerSec <= 0) {
      throw new RangeError(`bandwidth must be a positive number of bytes/s, got ${bytesPerSec}`);
    }
    this.bytesPerSec = bytesPerSec;
    // 50 ms worth of bytes, at least one Ethernet frame and at most 64 KiB.
    this.burstBytes = Math.round(Math.min(64 * 1024, Math.max(1500, bytesPerSec / 20)));
    this.tokens = this.burstBytes;
    this.atMs = nowMs;
  }

  /** Books `bytes` (≤ burstBytes); returns the milliseconds to wait before sending them. */
  take(bytes: number, nowMs: number): number {
    const elapsedMs = Math.max(0, nowMs - this.atMs);
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsedMs * this.bytesPerSec) / 1000);
    this.atMs = Math.max(this.atMs, nowMs);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSec) * 1000;
  }
}
