/**
 * Progress of long commands (count_data). Verbs report through this port; on a terminal it draws
 * a cli-progress bar on stderr, so stdout keeps only the answer.
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
