/**
 * The ports the shipper runtime (shipper.ts) performs the core's actions through, and adapters
 * from Talaria's own pieces: the replica's private log and the client's Table.
 */
import type { DuplicateEntry, Mutation } from "../../codec/mutation.ts";
import { isTalariaError } from "../../common/errors.ts";
import type { LogRecord, ReadOptions } from "../../plog/index.ts";
import type { DuplicationError } from "./events.ts";

/** The slice of a primary replica the shipper reads. */
export interface DuplicationLogReader {
  /** PrivateLog.read: durable records from `fromDecree`; ERR_OBJECT_NOT_FOUND below the log's start. */
  read(fromDecree: number, options: ReadOptions): Promise<LogRecord[]>;
  /** The replica's last committed (applied) decree: nothing above it is shipped. */
  committedDecree(): number;
  /** Plog bytes held from `decree` on (PrivateLog.bytesFrom: to within one seek interval). */
  retainedBytesFrom(decree: number): number;
  /**
   * A reader that holds mutations rather than log records (a re-sync's checkpoint, which has no
   * payloads to decode) answers a LOAD with this instead of `read`; same contract.
   */
  readMutations?(fromDecree: number, options: ReadOptions): Promise<DecodedBatch>;
}

/** Mutations fromDecree.. in decree order, and the bytes they count for (batch sizing, stats). */
export interface DecodedBatch {
  readonly mutations: Mutation[];
  readonly bytes: number;
}

export interface RemoteDuplicateOptions {
  /** The partition count the entries were routed by; the remote table must have it. */
  readonly partitionCount: number;
  readonly timeoutMs: number;
  /** A full re-sync's entries (DuplicateRequest.resync). */
  readonly resync?: boolean;
}

/**
 * One partition of the remote table, reached by index. Resolves once the remote applied the
 * request; rejects with anything otherwise. A TalariaError ERR_INCONSISTENT_STATE carrying
 * `details.partitionCount` says the remote table has another partition count.
 */
export interface RemoteTable {
  duplicate(
    partitionIndex: number,
    entries: readonly DuplicateEntry[],
    options: RemoteDuplicateOptions,
  ): Promise<unknown>;
}

/** The client Table as a RemoteTable (Table.duplicate: routed by index, idempotent retries). */
export function tableRemote(table: {
  duplicate(
    partitionIndex: number,
    entries: readonly DuplicateEntry[],
    options: RemoteDuplicateOptions,
  ): Promise<unknown>;
}): RemoteTable {
  return { duplicate: (index, entries, options) => table.duplicate(index, entries, options) };
}

/** A replica's private log as a DuplicationLogReader. */
export function plogDuplicationReader(
  log: {
    read(fromDecree: number, options: ReadOptions): Promise<LogRecord[]>;
    bytesFrom(decree: number): number;
  },
  committedDecree: () => number,
): DuplicationLogReader {
  return {
    read: (fromDecree, options) => log.read(fromDecree, options),
    committedDecree,
    retainedBytesFrom: (decree) => log.bytesFrom(decree),
  };
}

/** Longest error message kept (a remote may send anything). */
export const ERROR_MESSAGE_CHARS_MAX = 1000;

function bounded(text: string): string {
  return text.length <= ERROR_MESSAGE_CHARS_MAX
    ? text
    : `${text.slice(0, ERROR_MESSAGE_CHARS_MAX)}…`;
}

function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "(unprintable)";
  }
}

/** Reduces any thrown value to error data; never throws. */
export function toDuplicationError(error: unknown): DuplicationError {
  if (isTalariaError(error)) return { code: error.code, message: bounded(error.message) };
  if (error instanceof Error) {
    return { code: "ERR_UNKNOWN", message: bounded(`${error.name}: ${printable(error.message)}`) };
  }
  return { code: "ERR_UNKNOWN", message: bounded(printable(error)) };
}

/** The remote's partition count, when the error says it differs from the one routed by. */
export function remotePartitionCount(error: unknown): number | undefined {
  if (!isTalariaError(error, "ERR_INCONSISTENT_STATE")) return undefined;
  const count = error.details.partitionCount;
  return typeof count === "number" && Number.isSafeInteger(count) && count >= 1 ? count : undefined;
}
