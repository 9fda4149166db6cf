/**
 * Scans of the current table: scan (whole table, partition after partition), hash_scan (one hash
 * key) and count_data (every partition, several at once, counting). Every scan is bounded: a
 * record count for scan and hash_scan, a scanner count for count_data, and a batch size.
 */

import { assert } from "../common/index.ts";
import { FilterType, type KeyValue } from "../storage/index.ts";
import type { ShellTable } from "./backend.ts";
import { sortKeyFilterFlags, sortKeyFilterOf } from "./key-filter.ts";
import { PROGRESS_RECORDS_STEP } from "./progress.ts";
import { bytesToDisplay, bytesToJson, formatTable, plural } from "./render.ts";
import {
  type AnyVerbSpec,
  defineVerb,
  type FlagSpec,
  InterruptedError,
  UsageError,
  type VerbResult,
} from "./verb-spec.ts";

/** Records scan and hash_scan print when -n is not given. */
export const SCAN_COUNT_DEFAULT = 100;
/** Largest -n of scan and hash_scan: the answer is held in memory to align and to build JSON. */
export const SCAN_COUNT_MAX = 100_000;
/** Records per round trip of scan (the server caps it at its scanBatchCountMax). */
export const SCAN_BATCH_DEFAULT = 100;
export const COUNT_BATCH_DEFAULT = 1000;
export const SCAN_BATCH_MAX = 10_000;
/** Partitions count_data scans at once by default, and at most. */
export const COUNT_CONCURRENCY_DEFAULT = 4;
export const COUNT_CONCURRENCY_MAX = 32;
const PARTITION_INDEX_MAX = 65_535;

const maxCountFlag: FlagSpec = {
  name: "max_count",
  short: "n",
  kind: "int",
  min: 1,
  max: SCAN_COUNT_MAX,
  help: `most records to print (default ${SCAN_COUNT_DEFAULT})`,
};
const noValueFlag: FlagSpec = { name: "no_value", short: "i", kind: "switch", help: "keys only" };

interface Collected {
  readonly records: KeyValue[];
  /** Whether records remain after the last one collected. */
  readonly more: boolean;
}

/** Up to `max` records of `scan`, then one look ahead to tell whether more follow. */
async function collect(
  scan: AsyncIterable<KeyValue>,
  max: number,
  signal: AbortSignal,
): Promise<Collected> {
  const iterator = scan[Symbol.asyncIterator]();
  const records: KeyValue[] = [];
  try {
    for (;;) {
      if (signal.aborted) throw new InterruptedError("scan interrupted");
      const next = await iterator.next();
      if (next.done === true) return { records, more: false };
      if (records.length === max) return { records, more: true };
      records.push(next.value);
    }
  } finally {
    await iterator.return?.();
  }
}

function scanResult(collected: Collected, max: number, noValue: boolean): VerbResult {
  const { records, more } = collected;
  const header = noValue ? ["hash_key", "sort_key"] : ["hash_key", "sort_key", "value"];
  const rows = records.map((kv) => {
    const keys = [bytesToDisplay(kv.hashKey), bytesToDisplay(kv.sortKey)];
    return noValue ? keys : [...keys, bytesToDisplay(kv.value)];
  });
  const lines = [...formatTable(header, rows), "", plural(records.length, "record")];
  if (more) lines.push(`(stopped at -n ${max}; more records follow)`);
  return {
    json: {
      records: records.map((kv) => ({
        hashKey: bytesToJson(kv.hashKey),
        sortKey: bytesToJson(kv.sortKey),
        ...(noValue ? {} : { value: bytesToJson(kv.value) }),
      })),
      count: records.length,
      more,
    },
    lines,
  };
}

interface ScanRequest {
  readonly hashKeyPrefix: Buffer | undefined;
  readonly sortKeyFilter: ReturnType<typeof sortKeyFilterOf>;
  readonly maxCount: number;
  readonly batchSize: number;
  readonly noValue: boolean;
}

const scan = defineVerb<ScanRequest>({
  name: "scan",
  aliases: ["full_scan"],
  group: "scan",
  needsTable: true,
  summary: "records of the whole table, partition after partition",
  positionals: [],
  flags: [
    {
      name: "hash_key_prefix",
      short: "h",
      kind: "string",
      help: "only hash keys with this prefix",
    },
    ...sortKeyFilterFlags,
    maxCountFlag,
    {
      name: "batch_size",
      short: "b",
      kind: "int",
      min: 1,
      max: SCAN_BATCH_MAX,
      help: `records per round trip (default ${SCAN_BATCH_DEFAULT})`,
    },
    noValueFlag,
  ],
  parse: (args) => ({
    hashKeyPrefix: args.token("hash_key_prefix")?.bytes,
    sortKeyFilter: sortKeyFilterOf(args),
    maxCount: args.int("max_count") ?? SCAN_COUNT_DEFAULT,
    batchSize: args.int("batch_size") ?? SCAN_BATCH_DEFAULT,
    noValue: args.has("no_value"),
  }),
  async run(context, r) {
    const records = context.table().table.scan({
      batchSize: Math.min(r.batchSize, r.maxCount + 1),
      noValue: r.noValue,
      ...(r.hashKeyPrefix === undefined
        ? {}
        : { hashKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: r.hashKeyPrefix } }),
      ...(r.sortKeyFilter === undefined ? {} : { sortKeyFilter: r.sortKeyFilter }),
    });
    return scanResult(await collect(records, r.maxCount, context.signal), r.maxCount, r.noValue);
  },
});

interface HashScanRequest {
  readonly hashKey: Buffer;
  readonly startSortKey: Buffer | undefined;
  readonly stopSortKey: Buffer | undefined;
  readonly startInclusive: boolean;
  readonly stopInclusive: boolean;
  readonly sortKeyFilter: ReturnType<typeof sortKeyFilterOf>;
  readonly maxCount: number;
  readonly noValue: boolean;
}

const hashScan = defineVerb<HashScanRequest>({
  name: "hash_scan",
  group: "scan",
  needsTable: true,
  summary: "records of one hash key in sort-key order, optionally within a sort-key range",
  details: ['An absent or empty ("") start or stop sort key leaves that end open.'],
  positionals: [
    { name: "hash_key" },
    { name: "start_sort_key", optional: true },
    { name: "stop_sort_key", optional: true },
  ],
  flags: [
    {
      name: "start_inclusive",
      short: "a",
      kind: "bool",
      help: "include the start sort key (default true)",
    },
    {
      name: "stop_inclusive",
      short: "b",
      kind: "bool",
      help: "include the stop sort key (default false)",
    },
    ...sortKeyFilterFlags,
    maxCountFlag,
    noValueFlag,
  ],
  parse(args) {
    const hashKey = args.positional(0).bytes;
    if (hashKey.length === 0) throw args.error("<hash_key> must not be empty");
    const start = args.optionalPositional(1)?.bytes;
    const stop = args.optionalPositional(2)?.bytes;
    return {
      hashKey,
      startSortKey: start === undefined || start.length === 0 ? undefined : start,
      stopSortKey: stop === undefined || stop.length === 0 ? undefined : stop,
      startInclusive: args.bool("start_inclusive") ?? true,
      stopInclusive: args.bool("stop_inclusive") ?? false,
      sortKeyFilter: sortKeyFilterOf(args),
      maxCount: args.int("max_count") ?? SCAN_COUNT_DEFAULT,
      noValue: args.has("no_value"),
    };
  },
  async run(context, r) {
    const records = context.table().table.scanHashKey(r.hashKey, {
      startInclusive: r.startInclusive,
      stopInclusive: r.stopInclusive,
      batchSize: Math.min(SCAN_BATCH_DEFAULT, r.maxCount + 1),
      noValue: r.noValue,
      ...(r.startSortKey === undefined ? {} : { startSortKey: r.startSortKey }),
      ...(r.stopSortKey === undefined ? {} : { stopSortKey: r.stopSortKey }),
      ...(r.sortKeyFilter === undefined ? {} : { sortKeyFilter: r.sortKeyFilter }),
    });
    return scanResult(await collect(records, r.maxCount, context.signal), r.maxCount, r.noValue);
  },
});

interface CountRequest {
  readonly partition: number | undefined;
  readonly concurrency: number;
  readonly batchSize: number;
}

interface PartitionCount {
  readonly partition: number;
  count: number;
}

/**
 * Counts the records of `targets` with at most `concurrency` scanners at once. The first failure
 * stops the other scanners at their next record and is rethrown.
 */
async function countPartitions(
  table: ShellTable,
  partitionCount: number,
  targets: readonly number[],
  request: CountRequest,
  signal: AbortSignal,
  onProgress: (done: number, records: number) => void,
): Promise<PartitionCount[]> {
  const scanners = await table.unorderedScanners(partitionCount, {
    noValue: true,
    batchSize: request.batchSize,
  });
  assert(scanners.length === partitionCount, "one unordered scanner per partition");
  const counts: PartitionCount[] = targets.map((partition) => ({ partition, count: 0 }));
  let next = 0;
  let done = 0;
  let total = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    try {
      for (let slot = next++; slot < counts.length && !failed; slot = next++) {
        const entry = counts[slot] as PartitionCount;
        const scanner = scanners[entry.partition] as AsyncIterable<KeyValue>;
        for await (const _record of scanner) {
          if (failed) return;
          if (signal.aborted) throw new InterruptedError("count_data interrupted");
          entry.count++;
          total++;
          if (total % PROGRESS_RECORDS_STEP === 0) onProgress(done, total);
        }
        done++;
        onProgress(done, total);
      }
    } catch (error) {
      failed = true;
      throw error;
    }
  };
  const workers = Array.from({ length: Math.min(request.concurrency, counts.length) }, worker);
  const outcomes = await Promise.allSettled(workers);
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failure !== undefined) throw failure.reason;
  return counts;
}

const countData = defineVerb<CountRequest>({
  name: "count_data",
  group: "scan",
  needsTable: true,
  summary: "count the records of the table (or of one partition), partitions in parallel",
  details: ["On a terminal a progress bar runs on stderr while counting."],
  positionals: [],
  flags: [
    {
      name: "partition",
      short: "p",
      kind: "int",
      min: 0,
      max: PARTITION_INDEX_MAX,
      help: "count only this partition",
    },
    {
      name: "batch_size",
      short: "b",
      kind: "int",
      min: 1,
      max: SCAN_BATCH_MAX,
      help: `records per round trip (default ${COUNT_BATCH_DEFAULT})`,
    },
    {
      name: "concurrency",
      kind: "int",
      min: 1,
      max: COUNT_CONCURRENCY_MAX,
      help: `partitions scanned at once (default ${COUNT_CONCURRENCY_DEFAULT})`,
    },
  ],
  parse: (args) => ({
    partition: args.int("partition"),
    concurrency: args.int("concurrency") ?? COUNT_CONCURRENCY_DEFAULT,
    batchSize: args.int("batch_size") ?? COUNT_BATCH_DEFAULT,
  }),
  async run(context, r) {
    const { table } = context.table();
    const partitionCount = await table.partitionCount();
    if (r.partition !== undefined && r.partition >= partitionCount) {
      throw new UsageError(
        `-p ${r.partition}: the table has ${plural(partitionCount, "partition")}`,
        "count_data",
      );
    }
    const targets =
      r.partition === undefined
        ? Array.from({ length: partitionCount }, (_, i) => i)
        : [r.partition];
    const progress = context.progress?.();
    progress?.start(targets.length);
    let counts: PartitionCount[];
    try {
      counts = await countPartitions(
        table,
        partitionCount,
        targets,
        r,
        context.signal,
        (done, records) => progress?.update(done, records),
      );
    } finally {
      progress?.stop();
    }
    const total = counts.reduce((sum, c) => sum + c.count, 0);
    return {
      json: { partitions: counts, total },
      lines: formatTable(
        ["partition", "count"],
        [...counts.map((c) => [String(c.partition), String(c.count)]), ["total", String(total)]],
      ),
    };
  },
});

export const scanVerbs: readonly AnyVerbSpec[] = [scan, hashScan, countData];
