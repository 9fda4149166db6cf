/**
 * A big-endian cursor over a buffer allocated once at its exact encoded size. Encoders compute the
 * size first, so writing past the end or finishing short is a programmer error (a size function
 * out of step with its writer) and fails an assertion rather than producing a corrupt record.
 */
import { assert } from "../common/assert.ts";

const U32_SPAN = 0x1_0000_0000;

export class ByteWriter {
  private readonly buf: Buffer;
  private offset = 0;

  constructor(sizeBytes: number) {
    this.buf = Buffer.allocUnsafe(sizeBytes);
  }

  u8(value: number): void {
    this.reserve(1);
    this.buf.writeUInt8(value, this.offset);
    this.offset += 1;
  }

  u16(value: number): void {
    this.reserve(2);
    this.buf.writeUInt16BE(value, this.offset);
    this.offset += 2;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buf.writeUInt32BE(value, this.offset);
    this.offset += 4;
  }

  /** A non-negative safe integer as a u64 (callers assert the range; this re-checks). */
  u64(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, `u64 value ${value} is not a safe integer`);
    this.reserve(8);
    this.buf.writeUInt32BE(Math.floor(value / U32_SPAN), this.offset);
    this.buf.writeUInt32BE(value % U32_SPAN, this.offset + 4);
    this.offset += 8;
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buf.set(value, this.offset);
    this.offset += value.length;
  }

  /** The encoded bytes; asserts the size computed up front was exact. */
  finish(): Buffer {
    assert(this.offset === this.buf.length, `wrote ${this.offset} of ${this.buf.length} bytes`);
    return this.buf;
  }

  private reserve(length: number): void {
    assert(
      this.offset + length <= this.buf.length,
      `write of ${length} bytes at ${this.offset} overflows ${this.buf.length}`,
    );
  }
}
