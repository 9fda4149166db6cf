import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { loadConfig, parseConfig } from "../../src/config/index.ts";
import { assertOneProblem, configErrorOf, MINIMAL, withLines } from "./config-helpers.ts";

describe("parseConfig", () => {
  it("fills every key not in the file with its default", () => {
    const config = parseConfig(MINIMAL);
    assert.equal(config.replication.clusterName, "dc1");
    assert.equal(config.replication.duplicationEnabled, true);
    assert.equal(config.replication.maxAllowedWriteSize, 1024 * 1024);
    assert.equal(config.replication.fdLeaseSeconds, 9);
    assert.equal(config.metaServer.port, 34_601);
    assert.equal(config.metaServer.metaStateServiceType, "embedded");
    assert.equal(config.zookeeper.hostsList.length, 0);
    assert.equal(config.pegasusServer.rocksdbMultiGetMaxIterationCount, 3000);
    assert.equal(config.pegasusServer.tombstoneRetentionSeconds, 86_400);
    assert.deepEqual(config.duplicationGroup, { dc1: 1 });
    assert.deepEqual(config.pegasusClusters, {});
  });

  it("derives cluster_root and server_list unless they are set", () => {
    const derived = parseConfig(
      withLines("meta_server", "host = 10.0.0.5", "port = 4000", "http_port = 4001"),
    );
    assert.equal(derived.metaServer.clusterRoot, "/talaria/dc1");
    assert.deepEqual(derived.metaServer.serverList, [{ host: "10.0.0.5", port: 4000 }]);
    const explicit = parseConfig(
      withLines("meta_server", "cluster_root = /kv/prod", "server_list = 10.0.0.9:34601"),
    );
    assert.equal(explicit.metaServer.clusterRoot, "/kv/prod");
    assert.deepEqual(explicit.metaServer.serverList, [{ host: "10.0.0.9", port: 34_601 }]);
  });

  it("reads values with ini syntax: comments, inline comments, quotes, CRLF, spaces", () => {
    const text = [
      "; a comment",
      "# another",
      "[replication]",
      "  cluster_name=dc1   ; inline comment",
      'max_allowed_write_size = "2M"',
      "fd_grace_seconds = 12 # inline",
      "[duplication-group]",
      "dc1 = 1",
      "[replica_server]",
      'data_dir = " /data/with space ;semi "',
    ].join("\r\n");
    const config = parseConfig(text);
    assert.equal(config.replication.clusterName, "dc1");
    assert.equal(config.replication.maxAllowedWriteSize, 2 * 1024 * 1024);
    assert.equal(config.replication.fdGraceSeconds, 12);
    assert.equal(config.replicaServer.dataDir, " /data/with space ;semi ");
  });

  it("returns a deeply frozen object", () => {
    const config = parseConfig(MINIMAL);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.metaServer.serverList[0]));
    assert.ok(Object.isFrozen(config.duplicationGroup));
    assert.throws(() => {
      (config.replication as { clusterName: string }).clusterName = "x";
    }, TypeError);
  });

  it("names the section, key and line of a bad value", () => {
    const error = assertOneProblem(
      () => parseConfig(withLines("replication", "fd_lease_seconds = 10x"), { source: "dc1.ini" }),
      {
        section: "replication",
        key: "fd_lease_seconds",
        line: 8,
        message: /duration in seconds/,
      },
    );
    assert.match(
      error.message,
      /^ERR_INVALID_CONFIG: dc1\.ini:8: \[replication\] fd_lease_seconds: expected a duration/,
    );
    assert.equal(error.details.source, "dc1.ini");
    assert.equal(error.retriable, false);
  });

  it("refuses values out of range", () => {
    assertOneProblem(() => parseConfig(withLines("meta_server", "port = 70000")), {
      section: "meta_server",
      key: "port",
      message: /at most 65535/,
    });
    assertOneProblem(() => parseConfig(withLines("pegasus.server", "ttl_sweep_budget = 100001")), {
      section: "pegasus.server",
      key: "ttl_sweep_budget",
      message: /at most 100000/,
    });
    assertOneProblem(
      () => parseConfig(withLines("meta_server", "meta_state_service_type = etcd")),
      {
        section: "meta_server",
        key: "meta_state_service_type",
        message: /one of embedded, zookeeper/,
      },
    );
  });

  it("refuses an unknown section, suggesting the closest one", () => {
    const error = assertOneProblem(() => parseConfig(`${MINIMAL}[replicaton]\nfoo = 1\n`), {
      section: "replicaton",
      message: /unknown section \(did you mean \[replication\]\?\)/,
    });
    assert.match(error.message, /:6: \[replicaton\] unknown section/);
    assertOneProblem(() => parseConfig(`${MINIMAL}[apps.meta]\nports = 1\n`), {
      section: "apps.meta",
      message:
        /unknown section \(known sections: meta_server, zookeeper,.*duplication-group, duplication-proxy\)/,
    });
  });

  it("refuses an unknown key, suggesting the closest one or its section", () => {
    assertOneProblem(() => parseConfig(withLines("replication", "fd_lease_second = 9")), {
      section: "replication",
      key: "fd_lease_second",
      message: /unknown key \(did you mean fd_lease_seconds\?\)/,
    });
    assertOneProblem(
      () => parseConfig(withLines("meta_server", "tombstone_retention_seconds = 10")),
      {
        section: "meta_server",
        key: "tombstone_retention_seconds",
        message: /unknown key \(it belongs in \[pegasus\.server\]\)/,
      },
    );
    assertOneProblem(() => parseConfig(withLines("zookeeper", "completely_unrelated = 1")), {
      section: "zookeeper",
      key: "completely_unrelated",
      message: /^unknown key$/,
    });
  });

  it("treats names of Object.prototype members as unknown, not as known", () => {
    assertOneProblem(() => parseConfig(`${MINIMAL}[constructor]\n`), {
      section: "constructor",
      message: /unknown section/,
    });
    assertOneProblem(() => parseConfig(withLines("replication", "toString = 1")), {
      section: "replication",
      key: "toString",
      message: /^unknown key$/,
    });
    assertOneProblem(() => parseConfig(withLines("meta_server", "port = 1constructor")), {
      section: "meta_server",
      key: "port",
      message: /expected an integer/,
    });
    assertOneProblem(() => parseConfig(withLines("zookeeper", "timeout_ms = 10constructor")), {
      section: "zookeeper",
      key: "timeout_ms",
      message: /expected a duration in milliseconds/,
    });
    const config = parseConfig(
      "[replication]\ncluster_name = constructor\n[duplication-group]\nconstructor = 3\n",
    );
    assert.equal(config.duplicationGroup.constructor, 3);
    assertOneProblem(() => parseConfig("[replication]\ncluster_name = constructor\n"), {
      section: "duplication-group",
      key: "constructor",
      message: /is missing/,
    });
  });

  it("refuses a missing required key", () => {
    assertOneProblem(() => parseConfig("[meta_server]\nport = 34601\n"), {
      section: "replication",
      key: "cluster_name",
      message: /is required/,
    });
  });

  it("refuses structural mistakes with their line numbers", () => {
    const { problems } = configErrorOf(() =>
      parseConfig(
        [
          "port = 1",
          "[replication",
          "[]",
          "[replication]",
          "cluster_name",
          "= 5",
          "cluster_name = dc1",
          "cluster_name = dc2",
        ].join("\n"),
      ),
    );
    assert.deepEqual(
      problems.map((p) => [p.line, p.section, p.key, p.message.split(" ").slice(0, 3).join(" ")]),
      [
        [1, undefined, "port", "is outside any"],
        [2, undefined, undefined, "expected a section"],
        [3, undefined, undefined, "expected a section"],
        [5, "replication", undefined, 'expected "key ='],
        [6, undefined, undefined, "a line starts"],
        [8, "replication", "cluster_name", "is set twice"],
      ],
    );
  });

  it("collects every problem into one error, in file order", () => {
    const text = [
      "[replication]",
      "cluster_name = dc1",
      "fd_lease_seconds = x",
      "[meta_server]",
      "port = 0",
      "prot = 1",
      "[duplication-group]",
      "dc1 = 1",
    ].join("\n");
    const { error, problems } = configErrorOf(() => parseConfig(text, { source: "a.ini" }));
    assert.deepEqual(
      problems.map((p) => `${p.line} ${p.key}`),
      ["3 fd_lease_seconds", "5 port", "6 prot"],
    );
    assert.match(error.message, /^ERR_INVALID_CONFIG: 3 problems:\n {2}a\.ini:3: /);
    assert.equal(error.details.key, "fd_lease_seconds");
  });

  it("reads the map sections and validates their names and values", () => {
    const config = parseConfig(
      withLines("pegasus.clusters", "dc2 = 10.1.0.1:34601,10.1.0.2:34601", "dc3 = meta.dc3:34601") +
        "[duplication-group]\ndc2 = 2\ndc3 = 3\n",
    );
    assert.deepEqual(config.pegasusClusters.dc2, [
      { host: "10.1.0.1", port: 34_601 },
      { host: "10.1.0.2", port: 34_601 },
    ]);
    assert.deepEqual(config.duplicationGroup, { dc1: 1, dc2: 2, dc3: 3 });
    assertOneProblem(() => parseConfig(withLines("pegasus.clusters", "dc2 =")), {
      section: "pegasus.clusters",
      key: "dc2",
      message: /must not be empty/,
    });
    assertOneProblem(() => parseConfig(withLines("pegasus.clusters", "2dc = a:1")), {
      section: "pegasus.clusters",
      key: "2dc",
      message: /not a cluster name/,
    });
    assertOneProblem(() => parseConfig(withLines("duplication-group", "dc2 = 128")), {
      section: "duplication-group",
      key: "dc2",
      message: /at most 127/,
    });
    assertOneProblem(() => parseConfig(withLines("duplication-group", "dc2 = 0")), {
      section: "duplication-group",
      key: "dc2",
      message: /at least 1/,
    });
    assertOneProblem(() => parseConfig(withLines("duplication-group", "dc1 = 2")), {
      section: "duplication-group",
      key: "dc1",
      message: /set twice \(first on line 5\)/,
    });
  });
});

describe("loadConfig", () => {
  it("reads a file and names it in errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "talaria-config-"));
    try {
      const good = join(dir, "good.ini");
      await writeFile(good, MINIMAL);
      assert.equal((await loadConfig(good)).replication.clusterName, "dc1");
      const bad = join(dir, "bad.ini");
      await writeFile(bad, withLines("replication", "duplication_enabled = yes"));
      await assert.rejects(loadConfig(bad), (error: unknown) => {
        assert.ok(isTalariaError(error, "ERR_INVALID_CONFIG"));
        assert.ok(
          error.message.includes(
            `${bad}:8: [replication] duplication_enabled: expected true or false`,
          ),
        );
        return true;
      });
      await assert.rejects(loadConfig(join(dir, "missing.ini")), (error: unknown) => {
        assert.ok(isTalariaError(error, "ERR_INVALID_CONFIG"));
        assert.match(error.message, /cannot read configuration file: ENOENT/);
        assert.equal((error.cause as NodeJS.ErrnoException).code, "ENOENT");
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
