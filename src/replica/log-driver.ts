/**
 * Performs the core's log actions (APPEND_LOG, TRUNCATE_LOG) on the private log and reports
 * their durability back as LOG_DURABLE.
 *
 * Invariants (the core's order contract, src/replication/core/types.ts):
 *  - Actions reach the plog in the order they are performed, which is logSeq order: the caller
 *    performs them synchronously as the core emits them, and the plog applies its operations in
 *    call order.
 *  - LOG_DURABLE {logSeq: s} is reported only once action s AND every earlier one is durable
 *    (each action's promise is joined with the previous tail), and never after any log action
 *    failed: the failure is reported instead and the replica stops.
 *  - Several completions in one turn of the event loop (one group commit) report once, with the
 *    largest logSeq.
 */
import type { Mutation } from "../codec/mutation.ts";
import { encodeMutation } from "../codec/mutation-codec.ts";
import type { ReplicaLog } from "./replica-log.ts";

export type LogAction =
  | { readonly type: "APPEND_LOG"; readonly logSeq: number; readonly mutation: Mutation }
  | { readonly type: "TRUNCATE_LOG"; readonly logSeq: number; readonly afterDecree: number };

export class LogDriver {
  private tail: Promise<void> = Promise.resolve();
  private durableSeq = 0;
  private reportScheduled = false;
  private failed = false;

  constructor(
    private readonly log: ReplicaLog,
    private readonly onDurable: (logSeq: number) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  perform(action: LogAction): void {
    const operation =
      action.type === "APPEND_LOG"
        ? this.log.append(action.mutation.decree, encodeMutation(action.mutation))
        : this.log.truncateAfter(action.afterDecree);
    const done = Promise.all([this.tail, operation]);
    this.tail = done.then(
      () => undefined,
      () => undefined,
    );
    void done.then(
      () => this.noteDurable(action.logSeq),
      (error: unknown) => {
        this.failed = true;
        this.onError(error);
      },
    );
  }

  /** Settles once every action performed so far is durable or has failed. */
  settled(): Promise<void> {
    return this.tail;
  }

  private noteDurable(logSeq: number): void {
    if (this.failed || logSeq <= this.durableSeq) return;
    this.durableSeq = logSeq;
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    queueMicrotask(() => {
      this.reportScheduled = false;
      if (!this.failed) this.onDurable(this.durableSeq);
    });
  }
}
