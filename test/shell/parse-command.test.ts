import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DuplicationFailMode, NodeStatus, PatternMatchType } from "../../src/protocol/index.ts";
import { CheckType } from "../../src/replica/index.ts";
import {
  allVerbs,
  everyVerbSpec,
  parseCommand,
  tokenize,
  UsageError,
  usageLine,
} from "../../src/shell/index.ts";
import { FilterType } from "../../src/storage/index.ts";

const b = (text: string) => Buffer.from(text, "utf8");

function parse(line: string): { verb: string; request: unknown } {
  const [tokens] = tokenize(line);
  assert.ok(tokens !== undefined, `no command in ${line}`);
  const { verb, request } = parseCommand(tokens);
  return { verb: verb.name, request };
}

/** The usage error `line` raises, as [verb, message]. */
function usageError(line: string): [string | undefined, string] {
  const [tokens] = tokenize(line);
  assert.ok(tokens !== undefined);
  try {
    parseCommand(tokens);
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return [error.verb, error.message];
  }
  assert.fail(`${line} parsed`);
}

/** One well-formed command per verb, with the request it must parse to. */
const CASES: readonly [string, unknown][] = [
  ["cluster_info", null],
  ["nodes", { status: undefined }],
  ["nodes -s alive", { status: NodeStatus.ALIVE }],
  ["nodes --status unalive", { status: NodeStatus.DEAD }],
  ["nodes -s dead", { status: NodeStatus.DEAD }],
  ["ls", { all: false }],
  ["ls -a", { all: true }],
  ["app t", { name: "t", detailed: false }],
  ["app -d t", { name: "t", detailed: true }],
  ["create t", { appName: "t", partitionCount: 4, replicaCount: 3, envs: {} }],
  [
    "create t -p 8 -r 2 -e replica.deny_client_request=timeout*all -e a=b=c,d",
    {
      appName: "t",
      partitionCount: 8,
      replicaCount: 2,
      envs: { "replica.deny_client_request": "timeout*all", a: "b=c,d" },
    },
  ],
  ["drop t", { appName: "t", reserveSeconds: undefined }],
  ["drop t --reserve_seconds 60", { appName: "t", reserveSeconds: 60 }],
  ["drop t -r 0", { appName: "t", reserveSeconds: 0 }],
  ["recall 7", { appId: 7, newAppName: undefined }],
  ["recall 7 t2", { appId: 7, newAppName: "t2" }],
  ["use", { appName: undefined }],
  ["use t", { appName: "t" }],
  ["set h s v", { hashKey: b("h"), sortKey: b("s"), value: b("v"), ttlSeconds: undefined }],
  [
    'set h "" "a value" 30',
    { hashKey: b("h"), sortKey: b(""), value: b("a value"), ttlSeconds: 30 },
  ],
  ["get h s", { hashKey: b("h"), sortKey: b("s") }],
  ["del h \\xff", { hashKey: b("h"), sortKey: Buffer.from([0xff]) }],
  [
    "multi_set h s1 v1 s2 v2",
    {
      hashKey: b("h"),
      kvs: [
        [b("s1"), b("v1")],
        [b("s2"), b("v2")],
      ],
    },
  ],
  ["multi_get h", { hashKey: b("h"), sortKeys: [], noValue: false }],
  ["multi_get h a b -i", { hashKey: b("h"), sortKeys: [b("a"), b("b")], noValue: true }],
  [
    'multi_get_range h a ""',
    {
      hashKey: b("h"),
      options: {
        startSortKey: b("a"),
        stopSortKey: b(""),
        startInclusive: true,
        stopInclusive: false,
        noValue: false,
        reverse: false,
      },
    },
  ],
  [
    "multi_get_range h a z -a false -b true -s prefix -y ab -n 10 -i -r",
    {
      hashKey: b("h"),
      options: {
        startSortKey: b("a"),
        stopSortKey: b("z"),
        startInclusive: false,
        stopInclusive: true,
        noValue: true,
        reverse: true,
        sortKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: b("ab") },
        maxKvCount: 10,
      },
    },
  ],
  [
    "multi_get_range h a z --sort_key_filter_type=postfix:x:y --max_count=5",
    {
      hashKey: b("h"),
      options: {
        startSortKey: b("a"),
        stopSortKey: b("z"),
        startInclusive: true,
        stopInclusive: false,
        noValue: false,
        reverse: false,
        sortKeyFilter: { type: FilterType.MATCH_POSTFIX, pattern: b("x:y") },
        maxKvCount: 5,
      },
    },
  ],
  ["multi_del h a b", { hashKey: b("h"), sortKeys: [b("a"), b("b")] }],
  ["incr h s", { hashKey: b("h"), sortKey: b("s"), increment: 1n }],
  ["incr h s -5", { hashKey: b("h"), sortKey: b("s"), increment: -5n }],
  [
    "incr h s 9223372036854775807",
    { hashKey: b("h"), sortKey: b("s"), increment: 9223372036854775807n },
  ],
  [
    "check_and_set h -c c -t not_exist -v v",
    {
      hashKey: b("h"),
      checkSortKey: b("c"),
      checkType: CheckType.VALUE_NOT_EXIST,
      checkOperand: b(""),
      setSortKey: undefined,
      setValue: b("v"),
      ttlSeconds: undefined,
      returnCheckValue: false,
    },
  ],
  [
    "check_and_set h --check_sort_key c -t int_less -o 10 -s s -v 5 -l 60 -r",
    {
      hashKey: b("h"),
      checkSortKey: b("c"),
      checkType: CheckType.VALUE_INT_LESS,
      checkOperand: b("10"),
      setSortKey: b("s"),
      setValue: b("5"),
      ttlSeconds: 60,
      returnCheckValue: true,
    },
  ],
  ["exist h s", { hashKey: b("h"), sortKey: b("s") }],
  ["ttl h s", { hashKey: b("h"), sortKey: b("s") }],
  ["sortkey_count h", { hashKey: b("h") }],
  [
    "scan",
    {
      hashKeyPrefix: undefined,
      sortKeyFilter: undefined,
      maxCount: 100,
      batchSize: 100,
      noValue: false,
    },
  ],
  [
    "full_scan -h user -s anywhere:x -n 5 -b 50 -i",
    {
      hashKeyPrefix: b("user"),
      sortKeyFilter: { type: FilterType.MATCH_ANYWHERE, pattern: b("x") },
      maxCount: 5,
      batchSize: 50,
      noValue: true,
    },
  ],
  [
    "hash_scan h",
    {
      hashKey: b("h"),
      startSortKey: undefined,
      stopSortKey: undefined,
      startInclusive: true,
      stopInclusive: false,
      sortKeyFilter: undefined,
      maxCount: 100,
      noValue: false,
    },
  ],
  [
    'hash_scan h "" m -b true -a false -n 3',
    {
      hashKey: b("h"),
      startSortKey: undefined,
      stopSortKey: b("m"),
      startInclusive: false,
      stopInclusive: true,
      sortKeyFilter: undefined,
      maxCount: 3,
      noValue: false,
    },
  ],
  ["count_data", { partition: undefined, concurrency: 4, batchSize: 1000 }],
  ["count_data -p 3 --concurrency 8 -b 10", { partition: 3, concurrency: 8, batchSize: 10 }],
  ["get_app_envs", null],
  ["set_app_envs k1 v1 k2 v2", { envs: { k1: "v1", k2: "v2" } }],
  ["del_app_envs k1 k2", { keys: ["k1", "k2"] }],
  ["clear_app_envs -a", { prefix: "" }],
  ["clear_app_envs -p replica.", { prefix: "replica." }],
  ["exit", null],
  ["quit", null],
  // Duplication, Pegasus shell dialect.
  [
    "add_dup t dc2",
    {
      appName: "t",
      remoteClusterName: "dc2",
      remoteAppName: undefined,
      remoteReplicaCount: undefined,
      checkpoint: false,
      freezed: false,
    },
  ],
  [
    "add_dup t dc2 -s -a t2 -r 3 --freezed",
    {
      appName: "t",
      remoteClusterName: "dc2",
      remoteAppName: "t2",
      remoteReplicaCount: 3,
      checkpoint: true,
      freezed: true,
    },
  ],
  [
    "add_dup t dc2 --sst --remote_app_name=t2 --remote_replica_count 0",
    {
      appName: "t",
      remoteClusterName: "dc2",
      remoteAppName: "t2",
      remoteReplicaCount: 0,
      checkpoint: true,
      freezed: false,
    },
  ],
  ["query_dup t", { appName: "t", detailed: false }],
  ["query_dup t --detail", { appName: "t", detailed: true }],
  ["start_dup t 1767323045", { appName: "t", dupid: 1767323045 }],
  ["pause_dup t 17", { appName: "t", dupid: 17 }],
  ["remove_dup t 2147483647", { appName: "t", dupid: 2147483647 }],
  [
    "set_dup_fail_mode t 17 skip",
    { appName: "t", dupid: 17, failMode: DuplicationFailMode.FAIL_SKIP },
  ],
  ["resync_dup t 17", { appName: "t", dupid: 17 }],
  ["wait_dup t 17", { appName: "t", dupid: 17 }],
  [
    "dups",
    {
      appNamePattern: undefined,
      matchType: PatternMatchType.MATCH_ALL,
      listPartitions: false,
      progressGap: undefined,
      unhealthy: false,
      json: false,
    },
  ],
  [
    "dups -m all -g 0",
    {
      appNamePattern: undefined,
      matchType: PatternMatchType.MATCH_ALL,
      listPartitions: false,
      progressGap: 0,
      unhealthy: false,
      json: false,
    },
  ],
  [
    "dups -a temp",
    {
      appNamePattern: "temp",
      matchType: PatternMatchType.MATCH_ANYWHERE,
      listPartitions: false,
      progressGap: undefined,
      unhealthy: false,
      json: false,
    },
  ],
  [
    "dups -a te -m prefix -p -g 100 -u -j",
    {
      appNamePattern: "te",
      matchType: PatternMatchType.MATCH_PREFIX,
      listPartitions: true,
      progressGap: 100,
      unhealthy: true,
      json: true,
    },
  ],
  [
    "dups --app_name_pattern t --match_type exact",
    {
      appNamePattern: "t",
      matchType: PatternMatchType.MATCH_EXACT,
      listPartitions: false,
      progressGap: undefined,
      unhealthy: false,
      json: false,
    },
  ],
  // Duplication, admin-cli dialect (on the current table).
  [
    "dup add -c dc2",
    {
      remoteClusterName: "dc2",
      remoteAppName: undefined,
      remoteReplicaCount: undefined,
      checkpoint: false,
      freezed: false,
    },
  ],
  [
    "dup add --cluster dc2 -a t2 -r 2 -f -p",
    {
      remoteClusterName: "dc2",
      remoteAppName: "t2",
      remoteReplicaCount: 2,
      checkpoint: true,
      freezed: true,
    },
  ],
  ["dup list", { detailed: false }],
  ["dup ls -d", { detailed: true }],
  ["dup pause -d 17", { dupid: 17 }],
  ["dup start --dupid 17", { dupid: 17 }],
  ["dup remove -d 17", { dupid: 17 }],
  ["dup rm --dupid=17", { dupid: 17 }],
  ["dup fail_mode -d 17 fast", { dupid: 17, failMode: DuplicationFailMode.FAIL_FAST }],
  ["dup fail_mode slow -d 17", { dupid: 17, failMode: DuplicationFailMode.FAIL_SLOW }],
  ["dup resync -d 17", { dupid: 17 }],
  ["dup wait -d 17", { dupid: 17 }],
  // Dead letters.
  ["dup_dead_letters t", { appName: "t", dupid: undefined, limit: 100 }],
  ["dup_dead_letters t 17 -n 1000", { appName: "t", dupid: 17, limit: 1000 }],
  ["replay_dead_letters t 17", { appName: "t", dupid: 17 }],
];

describe("shell command parsing", () => {
  for (const [line, expected] of CASES) {
    test(line, () => {
      assert.deepEqual(parse(line).request, expected);
    });
  }

  test("every verb and sub-command has a parse case", () => {
    const covered = new Set(CASES.map(([line]) => parse(line).verb));
    for (const verb of everyVerbSpec()) {
      // help has its own test; a verb with sub-commands parses as one of them.
      if (verb.name === "help" || verb.subcommands !== undefined) continue;
      assert.ok(covered.has(verb.name), `no case for ${verb.name}`);
    }
    assert.ok(covered.has("dup add") && covered.has("dup fail_mode"));
  });

  test("sub-commands parse as their full name, aliases resolved", () => {
    assert.equal(parse("dup ls").verb, "dup list");
    assert.equal(parse("dup rm -d 1").verb, "dup remove");
    const { request } = parse("help dup ls") as { request: { verb: { name: string } } };
    assert.equal(request.verb.name, "dup list");
  });

  test("help takes an optional verb, resolving aliases", () => {
    assert.deepEqual(parse("help").request, { verb: undefined });
    const { request } = parse("help full_scan") as { request: { verb: { name: string } } };
    assert.equal(request.verb.name, "scan");
    assert.match(usageError("help gett")[1], /did you mean "get"/);
  });

  test("aliases parse as their verb", () => {
    assert.equal(parse("quit").verb, "exit");
    assert.equal(parse("full_scan").verb, "scan");
  });
});

describe("shell usage errors", () => {
  const ERRORS: readonly [string, string | undefined, RegExp][] = [
    ["gett h s", undefined, /unknown command "gett"; did you mean "get"\?/],
    ["frobnicate", undefined, /^unknown command "frobnicate" \(help lists the commands\)$/],
    ["get h", "get", /missing <sort_key>/],
    ["get h s x", "get", /too many arguments \(at most 2\)/],
    ["cluster_info x", "cluster_info", /takes no arguments/],
    ["set h s v abc", "set", /ttl_seconds must be an integer in \[0, 2147483647\], got "abc"/],
    ["set h s v -1", "set", /ttl_seconds must be an integer/],
    ["ls -x", "ls", /^unknown flag -x \(flags: -a --all\)$/],
    ["ls --al", "ls", /unknown flag --al; did you mean --all\?/],
    ["ls -a -a", "ls", /-a\|--all given twice/],
    ["ls --all=1", "ls", /takes no value/],
    ["nodes -s sleeping", "nodes", /must be one of all, alive, dead, unalive/],
    ["nodes -s", "nodes", /-s\|--status needs a value/],
    ["create t -p 0", "create", /-p\|--partition_count must be an integer in \[1, 65536\]/],
    ["create t -e novalue", "create", /-e takes key=value/],
    ["recall x", "recall", /app_id must be an integer/],
    ["multi_set h s1 v1 s2", "multi_set", /<sort_key> s2 has no value/],
    ["multi_del h", "multi_del", /missing <sort_key>/],
    ["multi_get_range h a", "multi_get_range", /missing <stop_sort_key>/],
    ["multi_get_range h a z -a yes", "multi_get_range", /must be true or false, got "yes"/],
    [
      "multi_get_range h a z -s middle:x",
      "multi_get_range",
      /-s must be anywhere, prefix or postfix/,
    ],
    ["multi_get_range h a z -s prefix", "multi_get_range", /needs a pattern/],
    ["multi_get_range h a z -y x", "multi_get_range", /-y needs -s/],
    ["multi_get_range h a z -s prefix:a -y b", "multi_get_range", /give the pattern once/],
    [
      "multi_get_range h a z -n 0",
      "multi_get_range",
      /max_count must be an integer in \[1, 100000\]/,
    ],
    ["incr h s 1.5", "incr", /increment must be a signed 64-bit integer/],
    ["incr h s 9223372036854775808", "incr", /signed 64-bit/],
    ["check_and_set h -t exist -v v", "check_and_set", /missing -c\|--check_sort_key str/],
    ["check_and_set h -c c -t exists -v v", "check_and_set", /did you mean exist\?/],
    ["check_and_set h -c c -t int_less -v v", "check_and_set", /-t int_less needs -o/],
    ["check_and_set h -c c -t exist -o x -v v", "check_and_set", /takes no -o/],
    ["check_and_set h -c c -t exist", "check_and_set", /missing -v\|--set_value str/],
    ['hash_scan ""', "hash_scan", /<hash_key> must not be empty/],
    ["scan -n 100001", "scan", /max_count must be an integer in \[1, 100000\]/],
    ["count_data --concurrency 33", "count_data", /concurrency must be an integer in \[1, 32\]/],
    ["set_app_envs k", "set_app_envs", /missing <value>/],
    ["set_app_envs k v k2", "set_app_envs", /<key> k2 has no value/],
    ["set_app_envs k \\xff", "set_app_envs", /<value> must be UTF-8 text/],
    ["del_app_envs", "del_app_envs", /missing <key>/],
    ["clear_app_envs", "clear_app_envs", /give exactly one of -a and -p/],
    ["clear_app_envs -a -p x", "clear_app_envs", /give exactly one of -a and -p/],
    ["add_dup t", "add_dup", /missing <remote_cluster_name>/],
    [
      "add_dup t dc2 -r 17",
      "add_dup",
      /-r\|--remote_replica_count must be an integer in \[0, 16\]/,
    ],
    ["add_dup t dc2 -f", "add_dup", /unknown flag -f/],
    ["add_dup t dc2 -a \\xff", "add_dup", /-a must be UTF-8 text/],
    ["query_dup", "query_dup", /missing <app_name>/],
    ["start_dup t", "start_dup", /missing <dupid>/],
    ["pause_dup t 0", "pause_dup", /dupid must be an integer in \[1, 2147483647\], got "0"/],
    ["remove_dup t 2147483648", "remove_dup", /dupid must be an integer/],
    ["remove_dup t 1 2", "remove_dup", /too many arguments \(at most 2\)/],
    [
      "set_dup_fail_mode t 1 never",
      "set_dup_fail_mode",
      /fail mode must be one of slow, skip, fast, got "never"/,
    ],
    ["set_dup_fail_mode t 1", "set_dup_fail_mode", /missing <slow\|skip\|fast>/],
    ["dups -m prefix", "dups", /-m prefix needs -a <pattern>/],
    ["dups -a x -m all", "dups", /-m all lists every table/],
    ["dups -m regex", "dups", /must be one of all, exact, anywhere, prefix, postfix/],
    ["dups -g -1", "dups", /progress_gap must be an integer in \[0, /],
    ["dups t", "dups", /takes no arguments/],
    [
      "dup",
      "dup",
      /^missing <sub-command> \(one of add, list, pause, start, remove, fail_mode, resync, wait\)$/,
    ],
    ["resync_dup t", "resync_dup", /missing <dupid>/],
    ["wait_dup t", "wait_dup", /missing <dupid>/],
    ["dup wait", "dup wait", /missing -d\|--dupid num/],
    ["dup resync", "dup resync", /missing -d\|--dupid num/],
    ["dup -c dc2", "dup", /missing <sub-command>/],
    ["dup lst", "dup", /unknown sub-command "lst"; did you mean/],
    ["dup frobnicate", "dup", /^unknown sub-command "frobnicate" \(one of add, /],
    ["dup add", "dup add", /missing -c\|--cluster str/],
    ["dup add -c dc2 -s", "dup add", /unknown flag -s/],
    ["dup pause", "dup pause", /missing -d\|--dupid num/],
    ["dup start -d 0", "dup start", /-d\|--dupid must be an integer in \[1, 2147483647\]/],
    ["dup start -d 1 extra", "dup start", /takes no arguments/],
    ["dup fail_mode -d 1", "dup fail_mode", /missing <slow\|skip\|fast>/],
    ["dup fail_mode -d 1 quick", "dup fail_mode", /fail mode must be one of slow, skip, fast/],
    ["dup_dead_letters", "dup_dead_letters", /missing <app_name>/],
    ["dup_dead_letters t x", "dup_dead_letters", /dupid must be an integer/],
    [
      "dup_dead_letters t -n 1001",
      "dup_dead_letters",
      /max_count must be an integer in \[1, 1000\]/,
    ],
    ["replay_dead_letters t", "replay_dead_letters", /missing <dupid>/],
    ["help get x", "help", /get has no sub-commands/],
    ["help dup frob", "dup", /unknown sub-command "frob"/],
  ];
  for (const [line, verb, message] of ERRORS) {
    test(line, () => {
      const [errorVerb, errorMessage] = usageError(line);
      assert.equal(errorVerb, verb);
      assert.match(errorMessage, message);
    });
  }

  test("quoted dashes and -- make positionals, not flags", () => {
    assert.deepEqual(parse("get -- -a -b").request, { hashKey: b("-a"), sortKey: b("-b") });
    assert.deepEqual(parse('get "-a" \\-b').request, { hashKey: b("-a"), sortKey: b("-b") });
  });
});

describe("usage lines", () => {
  test("come from the spec: positionals, then flags, required flags unbracketed", () => {
    const find = (name: string) => allVerbs.find((v) => v.name === name);
    const line = (name: string) => {
      const verb = find(name);
      assert.ok(verb !== undefined);
      return usageLine(verb);
    };
    assert.equal(line("set"), "set <hash_key> <sort_key> <value> [ttl_seconds]");
    assert.equal(line("multi_get"), "multi_get <hash_key> [sort_key ...] [-i|--no_value]");
    assert.equal(line("ls"), "ls [-a|--all]");
    assert.match(
      line("check_and_set"),
      /^check_and_set <hash_key> -c\|--check_sort_key str -t\|--check_type type /,
    );
    assert.match(line("create"), /\[-e\|--envs key=value\] \.\.\.$/);
    assert.equal(
      line("add_dup"),
      "add_dup <app_name> <remote_cluster_name> [-s|--sst] [-a|--remote_app_name str] [-r|--remote_replica_count num] [--freezed]",
    );
    assert.equal(
      line("dup"),
      "dup <add|list|pause|start|remove|fail_mode|resync|wait> [flags ...]",
    );
    const sub = everyVerbSpec().find((v) => v.name === "dup fail_mode");
    assert.ok(sub !== undefined);
    assert.equal(usageLine(sub), "dup fail_mode <slow|skip|fast> -d|--dupid num");
  });
});
