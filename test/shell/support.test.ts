import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parseConfig } from "../../src/config/index.ts";
import {
  allVerbs,
  bytesToDisplay,
  bytesToJson,
  clusterFromConfig,
  complete,
  configPathFor,
  directTarget,
  everyVerbSpec,
  historyPath,
  parseMetaList,
  TargetError,
  usageLine,
} from "../../src/shell/index.ts";

const source = { verbs: allVerbs, tables: ["temp", "test", "users"] };
const candidates = (line: string) => complete(line, source)[0];

describe("tab completion", () => {
  test("verbs at the start of a command, also after ;", () => {
    assert.deepEqual(candidates("multi_g"), ["multi_get", "multi_get_range"]);
    assert.deepEqual(candidates("ls; cl"), ["clear_app_envs", "cluster_info"]);
    assert.deepEqual(complete("ex", source), [["exist", "exit"], "ex"]);
    assert.equal(candidates("").length, allVerbs.length + 2); // with the aliases quit and full_scan
  });

  test("help completes verbs", () => {
    assert.deepEqual(candidates("help hash"), ["hash_scan"]);
  });

  test("flags of the verb, long and short", () => {
    assert.deepEqual(candidates("multi_get_range h a b --st"), [
      "--start_inclusive",
      "--stop_inclusive",
    ]);
    assert.deepEqual(candidates("ls -"), ["--all", "-a"]);
  });

  test("values of enum and bool flags: check types, filter types, true|false", () => {
    assert.deepEqual(candidates("check_and_set h -t int_g"), [
      "int_greater",
      "int_greater_or_equal",
    ]);
    assert.deepEqual(candidates("multi_get_range h a b -a f"), ["false"]);
    assert.deepEqual(candidates("multi_get_range h a b -s p"), ["postfix", "prefix"]);
    assert.deepEqual(candidates("nodes --status a"), ["alive", "all"]);
  });

  test("table names for use, app and drop; nothing for keys", () => {
    assert.deepEqual(candidates("use te"), ["temp", "test"]);
    assert.deepEqual(candidates("app u"), ["users"]);
    assert.deepEqual(candidates("get te"), []);
    assert.deepEqual(candidates("nosuchverb x"), []);
  });
});

describe("cluster resolution", () => {
  const config = parseConfig(
    "[replication]\ncluster_name = local\n[duplication-group]\nlocal = 1\nremote = 2\n" +
      "[meta_server]\nport = 34611\n[pegasus.clusters]\nremote = 10.0.0.1:34601,10.0.0.2:34601\n",
  );

  test("-c names a [pegasus.clusters] entry or the configuration's own cluster", () => {
    assert.deepEqual(clusterFromConfig("remote", config, "x.ini"), {
      label: "remote",
      metaServers: ["10.0.0.1:34601", "10.0.0.2:34601"],
    });
    assert.deepEqual(clusterFromConfig("local", config, "x.ini"), {
      label: "local",
      metaServers: ["127.0.0.1:34611"],
    });
    assert.throws(() => clusterFromConfig("elsewhere", config, "x.ini"), TargetError);
  });

  test("--meta or the default, labelled by -c or the first meta server", () => {
    assert.deepEqual(directTarget(undefined, undefined), {
      label: "127.0.0.1:34601",
      metaServers: ["127.0.0.1:34601"],
    });
    assert.deepEqual(directTarget("prod", ["10.0.0.9:34601"]), {
      label: "prod",
      metaServers: ["10.0.0.9:34601"],
    });
  });

  test("--meta parses and normalizes host:port lists", () => {
    assert.deepEqual(parseMetaList("10.0.0.1:34601, [::1]:34601"), [
      "10.0.0.1:34601",
      "[::1]:34601",
    ]);
    assert.throws(() => parseMetaList("10.0.0.1"), /not host:port/);
    assert.throws(() => parseMetaList(Array(17).fill("a:1").join(",")), /at most 16/);
  });

  test("the configuration comes from --config, TALARIA_CONFIG, then ./talaria.ini", () => {
    const exists = (p: string) => p === "/work/talaria.ini";
    const base = { cwd: "/work", exists };
    assert.equal(
      configPathFor({ ...base, config: "a.ini", env: { TALARIA_CONFIG: "b.ini" } }),
      "a.ini",
    );
    assert.equal(
      configPathFor({ ...base, config: undefined, env: { TALARIA_CONFIG: "b.ini" } }),
      "b.ini",
    );
    assert.equal(configPathFor({ ...base, config: undefined, env: {} }), "/work/talaria.ini");
    assert.equal(
      configPathFor({ cwd: "/elsewhere", exists, config: undefined, env: {} }),
      undefined,
    );
  });

  test("the history file is TALARIA_HISTORY or ~/.talaria_history", () => {
    assert.equal(historyPath({ TALARIA_HISTORY: "/tmp/h" }), "/tmp/h");
    assert.match(historyPath({}), /\.talaria_history$/);
  });
});

describe("byte rendering", () => {
  test("printable UTF-8 as text, anything else (and text starting with 0x) as hex", () => {
    assert.equal(bytesToJson(Buffer.from("héllo")), "héllo");
    assert.equal(bytesToJson(Buffer.from([0xff, 0x00])), "0xff00");
    assert.equal(bytesToJson(Buffer.from("a\nb")), "0x610a62");
    assert.equal(bytesToJson(Buffer.from("0x12")), "0x30783132");
  });

  test("human form quotes what would not read back as one token and cuts long cells", () => {
    assert.equal(bytesToDisplay(Buffer.from("plain")), "plain");
    assert.equal(bytesToDisplay(Buffer.alloc(0)), '""');
    assert.equal(bytesToDisplay(Buffer.from('a "b"')), '"a \\"b\\""');
    assert.equal(bytesToDisplay(Buffer.from("x".repeat(300))), `${"x".repeat(256)}…`);
    assert.equal(bytesToDisplay(Buffer.alloc(200, 0xff)), `0x${"ff".repeat(128)}…`);
  });
});

describe("docs/shell.md", () => {
  test("documents every verb with its exact usage line, and every sub-command's", () => {
    const doc = readFileSync(new URL("../../docs/shell.md", import.meta.url), "utf8");
    for (const verb of allVerbs) {
      assert.ok(doc.includes(`#### \`${verb.name}\``), `no section for ${verb.name}`);
    }
    for (const verb of everyVerbSpec()) {
      assert.ok(
        doc.includes(`\n${usageLine(verb)}\n`),
        `usage of ${verb.name} differs from the doc`,
      );
    }
  });
});
