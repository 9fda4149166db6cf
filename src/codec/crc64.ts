/**
 * CRC64 exactly as Apache Pegasus computes it (src/utils/crc.cpp): table-driven, reflected,
 * polynomial 0x9a6c9329ac4bc9b5 (reflected form), init ~0, result inverted. Not CRC-64/XZ or ECMA.
 * The 64-bit state is kept as two u32 halves so the hot loop never allocates BigInts.
 */
import { assert } from "../common/assert.ts";

const POLY_HI = 0x9a6c9329;
const POLY_LO = 0xac4bc9b5;

const tableHi = new Uint32Array(256);
const tableLo = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  tableHi[i] = hi;
  tableLo[i] = lo;
}

/** The two u32 halves of the CRC64 of `bytes`. */
export function crc64Parts(bytes: Uint8Array): { hi: number; lo: number } {
  let hi = 0xffff_ffff;
  let lo = 0xffff_ffff;
  for (let i = 0; i < bytes.length; i++) {
    const index = (lo ^ (bytes[i] as number)) & 0xff;
    lo = ((tableLo[index] as number) ^ ((lo >>> 8) | (hi << 24))) >>> 0;
    hi = ((tableHi[index] as number) ^ (hi >>> 8)) >>> 0;
  }
  return { hi: ~hi >>> 0, lo: ~lo >>> 0 };
}

export function crc64(bytes: Uint8Array): bigint {
  const { hi, lo } = crc64Parts(bytes);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** `crc64(bytes) mod divisor` as unsigned 64-bit arithmetic, without BigInt. */
export function crc64Mod(bytes: Uint8Array, divisor: number): number {
  assert(Number.isInteger(divisor) && divisor > 0 && divisor < 0x1_0000_0000, `divisor ${divisor}`);
  const { hi, lo } = crc64Parts(bytes);
  // Exact for any divisor < 2^32: multiplying by 2^32 only shifts the exponent, and % on doubles
  // (fmod) is exact, so no step rounds.
  return ((((hi % divisor) * 0x1_0000_0000) % divisor) + (lo % divisor)) % divisor;
}
