/** Keys and values may be given as strings (UTF-8) or bytes; the client always returns Buffers. */
export type Bytes = string | Uint8Array;

export function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === "string") return Buffer.from(bytes, "utf8");
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
