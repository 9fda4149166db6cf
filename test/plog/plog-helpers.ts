/**
 * Shared fixtures for plog tests: temp directories, deterministic payloads, a block map of a
 * segment file (to aim corruption at a chosen block) and a fault-injecting file system.
 */
import * as fsSync from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  BLOCK_HEADER_BYTES,
  decodeBlockHeader,
  decodeSegmentHeader,
  SEGMENT_HEADER_BYTES,
} from "../../src/plog/format.ts";
import { nodeFs, type PlogFileHandle, type PlogFs } from "../../src/plog/index.ts";

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "talaria-plog-"));
  try {
    return await run(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** A payload whose bytes depend on the decree, so a misplaced record is caught. */
export function payloadFor(decree: number, bytes: number): Buffer {
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = (decree * 31 + i * 7) & 0xff;
  return payload;
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((name) => name.startsWith("plog.")).sort();
}

export interface BlockInfo {
  readonly offset: number;
  readonly bytes: number;
  readonly firstDecree: number;
  readonly lastDecree: number;
}

/**
 * A deterministic stand-in for crypto.randomBytes (splitmix-style), so segment nonces, and so
 * whole segment files, are the same on every run.
 */
export function seededRandomBytes(seed: number): (bytes: number) => Buffer {
  let state = BigInt(seed);
  const mask = (1n << 64n) - 1n;
  return (bytes) => {
    const out = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i += 8) {
      state = (state + 0x9e3779b97f4a7c15n) & mask;
      let z = state;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
      z ^= z >> 31n;
      const word = Buffer.alloc(8);
      word.writeBigUInt64LE(z);
      word.copy(out, i, 0, Math.min(8, bytes - i));
    }
    return out;
  };
}

/** The nonce in a segment file's header. */
export function segmentNonce(filePath: string): Buffer {
  const header = decodeSegmentHeader(
    fsSync.readFileSync(filePath).subarray(0, SEGMENT_HEADER_BYTES),
  );
  if (!header.ok) throw new Error(`segmentNonce: ${header.reason}`);
  return header.value.nonce;
}

/** Block layout of a well-formed segment file. */
export function blockMap(filePath: string): BlockInfo[] {
  const data = fsSync.readFileSync(filePath);
  const nonce = segmentNonce(filePath);
  const blocks: BlockInfo[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < data.length) {
    const header = decodeBlockHeader(data.subarray(offset, offset + BLOCK_HEADER_BYTES), {
      nonce,
      offset,
    });
    if (!header.ok) throw new Error(`blockMap: ${header.reason} at ${offset}`);
    const bytes = BLOCK_HEADER_BYTES + header.value.bodyBytes;
    blocks.push({
      offset,
      bytes,
      firstDecree: header.value.firstDecree,
      lastDecree: header.value.lastDecree,
    });
    offset += bytes;
  }
  return blocks;
}

export function flipByte(filePath: string, offset: number): void {
  const data = fsSync.readFileSync(filePath);
  const byte = data[offset];
  if (byte === undefined) throw new Error(`flipByte: offset ${offset} past the end`);
  data[offset] = byte ^ 0xff;
  fsSync.writeFileSync(filePath, data);
}

export function truncateFile(filePath: string, length: number): void {
  fsSync.truncateSync(filePath, length);
}

/**
 * node:fs with faults on demand: after `datasyncsBeforeFailure` successful fdatasyncs every
 * further fdatasync fails with EIO; while `datasyncGate` is set every fdatasync first waits for it;
 * counts fdatasyncs and records directory fsyncs.
 */
export class FaultyFs implements PlogFs {
  datasyncsBeforeFailure = Number.POSITIVE_INFINITY;
  datasyncs = 0;
  datasyncGate: Promise<void> | null = null;
  readonly syncedDirs: string[] = [];

  async open(filePath: string, flags: "r" | "r+" | "wx"): Promise<PlogFileHandle> {
    const handle = await nodeFs.open(filePath, flags);
    const faulty = this;
    return {
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: (buffer, offset, length, position) => handle.write(buffer, offset, length, position),
      truncate: (length) => handle.truncate(length),
      stat: () => handle.stat(),
      close: () => handle.close(),
      async datasync() {
        if (faulty.datasyncGate !== null) await faulty.datasyncGate;
        if (faulty.datasyncs >= faulty.datasyncsBeforeFailure) {
          throw Object.assign(new Error("EIO: injected fdatasync failure"), { code: "EIO" });
        }
        faulty.datasyncs += 1;
        await handle.datasync();
      },
    };
  }
  readdir = (dir: string): Promise<string[]> => nodeFs.readdir(dir);
  unlink = (filePath: string): Promise<void> => nodeFs.unlink(filePath);
  mkdir = (dir: string): Promise<string | undefined> => nodeFs.mkdir(dir);
  syncDir = (dir: string): Promise<void> => {
    this.syncedDirs.push(dir);
    return nodeFs.syncDir(dir);
  };
}
