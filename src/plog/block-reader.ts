/**
 * Reads one block at a time from a segment file, so memory stays bounded by the largest block
 * (a flush group, or one oversized record) however large the segment is. Every read is checked:
 * header CRC before the length is used, body CRC before a record is returned. Both checksums are
 * sealed to the segment's nonce and the block's offset, so callers pass the segment's nonce.
 */
import {
  BLOCK_HEADER_BYTES,
  BLOCK_MAGIC,
  type BlockHeader,
  type Decoded,
  decodeBlockBody,
  decodeBlockHeader,
  type LogRecord,
} from "./format.ts";
import { type PlogFileHandle, readAt } from "./fs-port.ts";
import { SCAN_CHUNK_BYTES } from "./options.ts";

export interface ValidBlock {
  readonly header: BlockHeader;
  readonly records: LogRecord[];
  /** Header plus body. */
  readonly bytes: number;
}

/** `fileBytes` bounds the read: a header or body past it is reported as partial, not read. */
export async function readBlockHeader(
  handle: PlogFileHandle,
  offset: number,
  fileBytes: number,
  nonce: Buffer,
): Promise<Decoded<BlockHeader>> {
  const length = Math.min(BLOCK_HEADER_BYTES, Math.max(0, fileBytes - offset));
  const decoded = decodeBlockHeader(await readAt(handle, length, offset), { nonce, offset });
  if (!decoded.ok) return decoded;
  if (offset + BLOCK_HEADER_BYTES + decoded.value.bodyBytes > fileBytes) {
    return { ok: false, reason: "partial block body" };
  }
  return decoded;
}

export async function readBlockBody(
  handle: PlogFileHandle,
  offset: number,
  header: BlockHeader,
  nonce: Buffer,
): Promise<Decoded<LogRecord[]>> {
  const body = await readAt(handle, header.bodyBytes, offset + BLOCK_HEADER_BYTES);
  return decodeBlockBody(header, body, nonce);
}

export async function readBlock(
  handle: PlogFileHandle,
  offset: number,
  fileBytes: number,
  nonce: Buffer,
): Promise<Decoded<ValidBlock>> {
  const header = await readBlockHeader(handle, offset, fileBytes, nonce);
  if (!header.ok) return header;
  const records = await readBlockBody(handle, offset, header.value, nonce);
  if (!records.ok) return records;
  return {
    ok: true,
    value: {
      header: header.value,
      records: records.value,
      bytes: BLOCK_HEADER_BYTES + header.value.bodyBytes,
    },
  };
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(BLOCK_MAGIC, 0);

/**
 * Looks for any fully valid block starting in [from, fileBytes). Recovery uses it to tell a torn
 * tail (nothing valid after the bad block) from corruption in the middle (something valid after).
 * A block-like byte string inside a payload never counts: it would have to be sealed with this
 * segment's nonce at the very offset it sits at. Bounded by the file size; reads SCAN_CHUNK_BYTES
 * at a time.
 */
export async function findValidBlockAfter(
  handle: PlogFileHandle,
  from: number,
  fileBytes: number,
  nonce: Buffer,
): Promise<number | null> {
  let chunkStart = from;
  while (chunkStart + BLOCK_HEADER_BYTES <= fileBytes) {
    const chunk = await readAt(
      handle,
      Math.min(SCAN_CHUNK_BYTES, fileBytes - chunkStart),
      chunkStart,
    );
    let at = chunk.indexOf(MAGIC_BYTES);
    while (at !== -1) {
      const candidate = chunkStart + at;
      if ((await readBlock(handle, candidate, fileBytes, nonce)).ok) return candidate;
      at = chunk.indexOf(MAGIC_BYTES, at + 1);
    }
    // Overlap by the magic's length minus one so a magic split across chunks is still seen.
    if (chunk.length < MAGIC_BYTES.length) break;
    chunkStart += chunk.length - (MAGIC_BYTES.length - 1);
  }
  return null;
}
