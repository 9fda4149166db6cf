/**
 * Opening a partition replica's files (layout in replica-layout.ts) and rebuilding the
 * replication core's RecoveredState from them.
 *
 * Invariants:
 *  - Storage holds exactly the committed mutations up to its last applied decree (it applies
 *    only committed ones, in order); the log holds every durable record after it, contiguous,
 *    with ballots that never decrease and start at or above storage's last applied ballot.
 *    Anything else is refused (ERR_INVALID_STATE / ERR_CORRUPTION) rather than guessed at.
 *  - An interrupted checkpoint install is finished (the log reset CURRENT asks for) before
 *    anything is read, so storage and log describe one history.
 *  - The hybrid clock resumes past every timestamp in storage AND in the log tail: the tail is
 *    applied only after the core commits it again, but a new write must still follow it.
 *
 * Memory: the recovered tail is held in the core's prepare list. It is bounded by what storage
 * had not applied when the replica stopped (at most the uncommitted window plus lmdb's flush lag).
 */
import { join } from "node:path";
import { type Mutation, UpdateKind } from "../codec/mutation.ts";
import { decodeMutation } from "../codec/mutation-codec.ts";
import type { Clock } from "../common/clock.ts";
import { TalariaError } from "../common/errors.ts";
import type { ReadLimits } from "../common/limits.ts";
import type { Logger } from "../common/logger.ts";
import { type PlogFs, PrivateLog, type PrivateLogOptions } from "../plog/index.ts";
import type { RecoveredState } from "../replication/index.ts";
import { StorageEngine, type StorageEngineOptions } from "../storage/index.ts";
import { PLOG_DIR, readLayoutState, removeLeftovers, writeLayoutState } from "./replica-layout.ts";
import type { ReplicaLog } from "./replica-log.ts";

export interface ReplicaFilesOptions {
  readonly dir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly readLimits: ReadLimits;
  readonly tombstoneRetentionSeconds?: number;
  readonly plogSegmentBytesMax?: number;
  readonly plogTailCacheBytes?: number;
  readonly plogFsync?: boolean;
  /** Bytes of log read per batch while rebuilding the recovered tail. */
  readonly replayBatchBytes: number;
}

/** Opens the private log; tests wrap PrivateLog.open to inject faults. */
export type LogOpener = (options: PrivateLogOptions) => Promise<ReplicaLog>;

export const openPrivateLog: LogOpener = (options) => PrivateLog.open(options);

/** Opens the private log on `fs` (the replica server's, with its fdatasync placement). */
export function openPrivateLogOn(fs: PlogFs): LogOpener {
  return (options) => PrivateLog.open(options, { fs });
}

export interface OpenedReplicaFiles {
  readonly storage: StorageEngine;
  readonly log: ReplicaLog;
  /** Name of the storage environment in use (see replica-layout.ts). */
  readonly dataDir: string;
  readonly recovered: RecoveredState;
  /** The largest timestamp in storage or in the recovered tail. */
  readonly resumeTimestampUs: number;
}

export function storageOptions(options: ReplicaFilesOptions): Omit<StorageEngineOptions, "path"> {
  return {
    clock: options.clock,
    logger: options.logger,
    readLimits: options.readLimits,
    ...(options.tombstoneRetentionSeconds === undefined
      ? {}
      : { tombstoneRetentionSeconds: options.tombstoneRetentionSeconds }),
  };
}

export function plogOptions(options: ReplicaFilesOptions): PrivateLogOptions {
  return {
    dir: join(options.dir, PLOG_DIR),
    logger: options.logger,
    ...(options.plogSegmentBytesMax === undefined
      ? {}
      : { segmentBytesMax: options.plogSegmentBytesMax }),
    ...(options.plogTailCacheBytes === undefined
      ? {}
      : { tailCacheBytes: options.plogTailCacheBytes }),
    ...(options.plogFsync === undefined ? {} : { fsync: options.plogFsync }),
  };
}

export async function openReplicaFiles(
  options: ReplicaFilesOptions,
  openLog: LogOpener,
): Promise<OpenedReplicaFiles> {
  const layout = await readLayoutState(options.dir);
  await removeLeftovers(options.dir, layout.dataDir);
  const storage = await StorageEngine.open({
    ...storageOptions(options),
    path: join(options.dir, layout.dataDir),
  });
  let log: ReplicaLog | undefined;
  try {
    log = await openLog(plogOptions(options));
    if (layout.logResetDecree !== undefined) {
      if (storage.lastAppliedDecree !== layout.logResetDecree) {
        throw new TalariaError(
          "ERR_INVALID_STATE",
          `CURRENT resets the log to ${layout.logResetDecree} but storage holds decree ${storage.lastAppliedDecree}`,
        );
      }
      await log.resetTo(layout.logResetDecree);
      await writeLayoutState(options.dir, { dataDir: layout.dataDir });
      options.logger.info(
        { decree: layout.logResetDecree },
        "finished an interrupted checkpoint install",
      );
    }
    const tail = await readTail(log, storage, options.replayBatchBytes);
    return { storage, log, dataDir: layout.dataDir, ...tail };
  } catch (error) {
    await log?.close();
    await storage.close();
    throw error;
  }
}

/** Largest timestamp a mutation carries (its own, or a duplicated entry's). */
export function mutationMaxTimestampUs(mutation: Mutation): number {
  let max = mutation.timestampUs;
  for (const update of mutation.updates) {
    if (update.kind !== UpdateKind.DUPLICATE) continue;
    for (const entry of update.entries) max = Math.max(max, entry.timestampUs);
  }
  return max;
}

async function readTail(
  log: ReplicaLog,
  storage: StorageEngine,
  batchBytes: number,
): Promise<{ recovered: RecoveredState; resumeTimestampUs: number }> {
  const applied = storage.lastAppliedDecree;
  // Environments written before storage kept the ballot read as 0: take it from the log.
  const appliedBallot =
    storage.lastAppliedBallot === 0 && applied > 0
      ? await ballotInLog(log, applied)
      : storage.lastAppliedBallot;
  const from = applied + 1;
  const entries: Mutation[] = [];
  let resumeTimestampUs = storage.maxTimestampUs;
  if (log.lastDecree >= from) {
    if (log.firstDecree > from) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `the plog starts at decree ${log.firstDecree} but the store has only applied up to ${applied}`,
        { details: { firstDecree: log.firstDecree, lastAppliedDecree: applied } },
      );
    }
    let ballot = appliedBallot;
    for await (const record of log.replay(from, { batchBytes })) {
      const mutation = decodeMutation(record.payload);
      const expected = from + entries.length;
      if (mutation.decree !== record.decree || record.decree !== expected) {
        throw new TalariaError(
          "ERR_CORRUPTION",
          `plog record ${record.decree} (mutation ${mutation.decree}) where ${expected} was due`,
          { details: { decree: record.decree, expected } },
        );
      }
      if (mutation.ballot < ballot) {
        throw new TalariaError(
          "ERR_CORRUPTION",
          `plog ballots decrease at decree ${mutation.decree}: ${mutation.ballot} after ${ballot}`,
          { details: { decree: mutation.decree } },
        );
      }
      ballot = mutation.ballot;
      entries.push(mutation);
      resumeTimestampUs = Math.max(resumeTimestampUs, mutationMaxTimestampUs(mutation));
    }
  }
  // Ballots never decrease along the log, so its last record carries the largest one.
  const lastBallot = entries.at(-1)?.ballot ?? (await ballotInLog(log, log.lastDecree));
  return {
    recovered: {
      lastAppliedDecree: applied,
      lastAppliedBallot: appliedBallot,
      entries,
      maxLogBallot: Math.max(appliedBallot, lastBallot),
    },
    resumeTimestampUs,
  };
}

/** `mutation.ballot` of the durable record at `decree`, 0 when the log does not hold it. */
async function ballotInLog(log: ReplicaLog, decree: number): Promise<number> {
  if (decree < log.firstDecree || decree > log.durableDecree || decree < 1) return 0;
  const [record] = await log.read(decree, { bytesMax: 1, toDecree: decree });
  return record?.decree === decree ? decodeMutation(record.payload).ballot : 0;
}
