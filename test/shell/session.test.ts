import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TalariaError } from "../../src/common/index.ts";
import { AppStatus } from "../../src/protocol/index.ts";
import { CheckType } from "../../src/replica/index.ts";
import { errorLine, type ProgressReporter } from "../../src/shell/index.ts";
import { harness } from "./helpers.ts";

describe("shell session: human output", () => {
  test("prompt names the cluster and, once selected, the table", async () => {
    const { backend, session } = harness();
    backend.addTable("temp");
    assert.equal(session.prompt(), "talaria(onebox)> ");
    assert.deepEqual(await session.runInput("use temp"), { kind: "ok" });
    assert.equal(session.prompt(), "talaria(onebox)[temp]> ");
  });

  test("set, get, del round trip with bytes shown as text or 0x-hex", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    const outcome = await session.runInput(
      'use temp; set user1 name "Alice Smith" 60; get user1 name; set user1 bin \\xff\\x00; get user1 bin; get user1 nope; ttl user1 name; ttl user1 bin; del user1 name; exist user1 name',
    );
    assert.deepEqual(outcome, { kind: "ok" });
    assert.deepEqual(stdout.lines(), [
      'OK, using table "temp" (app_id=1)',
      "OK",
      '"Alice Smith"',
      "OK",
      "0xff00",
      "not found",
      "60",
      "infinite",
      "OK",
      "false",
    ]);
    const set = backend.calls.find((c) => c.method === "set");
    assert.deepEqual(set?.args, [
      Buffer.from("user1"),
      Buffer.from("name"),
      Buffer.from("Alice Smith"),
      { ttlSeconds: 60 },
    ]);
  });

  test("multi_set / multi_get / multi_get_range / multi_del / sortkey_count print aligned tables", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    await session.runInput("use temp; multi_set h a 1 bb 22 ccc 333");
    stdout.clear();
    assert.deepEqual(await session.runInput("multi_get h"), { kind: "ok" });
    assert.deepEqual(stdout.lines(), [
      "hash_key  sort_key  value",
      "h         a         1",
      "h         bb        22",
      "h         ccc       333",
      "",
      "3 records",
    ]);
    stdout.clear();
    await session.runInput("multi_get_range h a ccc -a false -b true -r -i");
    assert.deepEqual(stdout.lines(), [
      "hash_key  sort_key",
      "h         ccc",
      "h         bb",
      "",
      "2 records",
    ]);
    stdout.clear();
    await session.runInput("multi_del h a bb; sortkey_count h");
    assert.deepEqual(stdout.lines(), ["OK, 2 sort keys deleted", "1"]);
  });

  test("incr prints the new value; a non-integer value is a server error", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    await session.runInput("use temp; incr h c; incr h c 41; incr h c -2");
    assert.deepEqual(stdout.lines().slice(1), ["1", "42", "40"]);
    await session.runInput("set h s abc");
    const outcome = await session.runInput("incr h s");
    assert.equal(outcome.kind, "failed");
    assert.equal(errorLine(outcome), "error: ERR_INVALID_ARGUMENT: the value is not an integer");
  });

  test("check_and_set: passes, fails without error, returns the check value", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    await session.runInput("use temp");
    stdout.clear();
    await session.runInput("check_and_set h -c lock -t not_exist -s owner -v me");
    await session.runInput("check_and_set h -c owner -t bytes_equal -o you -v other -r");
    assert.deepEqual(stdout.lines(), [
      "set succeed: the check passed and owner was written",
      "set failed: the check did not pass; nothing was written",
      "check value: me",
    ]);
    const call = backend.calls.find((c) => c.method === "checkAndSet");
    assert.deepEqual(call?.args.slice(1, 5), [
      Buffer.from("lock"),
      CheckType.VALUE_NOT_EXIST,
      Buffer.alloc(0),
      { sortKey: Buffer.from("owner"), value: Buffer.from("me") },
    ]);
  });

  test("scan and hash_scan bound their output with -n and say when more records follow", async () => {
    const { backend, stdout, session } = harness();
    const table = backend.addTable("temp");
    for (let i = 0; i < 5; i++)
      await table.set(Buffer.from(`k${i}`), Buffer.from("s"), Buffer.from(`v${i}`));
    await session.runInput("use temp");
    stdout.clear();
    await session.runInput("scan -n 3");
    const lines = stdout.lines();
    assert.equal(lines.length, 1 + 3 + 3);
    assert.deepEqual(lines.slice(-2), ["3 records", "(stopped at -n 3; more records follow)"]);
    stdout.clear();
    await session.runInput("scan -h k1 -i");
    assert.deepEqual(stdout.lines(), ["hash_key  sort_key", "k1        s", "", "1 record"]);
    stdout.clear();
    await table.set(Buffer.from("k1"), Buffer.from("t"), Buffer.from("x"));
    await session.runInput("hash_scan k1 s t -b true");
    assert.deepEqual(stdout.lines(), [
      "hash_key  sort_key  value",
      "k1        s         v1",
      "k1        t         x",
      "",
      "2 records",
    ]);
  });

  test("count_data counts every partition with bounded scanners and reports progress", async () => {
    const updates: string[] = [];
    const progress = (): ProgressReporter => ({
      start: (total) => updates.push(`start ${total}`),
      update: (done) => updates.push(`done ${done}`),
      stop: () => updates.push("stop"),
    });
    const { backend, stdout, session } = harness({ progress });
    const table = backend.addTable("temp", 4);
    for (let i = 0; i < 40; i++)
      await table.set(Buffer.from(`k${i}`), Buffer.from("s"), Buffer.from("v"));
    await session.runInput("use temp");
    stdout.clear();
    assert.deepEqual(await session.runInput("count_data --concurrency 2"), { kind: "ok" });
    const lines = stdout.lines();
    assert.equal(lines[0], "partition  count");
    assert.equal(lines.at(-1), "total      40");
    const perPartition = lines.slice(1, -1).map((l) => Number(l.split(/\s+/)[1]));
    assert.equal(perPartition.length, 4);
    assert.equal(
      perPartition.reduce((a, c) => a + c, 0),
      40,
    );
    assert.equal(updates[0], "start 4");
    assert.equal(updates.at(-2), "done 4");
    assert.equal(updates.at(-1), "stop");
    const scanners = backend.calls.find((c) => c.method === "unorderedScanners");
    assert.deepEqual(scanners?.args, [4, { noValue: true, batchSize: 1000 }]);
    stdout.clear();
    await session.runInput("count_data -p 2");
    assert.equal(stdout.lines().length, 3);
    assert.equal(stdout.lines()[1]?.split(/\s+/)[1], String(perPartition[2]));
  });

  test("count_data: a failing scanner fails the command, the bar is removed, -p is checked", async () => {
    const updates: string[] = [];
    const progress = (): ProgressReporter => ({
      start: () => updates.push("start"),
      update: () => undefined,
      stop: () => updates.push("stop"),
    });
    const { backend, session } = harness({ progress });
    const table = backend.addTable("temp", 4);
    for (let i = 0; i < 20; i++)
      await table.set(Buffer.from(`k${i}`), Buffer.from("s"), Buffer.from("v"));
    await session.runInput("use temp");
    backend.failScanAfter = 5;
    const outcome = await session.runInput("count_data");
    assert.equal(outcome.kind, "failed");
    assert.equal(errorLine(outcome), "error: ERR_TIMEOUT: scan batch timed out");
    assert.deepEqual(updates, ["start", "stop"]);
    const bad = await session.runInput("count_data -p 4");
    assert.equal(bad.kind, "usage");
    assert.match(
      errorLine(bad) ?? "",
      /^error: count_data: -p 4: the table has 4 partitions \(usage: count_data /,
    );
  });

  test("an aborted signal interrupts a scan", async () => {
    const { backend, session } = harness();
    const table = backend.addTable("temp");
    await table.set(Buffer.from("k"), Buffer.from("s"), Buffer.from("v"));
    await session.runInput("use temp");
    const controller = new AbortController();
    controller.abort();
    assert.deepEqual(await session.runInput("scan", controller.signal), { kind: "interrupted" });
  });

  test("admin verbs: create, ls, app -d, drop, ls -a, recall, nodes, cluster_info", async () => {
    const { backend, stdout, session } = harness();
    await session.runInput("create t1 -p 2 -r 3 -e rocksdb.usage_scenario=bulk_load");
    assert.deepEqual(backend.calls.at(-1)?.args, [
      {
        appName: "t1",
        partitionCount: 2,
        replicaCount: 3,
        envs: { "rocksdb.usage_scenario": "bulk_load" },
      },
    ]);
    assert.deepEqual(stdout.lines(), [
      'create app "t1" succeed: app_id=1 app_name=t1 partition_count=2 replica_count=3',
    ]);
    stdout.clear();
    await session.runInput("ls");
    assert.deepEqual(stdout.lines(), [
      "app_id  status     app_name  partition_count  replica_count  envs  created_at",
      "1       available  t1        2                3              1     2026-01-02T03:04:05.000Z",
      "",
      "1 table",
    ]);
    stdout.clear();
    await session.runInput("app t1 -d");
    const app = stdout.lines();
    assert.ok(app.includes("healthy_partitions  1/2"), app.join("\n"));
    assert.ok(
      app.includes(
        "pidx  gpid  ballot  replicas  primary         secondaries                    last_committed_decree",
      ),
      app.join("\n"),
    );
    assert.ok(
      app.includes(
        "0     1.0   3       2/3       10.0.0.1:34801  10.0.0.2:34801                 10",
      ),
      app.join("\n"),
    );
    stdout.clear();
    await session.runInput("drop t1 -r 60; ls -a");
    assert.deepEqual(backend.calls.find((c) => c.method === "dropApp")?.args, [
      { appName: "t1", reserveSeconds: 60 },
    ]);
    assert.equal(
      stdout.lines()[0],
      'drop app "t1" succeed; recall it with: recall 1 (until 2026-01-02T03:05:05.000Z)',
    );
    assert.match(stdout.lines()[2] ?? "", /^1 +dropped +t1 .* 2026-01-02T03:05:05.000Z$/);
    stdout.clear();
    await session.runInput("recall 1 t2");
    assert.deepEqual(stdout.lines(), [
      "recall app succeed: app_id=1 app_name=t2 partition_count=2 replica_count=3",
    ]);
    stdout.clear();
    await session.runInput("nodes -s alive");
    assert.deepEqual(backend.calls.at(-1)?.args, [{ status: "ALIVE" }]);
    assert.deepEqual(stdout.lines(), [
      "address         status  primary_count  replica_count  last_beacon",
      "10.0.0.1:34801  alive   2              6              2026-01-02T03:04:05.000Z",
      "",
      "1 node (1 alive, 0 dead)",
    ]);
    stdout.clear();
    await session.runInput("cluster_info");
    assert.ok(stdout.lines().includes("writable_ill_partitions  1"), stdout.text);
  });

  test("app envs on the current table: set, get, del, clear -p and -a", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp", 4, { "replica.slow_query_threshold": "30" });
    await session.runInput("use temp");
    stdout.clear();
    await session.runInput(
      "set_app_envs manual_compact.once.trigger_time 1700000000 default_ttl 86400; get_app_envs",
    );
    assert.deepEqual(stdout.lines(), [
      "set_app_envs succeed: 2 envs set: default_ttl, manual_compact.once.trigger_time",
      "key                               value",
      "default_ttl                       86400",
      "manual_compact.once.trigger_time  1700000000",
      "replica.slow_query_threshold      30",
      "",
      "3 envs",
    ]);
    stdout.clear();
    await session.runInput(
      "del_app_envs default_ttl missing; clear_app_envs -p manual_compact.; clear_app_envs -a",
    );
    assert.deepEqual(stdout.lines(), [
      "del_app_envs succeed: 1 env deleted: default_ttl",
      "clear_app_envs succeed: 1 env deleted: manual_compact.once.trigger_time",
      "clear_app_envs succeed: 1 env deleted: replica.slow_query_threshold",
    ]);
    assert.deepEqual(
      backend.calls.filter((c) => c.method === "delAppEnvs").map((c) => c.args[0]),
      [
        { appName: "temp", keys: ["default_ttl", "missing"] },
        { appName: "temp", prefix: "manual_compact." },
        { appName: "temp", prefix: "" },
      ],
    );
  });

  test("help lists every verb; help <verb> shows usage and flags", async () => {
    const { stdout, session } = harness();
    await session.runInput("help");
    for (const verb of session.verbs) assert.match(stdout.text, new RegExp(`\\n  ${verb.name} `));
    stdout.clear();
    await session.runInput("help nodes");
    assert.deepEqual(stdout.lines().slice(0, 2), [
      "usage: nodes [-s|--status all|alive|dead|unalive]",
      "the replica servers with their status and primary / replica counts",
    ]);
  });
});

describe("shell session: errors and flow", () => {
  test("stops at the first failing command; exit stops too", async () => {
    const { backend, session } = harness();
    backend.addTable("temp");
    const outcome = await session.runInput("use nope; use temp");
    assert.equal(outcome.kind, "failed");
    assert.equal(session.table, undefined);
    assert.deepEqual(await session.runInput("exit; use temp"), { kind: "exit" });
    assert.equal(session.table, undefined);
  });

  test("a data verb without a table is a usage error naming the verb; the backend is not called", async () => {
    const { backend, session } = harness();
    const outcome = await session.runInput("get h s");
    assert.equal(outcome.kind, "usage");
    assert.equal(
      errorLine(outcome),
      "error: get: no table selected; run use <app_name> first (usage: get <hash_key> <sort_key>)",
    );
    assert.deepEqual(backend.calls, []);
  });

  test("a tokenizer error runs nothing", async () => {
    const { backend, session } = harness();
    const outcome = await session.runInput('ls; get "x');
    assert.equal(errorLine(outcome), 'error: unterminated " quote');
    assert.deepEqual(backend.calls, []);
  });

  test("server errors keep their code", async () => {
    const { backend, session } = harness();
    backend.failNext = new TalariaError("ERR_APP_EXIST", "table t1 exists");
    const outcome = await session.runInput("create t1");
    assert.equal(errorLine(outcome), "error: ERR_APP_EXIST: table t1 exists");
  });

  test("non-Talaria errors are programmer errors and propagate", async () => {
    const { backend, session } = harness();
    backend.addTable("temp");
    await session.runInput("use temp");
    backend.table("temp").get = async () => {
      throw new TypeError("bug");
    };
    await assert.rejects(session.runInput("get h s"), TypeError);
  });
});

describe("shell session: --json", () => {
  test("one document per command with a stable envelope", async () => {
    const { backend, stdout, session } = harness({ json: true });
    backend.addTable("temp");
    await session.runInput(
      "use temp; set h s \\xff; get h s; get h none; exist h s; ttl h s; incr h n 5; sortkey_count h",
    );
    const docs = stdout.documents();
    assert.deepEqual(docs, [
      { command: "use", ok: true, result: { table: "temp", appId: 1, partitionCount: 4 } },
      { command: "set", ok: true, result: {} },
      { command: "get", ok: true, result: { found: true, value: "0xff" } },
      { command: "get", ok: true, result: { found: false } },
      { command: "exist", ok: true, result: { exists: true } },
      { command: "ttl", ok: true, result: { found: true, ttlSeconds: -1 } },
      { command: "incr", ok: true, result: { newValue: "5" } },
      { command: "sortkey_count", ok: true, result: { count: 2 } },
    ]);
  });

  test("records, scans, counts, check_and_set and envs", async () => {
    const { backend, stdout, session } = harness({ json: true });
    backend.addTable("temp", 2, { a: "1" });
    await session.runInput("use temp; multi_set h a 1 b 2");
    stdout.clear();
    await session.runInput(
      "multi_get h; multi_get_range h a b -i; scan -n 1; count_data; check_and_set h -c a -t int_equal -o 1 -v 9 -r; get_app_envs",
    );
    const results = stdout.documents().map((d) => d.result);
    assert.deepEqual(results[0], {
      hashKey: "h",
      records: [
        { sortKey: "a", value: "1" },
        { sortKey: "b", value: "2" },
      ],
      count: 2,
      incomplete: false,
    });
    assert.deepEqual(results[1], {
      hashKey: "h",
      records: [{ sortKey: "a" }],
      count: 1,
      incomplete: false,
    });
    assert.deepEqual(results[2], {
      records: [{ hashKey: "h", sortKey: "a", value: "1" }],
      count: 1,
      more: true,
    });
    const count = results[3] as {
      partitions: { partition: number; count: number }[];
      total: number;
    };
    assert.equal(count.total, 2);
    assert.deepEqual(
      count.partitions.map((p) => p.partition),
      [0, 1],
    );
    assert.deepEqual(results[4], { succeeded: true, checkValue: { exists: true, value: "1" } });
    assert.deepEqual(results[5], { envs: { a: "1" } });
  });

  test("admin results carry the meta server's objects", async () => {
    const { backend, stdout, session } = harness({ json: true });
    backend.addTable("temp", 2);
    await session.runInput("ls; app temp; cluster_info; nodes");
    const [ls, app, info, nodes] = stdout
      .documents()
      .map((d) => d.result as Record<string, unknown>);
    assert.equal((ls?.apps as { status: string }[] | undefined)?.[0]?.status, AppStatus.AVAILABLE);
    assert.deepEqual(Object.keys(app ?? {}), ["app", "healthyPartitions"]);
    assert.deepEqual(Object.keys(info ?? {}), [
      "nodes",
      "apps",
      "partitions",
      "persistsInFlight",
      "ddlQueued",
    ]);
    assert.equal((nodes?.nodes as unknown[] | undefined)?.length, 2);
  });

  test("errors are documents too: usage errors as ERR_INVALID_PARAMETERS with the usage", async () => {
    const { backend, stdout, session } = harness({ json: true });
    await session.runInput("get h");
    backend.failNext = new TalariaError("ERR_TIMEOUT", "no answer", { details: { ms: 5 } });
    await session.runInput("ls");
    await session.runInput("frob");
    assert.deepEqual(stdout.documents(), [
      {
        command: "get",
        ok: false,
        error: {
          code: "ERR_INVALID_PARAMETERS",
          message: "get: missing <sort_key> (usage: get <hash_key> <sort_key>)",
        },
      },
      {
        command: "ls",
        ok: false,
        error: { code: "ERR_TIMEOUT", message: "ERR_TIMEOUT: no answer", details: { ms: 5 } },
      },
      {
        command: "frob",
        ok: false,
        error: {
          code: "ERR_INVALID_PARAMETERS",
          message: 'unknown command "frob" (help lists the commands)',
        },
      },
    ]);
  });

  test("help is data too", async () => {
    const { stdout, session } = harness({ json: true });
    await session.runInput("help; help get");
    const [list, get] = stdout.documents().map((d) => d.result as Record<string, unknown>);
    const verbs = (list?.verbs ?? []) as { name: string }[];
    assert.ok(verbs.some((v) => v.name === "check_and_set"));
    assert.deepEqual(get, {
      name: "get",
      aliases: [],
      usage: "get <hash_key> <sort_key>",
      summary: "read one record",
      details: [],
      needsTable: true,
      flags: [],
    });
  });
});
