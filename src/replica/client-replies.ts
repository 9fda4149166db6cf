/**
 * Client writes handed to the core and waiting for its REPLY, and the errors clients see.
 *
 * Invariants:
 *  - Each submitted write gets a fresh requestId and is answered exactly once: by its REPLY, or
 *    by rejectAll when the replica closes or fails (then its fate is unknown).
 *  - A successful REPLY resolves only once the APPLY emitted before it has been applied (the
 *    caller passes that apply's promise), so the writer reads its own write afterwards.
 *  - `details.beforeExecution` is set only where nothing can have executed: the core refused the
 *    write in the very step that brought it, before giving it a decree.
 */
import { type ErrorCode, TalariaError } from "../common/errors.ts";
import { type Gpid, gpidKey } from "../protocol/ids.ts";
import type { ReplyResult } from "../replication/index.ts";
import type { ApplyResult } from "../storage/index.ts";
import type { CoreWriteOutcome } from "./write-sequencer.ts";

interface PendingWrite {
  readonly resolve: (outcome: CoreWriteOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/** A refusal before anything executed: clients refresh their configuration and may retry. */
export function refusedBeforeExecution(gpid: Gpid, code: ErrorCode, reason: string): TalariaError {
  const key = gpidKey(gpid);
  return new TalariaError(code, `partition ${key}: ${reason}`, {
    retriable: true,
    details: { gpid: key, reason, beforeExecution: true },
  });
}

export class ClientReplies {
  private readonly pending = new Map<number, PendingWrite>();
  private nextRequestId = 1;

  constructor(private readonly gpid: Gpid) {}

  /** Writes submitted to the core and not answered yet. */
  get size(): number {
    return this.pending.size;
  }

  register(resolve: PendingWrite["resolve"], reject: PendingWrite["reject"]): number {
    const requestId = this.nextRequestId++;
    this.pending.set(requestId, { resolve, reject });
    return requestId;
  }

  settle(
    requestId: number,
    result: ReplyResult,
    refusedOnArrival: boolean,
    applied: Promise<ApplyResult> | undefined,
  ): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.pending.delete(requestId);
    if (!result.ok) {
      const key = gpidKey(this.gpid);
      pending.reject(
        refusedOnArrival
          ? refusedBeforeExecution(this.gpid, result.code, result.message)
          : new TalariaError(result.code, `partition ${key}: ${result.message}`, {
              retriable: true,
              details: { gpid: key },
            }),
      );
      return;
    }
    const decree = result.decree;
    if (applied === undefined) {
      pending.resolve({ decree, staleEntriesSkipped: 0 });
      return;
    }
    void applied.then((outcome) => pending.resolve({ ...outcome, decree }), pending.reject);
  }

  rejectAll(error: unknown): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const write of pending) write.reject(error);
  }
}
