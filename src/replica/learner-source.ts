/**
 * What a primary teaches learners from (READ_LOG_FOR_LEARNER): committed mutations read from its
 * private log, or a checkpoint of its storage when the log no longer reaches that far back.
 *
 * Invariants:
 *  - A log answer holds durable records fromDecree.. without a gap (at most toDecree, at most
 *    bytesMax bytes, at least one record). The core asks only up to its committed decree, and
 *    committed records are never truncated, so they are committed mutations.
 *  - A checkpoint is offered only if it moves the learner forward (decree ≥ fromDecree) and the
 *    log still continues right after it, so the learner can go on by log; otherwise a new one is
 *    made. Making checkpoints is serialized, and at most checkpointsMax are kept (newest first).
 *  - Step-back (ref §3.5): while duplication holds the log from decree h ≤ the checkpoint's decree,
 *    the checkpoint also carries the log records h..decree (log-tail.ts), so the learner's log
 *    starts at h too. A kept checkpoint is reused only if its tail reaches back to the hold.
 *  - Checkpoints live in `<dir>/checkpoints/<id>`; the directory is emptied on open. An id is
 *    `<sequence>`, unique within one opening; the ref also carries the decree, which the
 *    installing side checks against what it received, so a stale id cannot install other data.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Mutation } from "../codec/mutation.ts";
import { decodeMutation } from "../codec/mutation-codec.ts";
import { isTalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { NodeAddress } from "../protocol/ids.ts";
import type { CheckpointRef } from "../protocol/replica-messages.ts";
import type { ReplicationAction, ReplicationEvent } from "../replication/index.ts";
import type { StorageEngine } from "../storage/index.ts";
import { LOG_TAIL_FILE, writeLogTail } from "./log-tail.ts";
import { CHECKPOINTS_DIR } from "./replica-layout.ts";
import type { ReplicaLog } from "./replica-log.ts";

type ReadForLearner = Extract<ReplicationAction, { type: "READ_LOG_FOR_LEARNER" }>;

interface KeptCheckpoint {
  readonly ref: CheckpointRef;
  readonly path: string;
  /** The first decree of its log tail; ref.decree + 1 when it has none. */
  readonly tailFrom: number;
}

export interface LearnerSourceHost {
  readonly dir: string;
  readonly self: NodeAddress;
  readonly checkpointsMax: number;
  readonly logger: Logger;
  log(): ReplicaLog;
  storage(): StorageEngine;
  /** Duplication's log hold here (the first decree it still needs), if any. */
  logHold(): number | undefined;
}

export class LearnerSource {
  /** Newest last. */
  private kept: KeptCheckpoint[] = [];
  private making: Promise<KeptCheckpoint> | undefined;
  private nextId = 1;

  constructor(private readonly host: LearnerSourceHost) {}

  /** Performs READ_LOG_FOR_LEARNER; resolves to the event to feed back. */
  async serve(action: ReadForLearner): Promise<ReplicationEvent> {
    const { learner, ballot } = action;
    const mutations = await this.readLog(action);
    if (mutations !== undefined) return { type: "LEARNER_LOG_READ", learner, ballot, mutations };
    const checkpoint = await this.checkpointFrom(action.fromDecree);
    return { type: "LEARNER_CHECKPOINT_READY", learner, ballot, checkpoint: checkpoint.ref };
  }

  /**
   * Makes a checkpoint for learners now, before any learner asks: for a replica that will need
   * learners at once and can teach them only by checkpoint (a follower primary just installed
   * from its master's checkpoint: its log starts after it). The first learner then finds it made.
   * Resolves to it, or to undefined when it could not be made (logged; a learner's ask retries).
   */
  async prepare(): Promise<CheckpointRef | undefined> {
    try {
      return (await this.checkpointFrom(0)).ref;
    } catch (error) {
      this.host.logger.warn({ err: error }, "checkpoint for learners not made ahead");
      return undefined;
    }
  }

  /** The local directory of checkpoint `id`, for the server to send to a learner. */
  checkpointPath(id: string): string | undefined {
    return this.kept.find((kept) => kept.ref.id === id)?.path;
  }

  /** Records fromDecree.., or undefined when the log no longer holds fromDecree. */
  private async readLog(action: ReadForLearner): Promise<Mutation[] | undefined> {
    const log = this.host.log();
    if (action.fromDecree < log.firstDecree) return undefined;
    let records: Awaited<ReturnType<ReplicaLog["read"]>>;
    try {
      records = await log.read(action.fromDecree, {
        bytesMax: action.bytesMax,
        toDecree: action.toDecree,
      });
    } catch (error) {
      // Garbage-collected while we read: a checkpoint will do.
      if (isTalariaError(error, "ERR_OBJECT_NOT_FOUND")) return undefined;
      throw error;
    }
    const mutations: Mutation[] = [];
    for (const record of records) {
      if (record.decree !== action.fromDecree + mutations.length) break;
      mutations.push(decodeMutation(record.payload));
    }
    return mutations.length > 0 ? mutations : undefined;
  }

  private async checkpointFrom(fromDecree: number): Promise<KeptCheckpoint> {
    const newest = this.kept.at(-1);
    const hold = this.host.logHold();
    if (
      newest !== undefined &&
      newest.ref.decree >= fromDecree &&
      newest.ref.decree + 1 >= this.host.log().firstDecree &&
      (hold === undefined || newest.tailFrom <= Math.max(hold, this.host.log().firstDecree))
    ) {
      return newest;
    }
    // One at a time: a second learner asking meanwhile gets the one being made.
    this.making ??= this.make().finally(() => {
      this.making = undefined;
    });
    return this.making;
  }

  private async make(): Promise<KeptCheckpoint> {
    const id = `${this.nextId++}`;
    const path = join(this.host.dir, CHECKPOINTS_DIR, id);
    const info = await this.host.storage().checkpoint(path);
    const hold = this.host.logHold();
    const tailFrom =
      hold === undefined || hold > info.decree
        ? info.decree + 1
        : await writeLogTail(this.host.log(), hold, info.decree, join(path, LOG_TAIL_FILE));
    const kept: KeptCheckpoint = {
      ref: { node: this.host.self, id, decree: info.decree, ballot: info.ballot },
      path,
      tailFrom,
    };
    this.kept.push(kept);
    while (this.kept.length > this.host.checkpointsMax) {
      const oldest = this.kept.shift();
      if (oldest !== undefined) await rm(oldest.path, { recursive: true, force: true });
    }
    this.host.logger.info(
      {
        checkpoint: id,
        decree: info.decree,
        bytes: info.bytes,
        ...(tailFrom <= info.decree ? { logTailFrom: tailFrom } : {}),
      },
      "checkpoint made for learners",
    );
    return kept;
  }
}
