/**
 * Learn step-back (ref §3.5): when a primary holds its log for duplication, the checkpoint it makes
 * for a learner carries the held log records up to the checkpoint's decree in one extra file, and
 * the learner's log starts from them after the install. A learner that later becomes primary then
 * still has the log its duplications have not shipped, instead of reporting it truncated.
 *
 * File format (LOG_TAIL_FILE inside the checkpoint directory): records back to back, each a
 * 4-byte big-endian payload length then the payload (an encoded mutation, as in the plog). The
 * records are contiguous decrees ending at the checkpoint's decree; storage ignores the file.
 */
import { open } from "node:fs/promises";
import { decodeMutation } from "../codec/mutation-codec.ts";
import { TalariaError } from "../common/errors.ts";
import type { ReplicaLog } from "./replica-log.ts";

export const LOG_TAIL_FILE = "log-tail";
/** Payload bytes read from the plog per batch while writing the tail. */
const READ_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Writes log records `fromDecree..toDecree` into `path`. Resolves to the first decree written
 * (toDecree + 1 when nothing was: the log no longer holds `fromDecree`).
 */
export async function writeLogTail(
  log: ReplicaLog,
  fromDecree: number,
  toDecree: number,
  path: string,
): Promise<number> {
  const from = Math.max(fromDecree, log.firstDecree);
  if (from > toDecree) return toDecree + 1;
  const handle = await open(path, "wx");
  try {
    let next = from;
    while (next <= toDecree) {
      const records = await log.read(next, { bytesMax: READ_BATCH_BYTES, toDecree });
      if (records.length === 0) break;
      for (const record of records) {
        if (record.decree !== next)
          throw tailError(`plog record ${record.decree} where ${next} was due`);
        const length = Buffer.allocUnsafe(4);
        length.writeUInt32BE(record.payload.length);
        await handle.write(length);
        await handle.write(record.payload);
        next++;
      }
    }
    if (next <= toDecree) throw tailError(`the plog ended at ${next - 1}, before ${toDecree}`);
    await handle.sync();
    return from;
  } finally {
    await handle.close();
  }
}

/** Reads a tail file back: its records in order, each with its decree. */
export async function* readLogTail(
  path: string,
): AsyncGenerator<{ readonly decree: number; readonly payload: Buffer }> {
  const handle = await open(path, "r");
  try {
    const header = Buffer.allocUnsafe(4);
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(header, 0, 4, position);
      if (bytesRead === 0) return;
      if (bytesRead < 4) throw tailError(`a truncated length at ${position}`);
      const length = header.readUInt32BE(0);
      const payload = Buffer.allocUnsafe(length);
      const read = await handle.read(payload, 0, length, position + 4);
      if (read.bytesRead < length) throw tailError(`a truncated record at ${position}`);
      yield { decree: decodeMutation(payload).decree, payload };
      position += 4 + length;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Makes `log` (just reset to `decree`) start at the tail's first decree: resets it there and
 * appends the tail, which must end exactly at `decree`. Resolves to the log's first decree.
 */
export async function applyLogTail(log: ReplicaLog, path: string, decree: number): Promise<number> {
  let first: number | undefined;
  let expected = 0;
  let last: Promise<void> = Promise.resolve();
  for await (const record of readLogTail(path)) {
    if (first === undefined) {
      if (record.decree > decree) throw tailError(`it starts at ${record.decree}, after ${decree}`);
      first = record.decree;
      expected = first;
      await log.resetTo(first - 1);
    }
    if (record.decree !== expected)
      throw tailError(`record ${record.decree} where ${expected} was due`);
    last = log.append(record.decree, record.payload);
    expected++;
    // Bound what waits in memory for the disk.
    if ((expected - first) % 1024 === 0) await last;
  }
  if (first === undefined) return log.firstDecree;
  await last;
  if (expected - 1 !== decree) throw tailError(`it ends at ${expected - 1}, not ${decree}`);
  return first;
}

function tailError(what: string): TalariaError {
  return new TalariaError("ERR_INVALID_DATA", `learner log tail: ${what}`);
}
