import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatValue,
  type ParseResult,
  parseValue,
  type ValueConstraints,
  type ValueTypeName,
} from "../../src/config/value-types.ts";

function good(
  type: ValueTypeName,
  text: string,
  expected: unknown,
  c: ValueConstraints = {},
): void {
  const result: ParseResult<unknown> = parseValue(type, text, c);
  assert.deepEqual(result, { ok: true, value: expected }, `${type} "${text}"`);
}

function bad(type: ValueTypeName, text: string, error: RegExp, c: ValueConstraints = {}): void {
  const result = parseValue(type, text, c);
  assert.equal(result.ok, false, `${type} "${text}" should not parse`);
  if (!result.ok) assert.match(result.error, error);
}

describe("config value types", () => {
  it("int: decimal integers only, within bounds", () => {
    good("int", "10", 10);
    good("int", "-3", -3);
    good("int", "0", 0);
    for (const text of ["10x", "1.5", "1e3", "+5", "0x10", "1_000", " ", "", "9007199254740993"]) {
      bad("int", text, /expected an integer/);
    }
    bad("int", "0", /at least 1/, { min: 1 });
    bad("int", "65536", /at most 65535/, { min: 1, max: 65_535 });
    good("int", "65535", 65_535, { min: 1, max: 65_535 });
  });

  it("bool: exactly true or false", () => {
    good("bool", "true", true);
    good("bool", "false", false);
    for (const text of ["True", "FALSE", "1", "0", "yes", "on", ""])
      bad("bool", text, /expected true or false/);
  });

  it("bytes: integers with optional binary K/M/G suffixes", () => {
    good("bytes", "4096", 4096);
    good("bytes", "64K", 65_536);
    good("bytes", "1M", 1_048_576);
    good("bytes", "4G", 4 * 1024 ** 3);
    for (const text of ["1MB", "1m", "1.5M", "-1", "M", "1 M", "1KiB", ""])
      bad("bytes", text, /size in bytes/);
    bad("bytes", "2K", /at most 1024 bytes/, { max: 1024 });
    assert.equal(formatValue("bytes", 1_048_576), "1M");
    assert.equal(formatValue("bytes", 1_048_577), "1048577");
    assert.equal(formatValue("bytes", 0), "0");
    assert.equal(formatValue("bytes", 3 * 1024 ** 3), "3G");
  });

  it("durations: integers in the key's unit, or with a unit suffix", () => {
    good("duration-ms", "1500", 1500);
    good("duration-ms", "10s", 10_000);
    good("duration-ms", "5m", 300_000);
    good("duration-ms", "250ms", 250);
    good("duration-s", "90", 90);
    good("duration-s", "10m", 600);
    good("duration-s", "7d", 604_800);
    bad("duration-s", "500ms", /duration in seconds/);
    bad("duration-ms", "1.5s", /duration in milliseconds/);
    bad("duration-ms", "10sec", /duration in milliseconds/);
    bad("duration-ms", "-1", /duration in milliseconds/);
    bad("duration-ms", "50", /at least 100 ms/, { min: 100 });
  });

  it("enum: one of the listed values", () => {
    good("enum", "zookeeper", "zookeeper", { values: ["embedded", "zookeeper"] });
    bad("enum", "ZooKeeper", /one of embedded, zookeeper/, { values: ["embedded", "zookeeper"] });
  });

  it("list: comma-separated, trimmed, no empty items", () => {
    good("list", "a, b ,c", ["a", "b", "c"]);
    good("list", "", []);
    bad("list", "a,,b", /empty item/);
    bad("list", "a,", /empty item/);
    bad("list", "", /must not be empty/, { min: 1 });
  });

  it("host-port-list: validated host:port items", () => {
    good("host-port-list", "10.0.0.1:34601, meta-2.dc1.example.com:34601", [
      { host: "10.0.0.1", port: 34_601 },
      { host: "meta-2.dc1.example.com", port: 34_601 },
    ]);
    good("host-port-list", "[::1]:34601", [{ host: "::1", port: 34_601 }]);
    good("host-port-list", "", []);
    bad("host-port-list", "10.0.0.1", /not host:port/);
    bad("host-port-list", "10.0.0.1:0", /port 0 .* not in 1\.\.65535/);
    bad("host-port-list", "10.0.0.1:70000", /not in 1\.\.65535/);
    bad("host-port-list", "10.0.0.1:34601x", /not host:port/);
    bad("host-port-list", "bad_host:1", /not a valid host/);
    bad("host-port-list", "::1:34601", /not host:port/);
    bad("host-port-list", "[meta]:1", /not a valid host/);
    bad("host-port-list", "a:1,,b:2", /empty item/);
    bad("host-port-list", "a:1,a:1", /a:1 is listed twice/);
    bad("host-port-list", "", /must not be empty/, { min: 1 });
    bad("host-port-list", "a:1,b:2", /at most 1 items/, { max: 1 });
    assert.equal(
      formatValue("host-port-list", [
        { host: "::1", port: 1 },
        { host: "a", port: 2 },
      ]),
      "[::1]:1,a:2",
    );
  });

  it("host, cluster-name, node-path and path", () => {
    good("host", "127.0.0.1", "127.0.0.1");
    good("host", "::1", "::1");
    good("host", "replica-1.example.com", "replica-1.example.com");
    bad("host", "", /not a valid host/);
    bad("host", "-bad.example.com", /not a valid host/);
    good("cluster-name", "dc1_east-2", "dc1_east-2");
    bad("cluster-name", "1dc", /not a cluster name/);
    bad("cluster-name", "dc 1", /not a cluster name/);
    bad("cluster-name", "a".repeat(65), /not a cluster name/);
    good("node-path", "/talaria/dc1", "/talaria/dc1");
    for (const text of ["talaria", "/talaria/", "/a//b", "/", "/a b"])
      bad("node-path", text, /not an absolute path/);
    good("path", "./data dir/meta", "./data dir/meta");
    bad("path", "", /must not be empty/);
  });
});
