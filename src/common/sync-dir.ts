/**
 * fsync of a directory: makes the creates, renames and unlinks inside it durable (POSIX leaves
 * them in the page cache until the directory itself is synced).
 */
import { open } from "node:fs/promises";

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
