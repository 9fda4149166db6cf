/**
 * `talaria log dump <dir>` and `talaria log info <dir>`: inspect a replica's private log (plog),
 * the equivalent of Pegasus's `mlog_dump`. `<dir>` is the plog directory (`<replica dir>/plog`).
 *
 * Invariant: the log is opened read-only, so neither command changes anything on disk. A torn
 * tail or an empty last segment is reported (header line, or stderr under --json) and left in
 * place; records after a torn point are never shown. Pointed at a live replica, a flush in
 * progress there may show up as a torn tail.
 */
import { type Command, InvalidArgumentError } from "commander";
import { type OpenReport, PrivateLog, type SegmentInfo } from "../plog/index.ts";
import { decodeRecord, recordToJsonLine, recordToLines } from "./log-format.ts";
import { type CliIo, writeLine } from "./output.ts";

/** Records `log dump` prints when --limit is not given. */
export const DUMP_LIMIT_DEFAULT = 100;
/** Largest --limit: one dump stays a bounded amount of output and work. */
export const DUMP_LIMIT_MAX = 1_000_000;
/** Payload bytes `log dump` reads from the plog per batch (1 MiB). */
export const DUMP_READ_BATCH_BYTES = 1024 * 1024;

export interface DumpOptions {
  /** First decree to print; the log's first decree when absent. */
  readonly from?: number;
  readonly limit: number;
  readonly json: boolean;
}

export interface InfoOptions {
  readonly json: boolean;
}

function parseDecreeOption(text: string): number {
  const decree = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(decree) || decree < 1) {
    throw new InvalidArgumentError("--from must be a decree, an integer >= 1.");
  }
  return decree;
}

function parseLimitOption(text: string): number {
  const limit = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > DUMP_LIMIT_MAX) {
    throw new InvalidArgumentError(`--limit must be an integer in [1, ${DUMP_LIMIT_MAX}].`);
  }
  return limit;
}

export function registerLogCommands(program: Command, io: CliIo): void {
  const log = program
    .command("log")
    .description("inspect a replica's private log (plog), read-only");
  log
    .command("dump")
    .description("print the mutations in a private log")
    .argument("<dir>", "the plog directory (<replica dir>/plog)")
    .option(
      "--from <decree>",
      "first decree to print (default: the log's first)",
      parseDecreeOption,
    )
    .option(
      "--limit <n>",
      `most records to print, 1..${DUMP_LIMIT_MAX}`,
      parseLimitOption,
      DUMP_LIMIT_DEFAULT,
    )
    .option("--json", "one JSON object per record and line")
    .action(async (dir: string, options: { from?: number; limit: number; json?: true }) => {
      const { from, limit } = options;
      await dumpLog(
        dir,
        { ...(from === undefined ? {} : { from }), limit, json: options.json === true },
        io,
      );
    });
  log
    .command("info")
    .description("summarize a private log: segments, decrees, sizes, torn tail")
    .argument("<dir>", "the plog directory (<replica dir>/plog)")
    .option("--json", "print the summary as one JSON object")
    .action(async (dir: string, options: { json?: true }) => {
      await logInfo(dir, { json: options.json === true }, io);
    });
}

async function withReadOnlyLog(dir: string, run: (log: PrivateLog) => Promise<void>) {
  const log = await PrivateLog.open({ dir, readOnly: true });
  try {
    await run(log);
  } finally {
    await log.close();
  }
}

/** What the open found that a writable open would repair, as sentences; empty when clean. */
export function describeRepairs(report: OpenReport): string[] {
  const notes: string[] = [];
  const torn = report.truncated;
  if (torn !== undefined) {
    notes.push(
      `torn tail in ${torn.file} at offset ${torn.offset} (${torn.reason}): ` +
        `${torn.bytesDropped} bytes after it not read; left in place, a writable open truncates them`,
    );
  }
  if (report.emptyLastSegment !== undefined) {
    notes.push(
      `last segment ${report.emptyLastSegment} holds no record; left in place, a writable open deletes it`,
    );
  }
  return notes;
}

interface Totals {
  readonly records: number;
  readonly bytes: number;
}

function totals(segments: readonly SegmentInfo[]): Totals {
  let records = 0;
  let bytes = 0;
  for (const segment of segments) {
    records += segment.recordCount;
    bytes += segment.bytes;
  }
  return { records, bytes };
}

/** ", decrees 1..40", or nothing for a log without records. */
function decreeRange(log: PrivateLog, records: number): string {
  return records === 0 ? "" : `, decrees ${log.firstDecree}..${log.lastDecree}`;
}

export async function dumpLog(dir: string, options: DumpOptions, io: CliIo): Promise<void> {
  await withReadOnlyLog(dir, async (log) => {
    const segments = log.segments();
    const { records } = totals(segments);
    const repairs = describeRepairs(log.openReport);
    if (options.json) {
      // stdout stays pure JSON lines; what a person should notice goes to stderr.
      for (const note of repairs) await writeLine(io.stderr, `warning: ${note}`);
    } else {
      const ignored = log.openReport.ignoredFiles.length;
      const header = [
        `plog ${dir}: ${segments.length} segments, ${records} records${decreeRange(log, records)}` +
          // Usually a sign of the wrong directory (the replica's instead of its plog/).
          (ignored === 0 ? "" : `, ${ignored} non-segment files ignored`),
        ...repairs,
      ];
      await writeLine(io.stdout, header.join("; "));
    }
    let printed = 0;
    let lastPrinted: number | undefined;
    const from = options.from ?? log.firstDecree;
    for await (const record of log.replay(from, { batchBytes: DUMP_READ_BATCH_BYTES })) {
      const decoded = decodeRecord(record);
      if (options.json) await writeLine(io.stdout, recordToJsonLine(decoded));
      else for (const line of recordToLines(decoded)) await writeLine(io.stdout, line);
      printed += 1;
      lastPrinted = record.decree;
      if (printed === options.limit) break;
    }
    if (lastPrinted !== undefined && printed === options.limit && lastPrinted < log.lastDecree) {
      const note = `stopped at --limit ${options.limit}; continue with --from ${lastPrinted + 1}`;
      await writeLine(options.json ? io.stderr : io.stdout, `(${note})`);
    }
  });
}

export async function logInfo(dir: string, options: InfoOptions, io: CliIo): Promise<void> {
  await withReadOnlyLog(dir, async (log) => {
    const segments = log.segments();
    const { records, bytes } = totals(segments);
    const report = log.openReport;
    if (options.json) {
      const torn = report.truncated;
      const summary = {
        dir,
        segments: segments.map((segment) => ({
          file: segment.fileName,
          sequence: segment.sequence,
          firstDecree: segment.firstDecree,
          lastDecree: segment.lastDecree,
          records: segment.recordCount,
          bytes: segment.bytes,
        })),
        records,
        firstDecree: records === 0 ? null : log.firstDecree,
        lastDecree: records === 0 ? null : log.lastDecree,
        bytes,
        tornTail:
          torn === undefined
            ? null
            : {
                file: torn.file,
                offset: torn.offset,
                bytes: torn.bytesDropped,
                reason: torn.reason,
              },
        emptyLastSegment: report.emptyLastSegment ?? null,
        ignoredFiles: report.ignoredFiles,
      };
      await writeLine(io.stdout, JSON.stringify(summary));
      return;
    }
    const fileWidth = Math.max(0, ...segments.map((segment) => segment.fileName.length));
    const lines = [
      `plog ${dir}`,
      `segments: ${segments.length}`,
      ...segments.map(
        (segment) =>
          `  ${segment.fileName.padEnd(fileWidth)}  decrees ${segment.firstDecree}..${segment.lastDecree}` +
          `  records ${segment.recordCount}  ${segment.bytes} B`,
      ),
      `total: ${records} records${decreeRange(log, records)}, ${bytes} B`,
      ...(report.truncated === undefined ? ["torn tail: none"] : []),
      ...describeRepairs(report),
      ...(report.ignoredFiles.length === 0
        ? []
        : [`ignored non-segment files: ${report.ignoredFiles.join(", ")}`]),
    ];
    for (const line of lines) await writeLine(io.stdout, line);
  });
}
