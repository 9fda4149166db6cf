/** Signed 64-bit decimal integers as incr and INT_* checks store them (Pegasus `buf2int64`). */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

const DECIMAL = /^[+-]?\d{1,20}$/;

/** The integer in `bytes`, or undefined when it is not a decimal in the int64 range. */
export function parseInt64(bytes: Uint8Array): bigint | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
  if (!DECIMAL.test(text)) return undefined;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

export function formatInt64(value: bigint): Buffer {
  return Buffer.from(value.toString(), "latin1");
}
