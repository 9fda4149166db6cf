/**
 * Writes that bypass the page cache (`O_DIRECT`) for the follower's bulk copy. On the machines
 * measured (docs/benchmarks.md) a buffered write of copied bytes cost 3–5 CPU-s per GiB in the
 * kernel's page-cache copy and ran at 200–250 MiB/s, an `O_DIRECT` write 0.1 CPU-s at the disk's
 * ≈ 900 MiB/s; the copy is read back only once, when the replica opens it.
 *
 * `O_DIRECT` needs the memory address, the file offset and the length aligned to the device's
 * block size. Offsets and lengths are checked per write; memory comes from one slab whose aligned
 * start is found by probing (Node does not expose addresses): a 4 KiB `O_DIRECT` write from each
 * 16-byte step of the slab's first 4 KiB to a scratch file until one is accepted. Whatever goes
 * wrong — a file system without `O_DIRECT` (tmpfs), no aligned start, a failed direct write —
 * the caller keeps the buffered path, so this never decides whether a copy succeeds.
 */
import { constants } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";

/** Alignment used for memory, offsets and lengths: a page, a multiple of every block size. */
export const DIRECT_ALIGNMENT = 4096;
const PROBE_STEP = 16;
const PROBE_FILE = ".direct-probe";

/** Opens `path` for `O_DIRECT` writes, or undefined where the file system refuses it. */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  const { O_DIRECT, O_WRONLY } = constants;
  if (O_DIRECT === undefined) return undefined;
  try {
    return await open(path, O_WRONLY | O_DIRECT);
  } catch {
    return undefined;
  }
}

/**
 * `count` buffers of `bytes` each (a multiple of DIRECT_ALIGNMENT), carved from one slab at a
 * start `O_DIRECT` accepts in `dir`; undefined when no aligned start is found (or `bytes` is not
 * a multiple of the alignment).
 */
export async function alignedBuffers(
  dir: string,
  count: number,
  bytes: number,
): Promise<Buffer[] | undefined> {
  if (bytes % DIRECT_ALIGNMENT !== 0 || count < 1) return undefined;
  const probePath = join(dir, PROBE_FILE);
  try {
    await open(probePath, "w").then((handle) => handle.close());
    const handle = await openDirect(probePath);
    if (handle === undefined) return undefined;
    try {
      const slab = Buffer.allocUnsafeSlow(count * bytes + DIRECT_ALIGNMENT);
      for (let start = 0; start < DIRECT_ALIGNMENT; start += PROBE_STEP) {
        if (await accepts(handle, slab.subarray(start, start + DIRECT_ALIGNMENT))) {
          return Array.from({ length: count }, (_, i) =>
            slab.subarray(start + i * bytes, start + (i + 1) * bytes),
          );
        }
      }
      return undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  } finally {
    await unlink(probePath).catch(() => {});
  }
}

async function accepts(handle: FileHandle, block: Buffer): Promise<boolean> {
  try {
    await handle.write(block, 0, block.length, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether a write of `length` bytes at `offset` can go through `O_DIRECT`. */
export function directAligned(offset: number, length: number): boolean {
  return offset % DIRECT_ALIGNMENT === 0 && length % DIRECT_ALIGNMENT === 0 && length > 0;
}
