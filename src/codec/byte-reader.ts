/**
 * A bounds-checked big-endian cursor over untrusted bytes. Every read checks the remaining length
 * first, so a decoder built on it is total: malformed input raises ERR_INVALID_DATA (with the
 * offset), never a RangeError from Buffer. `bytes` returns zero-copy subarrays of the input.
 */
import { TalariaError } from "../common/errors.ts";

const U32_SPAN = 0x1_0000_0000;
/** The largest high word for which `hi * 2^32 + lo` is still a safe integer. */
const SAFE_U64_HI_MAX = Math.floor(Number.MAX_SAFE_INTEGER / U32_SPAN);

export class ByteReader {
  private readonly buf: Buffer;
  private offset = 0;

  /** `what` names the format in error messages ("mutation", "frame"). */
  constructor(
    bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  u8(field: string): number {
    this.need(1, field);
    const value = this.buf.readUInt8(this.offset);
    this.offset += 1;
    return value;
  }

  u16(field: string): number {
    this.need(2, field);
    const value = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** A u64 that must fit a safe integer: decree, ballot and timestamps are JS numbers. */
  u64Safe(field: string): number {
    this.need(8, field);
    const hi = this.buf.readUInt32BE(this.offset);
    const lo = this.buf.readUInt32BE(this.offset + 4);
    if (hi > SAFE_U64_HI_MAX) this.fail(`${field} exceeds Number.MAX_SAFE_INTEGER`);
    this.offset += 8;
    return hi * U32_SPAN + lo;
  }

  /** `length` bytes as a subarray of the input (zero-copy). */
  bytes(length: number, field: string): Buffer {
    this.need(length, field);
    const value = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /**
   * A u32 element count, rejected when even `minElementBytes` per element cannot fit in what is
   * left, so a corrupt count fails at once instead of after a long loop.
   */
  count32(field: string, minElementBytes: number): number {
    const value = this.u32(field);
    if (value * minElementBytes > this.remaining) {
      this.fail(`${field} ${value} cannot fit in the ${this.remaining} bytes left`);
    }
    return value;
  }

  /** Trailing bytes mean the input is not what we think it is: reject rather than ignore them. */
  expectEnd(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`);
  }

  fail(reason: string): never {
    throw new TalariaError("ERR_INVALID_DATA", `${this.what} at offset ${this.offset}: ${reason}`, {
      details: { what: this.what, offset: this.offset, length: this.buf.length },
    });
  }

  private need(length: number, field: string): void {
    if (length > this.remaining) {
      this.fail(`truncated ${field}: needs ${length} bytes, ${this.remaining} left`);
    }
  }
}
