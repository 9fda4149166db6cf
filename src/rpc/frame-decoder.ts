/**
 * Splits a byte stream into frame bodies (`u32be bodyBytes ‖ body`). Pure and incremental: the
 * frames it yields depend only on the bytes pushed so far, never on how they were chunked.
 *
 * Invariants:
 * - A length above frameBytesMax is refused as soon as its 4 header bytes are in, before any of
 *   the body is buffered, so a peer can make us hold at most frameBytesMax + 3 bytes.
 * - After an error the decoder is finished: every later push returns the same error, no frames.
 * - A body that arrives in one chunk is returned as a view of that chunk (no copy); a body spread
 *   over several chunks is copied once, when its last byte arrives (never re-concatenated per chunk).
 */
import { FRAME_HEADER_BYTES } from "./wire.ts";

export interface FrameTooLarge {
  readonly reason: "oversized";
  readonly bodyBytes: number;
  readonly frameBytesMax: number;
}

export interface DecodeResult {
  /** Complete frame bodies, in stream order. */
  readonly frames: Buffer[];
  /** Set when the stream broke a bound; frames before the bad header are still returned. */
  readonly error?: FrameTooLarge;
}

export class FrameDecoder {
  private readonly frameBytesMax: number;
  /** Unconsumed chunks; the first one starts at `headOffset`. */
  private chunks: Buffer[] = [];
  private headOffset = 0;
  private bufferedBytes = 0;
  /** Body length of the frame being assembled, once its header is in. */
  private bodyBytes: number | undefined;
  private failure: FrameTooLarge | undefined;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedByteCount(): number {
    return this.bufferedBytes;
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.failure !== undefined) return { frames: [], error: this.failure };
    const frames: Buffer[] = [];
    if (chunk.length === 0) return { frames };
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.bodyBytes === undefined) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) break;
        const bodyBytes = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (bodyBytes > this.frameBytesMax) {
          this.failure = { reason: "oversized", bodyBytes, frameBytesMax: this.frameBytesMax };
          this.chunks = [];
          this.bufferedBytes = 0;
          return { frames, error: this.failure };
        }
        this.bodyBytes = bodyBytes;
      }
      if (this.bufferedBytes < this.bodyBytes) break;
      frames.push(this.take(this.bodyBytes));
      this.bodyBytes = undefined;
    }
    return { frames };
  }

  /** Removes and returns the next `n` buffered bytes (the caller checked they are there). */
  private take(n: number): Buffer {
    this.bufferedBytes -= n;
    const head = this.chunks[0];
    if (n === 0 || head === undefined) return Buffer.alloc(0);
    const available = head.length - this.headOffset;
    if (available >= n) {
      const out = head.subarray(this.headOffset, this.headOffset + n);
      this.headOffset += n;
      if (this.headOffset === head.length) this.dropHead();
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break;
      const count = Math.min(n - filled, chunk.length - this.headOffset);
      chunk.copy(out, filled, this.headOffset, this.headOffset + count);
      filled += count;
      this.headOffset += count;
      if (this.headOffset === chunk.length) this.dropHead();
    }
    return out;
  }

  private dropHead(): void {
    this.chunks.shift();
    this.headOffset = 0;
  }
}
