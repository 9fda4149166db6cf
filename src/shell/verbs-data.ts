/**
 * Data verbs on the current table (Pegasus shell names and flags): set, get, del, multi_set,
 * multi_get, multi_get_range, multi_del, incr, check_and_set, exist, ttl, sortkey_count.
 * Keys and values are the tokens' bytes.
 */
import type { RangeOptions } from "../client/index.ts";
import type { KeyFilter, SortKeyValue } from "../storage/index.ts";
import { parseInt64Text, parseIntText } from "./args.ts";
import { MULTI_GET_COUNT_MAX, MULTI_KEYS_MAX, TTL_SECONDS_MAX } from "./data-bounds.ts";
import { sortKeyFilterFlags, sortKeyFilterOf } from "./key-filter.ts";
import { bytesToDisplay, bytesToJson, formatTable, plural } from "./render.ts";
import { type AnyVerbSpec, type Args, defineVerb, type VerbResult } from "./verb-spec.ts";
import { checkAndSet } from "./verbs-check-and-set.ts";

const key = (name: string) => ({ name });

function ttlOf(args: Args, index: number): number | undefined {
  const token = args.optionalPositional(index);
  return token === undefined
    ? undefined
    : parseIntText(token.text, "ttl_seconds", 0, TTL_SECONDS_MAX, args.verb);
}

/** Records of one hash key as a table and as JSON. */
function recordsResult(
  hashKey: Buffer,
  kvs: readonly SortKeyValue[],
  incomplete: boolean,
  noValue: boolean,
): VerbResult {
  const header = noValue ? ["hash_key", "sort_key"] : ["hash_key", "sort_key", "value"];
  const hk = bytesToDisplay(hashKey);
  const rows = kvs.map((kv) =>
    noValue
      ? [hk, bytesToDisplay(kv.sortKey)]
      : [hk, bytesToDisplay(kv.sortKey), bytesToDisplay(kv.value)],
  );
  const lines = [...formatTable(header, rows), "", plural(kvs.length, "record")];
  if (incomplete) lines.push("(incomplete: a server limit stopped the read; narrow the range)");
  return {
    json: {
      hashKey: bytesToJson(hashKey),
      records: kvs.map((kv) =>
        noValue
          ? { sortKey: bytesToJson(kv.sortKey) }
          : { sortKey: bytesToJson(kv.sortKey), value: bytesToJson(kv.value) },
      ),
      count: kvs.length,
      incomplete,
    },
    lines,
  };
}

const ok = (json: unknown = {}): VerbResult => ({ json, lines: ["OK"] });

interface KeyRequest {
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
}

const keyRequest = (args: Args): KeyRequest => ({
  hashKey: args.positional(0).bytes,
  sortKey: args.positional(1).bytes,
});

const set = defineVerb<KeyRequest & { value: Buffer; ttlSeconds: number | undefined }>({
  name: "set",
  group: "data",
  needsTable: true,
  summary: "write one record, optionally with a time to live",
  positionals: [
    key("hash_key"),
    key("sort_key"),
    key("value"),
    { name: "ttl_seconds", optional: true },
  ],
  flags: [],
  parse: (args) => ({
    ...keyRequest(args),
    value: args.positional(2).bytes,
    ttlSeconds: ttlOf(args, 3),
  }),
  async run(context, r) {
    await context
      .table()
      .table.set(
        r.hashKey,
        r.sortKey,
        r.value,
        r.ttlSeconds === undefined ? {} : { ttlSeconds: r.ttlSeconds },
      );
    return ok();
  },
});

const get = defineVerb<KeyRequest>({
  name: "get",
  group: "data",
  needsTable: true,
  summary: "read one record",
  positionals: [key("hash_key"), key("sort_key")],
  flags: [],
  parse: keyRequest,
  async run(context, r) {
    const value = await context.table().table.get(r.hashKey, r.sortKey);
    return value === undefined
      ? { json: { found: false }, lines: ["not found"] }
      : {
          json: { found: true, value: bytesToJson(value) },
          lines: [bytesToDisplay(value, Number.POSITIVE_INFINITY)],
        };
  },
});

const del = defineVerb<KeyRequest>({
  name: "del",
  group: "data",
  needsTable: true,
  summary: "delete one record",
  positionals: [key("hash_key"), key("sort_key")],
  flags: [],
  parse: keyRequest,
  async run(context, r) {
    await context.table().table.del(r.hashKey, r.sortKey);
    return ok();
  },
});

const multiSet = defineVerb<{ hashKey: Buffer; kvs: [Buffer, Buffer][] }>({
  name: "multi_set",
  group: "data",
  needsTable: true,
  summary: "write several records of one hash key atomically",
  positionals: [
    key("hash_key"),
    key("sort_key"),
    key("value"),
    { name: "sort_key value", optional: true, variadic: true },
  ],
  flags: [],
  parse(args) {
    const rest = args.positionals.slice(1);
    if (rest.length % 2 !== 0)
      throw args.error(`<sort_key> ${rest.at(-1)?.text ?? ""} has no value`);
    if (rest.length / 2 > MULTI_KEYS_MAX) throw args.error(`at most ${MULTI_KEYS_MAX} sort keys`);
    const kvs: [Buffer, Buffer][] = [];
    for (let i = 0; i < rest.length; i += 2) {
      kvs.push([args.positional(1 + i).bytes, args.positional(2 + i).bytes]);
    }
    return { hashKey: args.positional(0).bytes, kvs };
  },
  async run(context, r) {
    await context.table().table.multiSet(r.hashKey, r.kvs);
    return {
      json: { count: r.kvs.length },
      lines: [`OK, ${plural(r.kvs.length, "record")} written`],
    };
  },
});

const multiGet = defineVerb<{ hashKey: Buffer; sortKeys: Buffer[]; noValue: boolean }>({
  name: "multi_get",
  group: "data",
  needsTable: true,
  summary: "read the given sort keys of a hash key (all of them when none is given)",
  positionals: [key("hash_key"), { name: "sort_key", optional: true, variadic: true }],
  flags: [{ name: "no_value", short: "i", kind: "switch", help: "sort keys only" }],
  parse(args) {
    const sortKeys = args.positionals.slice(1).map((t) => t.bytes);
    if (sortKeys.length > MULTI_KEYS_MAX) throw args.error(`at most ${MULTI_KEYS_MAX} sort keys`);
    return { hashKey: args.positional(0).bytes, sortKeys, noValue: args.has("no_value") };
  },
  async run(context, r) {
    const result = await context
      .table()
      .table.multiGet(r.hashKey, r.sortKeys, r.noValue ? { noValue: true } : {});
    return recordsResult(r.hashKey, result.kvs, result.incomplete, r.noValue);
  },
});

interface RangeRequest {
  readonly hashKey: Buffer;
  readonly options: RangeOptions;
}

const multiGetRange = defineVerb<RangeRequest>({
  name: "multi_get_range",
  group: "data",
  needsTable: true,
  summary: "read a sort-key range of a hash key, with filter, limit and order",
  details: [
    'An empty start or stop sort key ("") leaves that end open.',
    "-s takes anywhere|prefix|postfix with -y <pattern>, or the short form -s prefix:<pattern>.",
  ],
  positionals: [key("hash_key"), key("start_sort_key"), key("stop_sort_key")],
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
    {
      name: "max_count",
      short: "n",
      kind: "int",
      min: 1,
      max: MULTI_GET_COUNT_MAX,
      help: "most records to return (default: the server's limit)",
    },
    { name: "no_value", short: "i", kind: "switch", help: "sort keys only" },
    { name: "reverse", short: "r", kind: "switch", help: "from the stop sort key backwards" },
  ],
  parse(args) {
    const filter: KeyFilter | undefined = sortKeyFilterOf(args);
    const maxCount = args.int("max_count");
    const options: RangeOptions = {
      startSortKey: args.positional(1).bytes,
      stopSortKey: args.positional(2).bytes,
      startInclusive: args.bool("start_inclusive") ?? true,
      stopInclusive: args.bool("stop_inclusive") ?? false,
      noValue: args.has("no_value"),
      reverse: args.has("reverse"),
      ...(filter === undefined ? {} : { sortKeyFilter: filter }),
      ...(maxCount === undefined ? {} : { maxKvCount: maxCount }),
    };
    return { hashKey: args.positional(0).bytes, options };
  },
  async run(context, r) {
    const result = await context.table().table.multiGetRange(r.hashKey, r.options);
    return recordsResult(r.hashKey, result.kvs, result.incomplete, r.options.noValue === true);
  },
});

const multiDel = defineVerb<{ hashKey: Buffer; sortKeys: Buffer[] }>({
  name: "multi_del",
  group: "data",
  needsTable: true,
  summary: "delete several sort keys of one hash key atomically",
  positionals: [key("hash_key"), { name: "sort_key", variadic: true }],
  flags: [],
  parse(args) {
    const sortKeys = args.positionals.slice(1).map((t) => t.bytes);
    if (sortKeys.length > MULTI_KEYS_MAX) throw args.error(`at most ${MULTI_KEYS_MAX} sort keys`);
    return { hashKey: args.positional(0).bytes, sortKeys };
  },
  async run(context, r) {
    await context.table().table.multiDel(r.hashKey, r.sortKeys);
    return {
      json: { count: r.sortKeys.length },
      lines: [`OK, ${plural(r.sortKeys.length, "sort key")} deleted`],
    };
  },
});

const incr = defineVerb<KeyRequest & { increment: bigint }>({
  name: "incr",
  group: "data",
  needsTable: true,
  summary: "add to a 64-bit integer value (missing = 0) and print the new value",
  positionals: [key("hash_key"), key("sort_key"), { name: "increment", optional: true }],
  flags: [],
  parse(args) {
    const token = args.optionalPositional(2);
    return {
      ...keyRequest(args),
      increment: token === undefined ? 1n : parseInt64Text(token.text, "increment", args.verb),
    };
  },
  async run(context, r) {
    const value = await context.table().table.incr(r.hashKey, r.sortKey, r.increment);
    return { json: { newValue: value.toString() }, lines: [value.toString()] };
  },
});

const exist = defineVerb<KeyRequest>({
  name: "exist",
  group: "data",
  needsTable: true,
  summary: "whether a record exists",
  positionals: [key("hash_key"), key("sort_key")],
  flags: [],
  parse: keyRequest,
  async run(context, r) {
    const exists = await context.table().table.exist(r.hashKey, r.sortKey);
    return { json: { exists }, lines: [exists ? "true" : "false"] };
  },
});

const ttl = defineVerb<KeyRequest>({
  name: "ttl",
  group: "data",
  needsTable: true,
  summary: "the remaining time to live of a record in seconds (-1 / infinite: none)",
  positionals: [key("hash_key"), key("sort_key")],
  flags: [],
  parse: keyRequest,
  async run(context, r) {
    const seconds = await context.table().table.ttl(r.hashKey, r.sortKey);
    if (seconds === undefined) return { json: { found: false }, lines: ["not found"] };
    return {
      json: { found: true, ttlSeconds: seconds },
      lines: [seconds < 0 ? "infinite" : `${seconds}`],
    };
  },
});

const sortKeyCount = defineVerb<{ hashKey: Buffer }>({
  name: "sortkey_count",
  group: "data",
  needsTable: true,
  summary: "how many records a hash key has",
  positionals: [key("hash_key")],
  flags: [],
  parse: (args) => ({ hashKey: args.positional(0).bytes }),
  async run(context, r) {
    const count = await context.table().table.sortKeyCount(r.hashKey);
    return { json: { count }, lines: [String(count)] };
  },
});

export const dataVerbs: readonly AnyVerbSpec[] = [
  set,
  get,
  del,
  multiSet,
  multiGet,
  multiGetRange,
  multiDel,
  incr,
  checkAndSet,
  exist,
  ttl,
  sortKeyCount,
];
