/**
 * Progress of long commands (count_data by partitions, wait_dup by phase). Verbs report through
 * these ports; on a terminal they draw a cli-progress bar on stderr, so stdout keeps only the
 * answer.
 */
import type { Writable } from "node:stream";
import { SingleBar } from "cli-progress";

export interface ProgressReporter {
  start(totalPartitions: number): void;
  update(partitionsDone: number, records: number): void;
  stop(): void;
}

export type ProgressFactory = () => ProgressReporter;

/** Records between two progress updates while counting (the bar redraws on its own clock). */
export const PROGRESS_RECORDS_STEP = 1000;

export function isTerminal(stream: Writable): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** A bar on `stream`, removed when done; for terminals only. */
export function terminalProgress(stream: Writable): ProgressFactory {
  return () => {
    const bar = new SingleBar({
      stream: stream as NodeJS.WritableStream,
      format: "{bar} {value}/{total} partitions | {records} records | {duration_formatted}",
      clearOnComplete: true,
      hideCursor: true,
    });
    return {
      start: (total) => bar.start(total, 0, { records: 0 }),
      update: (done, records) => bar.update(done, { records }),
      stop: () => bar.stop(),
    };
  };
}

/**
 * A bar over a share of work done (wait_dup: a full sync's bytes, or its partitions while the
 * bytes are not known), with a line of text saying where it is.
 */
export interface PhaseProgressReporter {
  /** `total` 0: not known yet (the bar stays empty). */
  update(done: number, total: number, phase: string): void;
  stop(): void;
}

export type PhaseProgressFactory = () => PhaseProgressReporter;

/** A phase bar on `stream`, removed when done; for terminals only. */
export function terminalPhaseProgress(stream: Writable): PhaseProgressFactory {
  return () => {
    const bar = new SingleBar({
      stream: stream as NodeJS.WritableStream,
      format: "{bar} {percentage}% | {phase} | {duration_formatted}",
      clearOnComplete: true,
      hideCursor: true,
    });
    let started = false;
    return {
      update: (done, total, phase) => {
        // cli-progress needs a total above 0; an unknown one shows as an empty bar.
        const shownTotal = Math.max(total, 1);
        const shownDone = total === 0 ? 0 : Math.min(done, total);
        if (!started) {
          bar.start(shownTotal, shownDone, { phase });
          started = true;
        } else {
          bar.setTotal(shownTotal);
          bar.update(shownDone, { phase });
        }
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  };
}
