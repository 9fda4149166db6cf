/**
 * Where CLI commands write. Commands take a CliIo instead of touching process.stdout, so tests run
 * them in-process against memory streams; main.ts passes the process's streams.
 */
import { once } from "node:events";
import type { Writable } from "node:stream";

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/**
 * Writes one line, waiting for the stream to drain when its buffer is full, so a dump of a
 * million records never holds more than one buffer's worth in memory. Rejects if the stream fails.
 */
export async function writeLine(stream: Writable, line: string): Promise<void> {
  if (!stream.write(`${line}\n`)) await once(stream, "drain");
}
