/**
 * One direction of one proxied connection: bytes read from `from` are written to `to` after the
 * link's one-way delay and within its bandwidth, in the order they arrived.
 *
 * Invariants:
 *  - Bytes leave in arrival order; a chunk waits for every chunk before it, so lowering the delay
 *    never reorders anything.
 *  - Every byte read is either forwarded or counted as dropped (the link was cut), never both.
 *  - At most `queueBytesMax` bytes wait here: past it `from` is paused, so a slow link pushes back
 *    on the sender through TCP flow control as a real one does.
 */
import type { Socket } from "node:net";
import type { TokenBucket } from "./token-bucket.ts";

/** What a lane reads from its proxy at each step (the controls may change at any time). */
export interface LaneLink {
  readonly delayMs: number;
  readonly bucket: TokenBucket | undefined;
  readonly cut: boolean;
  forwarded(bytes: number): void;
  dropped(bytes: number): void;
}

interface Queued {
  data: Buffer;
  readonly dueMs: number;
  /** Bytes at the front of `data` already booked in the bucket (sent once their wait is over). */
  paidBytes: number;
}

export class FaultLane {
  private readonly from: Socket;
  private readonly to: Socket;
  private readonly link: LaneLink;
  private readonly queueBytesMax: number;
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  private ended = false;
  private closed = false;

  constructor(from: Socket, to: Socket, link: LaneLink, queueBytesMax: number) {
    this.from = from;
    this.to = to;
    this.link = link;
    this.queueBytesMax = queueBytesMax;
  }

  /** Bytes read and not yet forwarded. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  push(chunk: Buffer): void {
    if (this.closed) return;
    if (this.link.cut) {
      this.link.dropped(chunk.length);
      return;
    }
    this.queue.push({ data: chunk, dueMs: performance.now() + this.link.delayMs, paidBytes: 0 });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > this.queueBytesMax) this.from.pause();
    this.pump();
  }

  /** `from` ended: end `to` once everything queued is out. */
  end(): void {
    this.ended = true;
    this.pump();
  }

  /** The link was cut: what is queued is lost, and `from` is read and discarded from now on. */
  dropQueued(): void {
    for (const queued of this.queue) this.link.dropped(queued.data.length);
    this.queue = [];
    this.queuedBytes = 0;
    this.clearTimer();
    this.from.resume();
  }

  /** The link was healed or a control changed: carry on with what is queued. */
  kick(): void {
    this.clearTimer();
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private wakeIn(ms: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(1, Math.ceil(ms)),
    );
  }

  private pump(): void {
    if (this.closed || this.timer !== undefined || this.waitingDrain || this.link.cut) return;
    for (;;) {
      const head = this.queue[0];
      if (head === undefined) break;
      const nowMs = performance.now();
      if (head.dueMs > nowMs) {
        this.wakeIn(head.dueMs - nowMs);
        return;
      }
      const bucket = this.link.bucket;
      if (bucket !== undefined && head.paidBytes === 0) {
        head.paidBytes = Math.min(head.data.length, bucket.burstBytes);
        const waitMs = bucket.take(head.paidBytes, nowMs);
        if (waitMs > 0) {
          this.wakeIn(waitMs);
          return;
        }
      }
      const bytes = head.paidBytes > 0 ? head.paidBytes : head.data.length;
      const slice = head.data.subarray(0, bytes);
      head.data = head.data.subarray(bytes);
      head.paidBytes = 0;
      if (head.data.length === 0) this.queue.shift();
      this.queuedBytes -= bytes;
      if (this.from.isPaused() && this.queuedBytes <= this.queueBytesMax / 2) this.from.resume();
      if (this.to.destroyed) {
        this.link.dropped(bytes);
        continue;
      }
      this.link.forwarded(bytes);
      if (!this.to.write(slice)) {
        this.waitingDrain = true;
        this.to.once("drain", () => {
          this.waitingDrain = false;
          this.pump();
        });
        return;
      }
    }
    if (this.ended && !this.to.destroyed) this.to.end();
  }
}
