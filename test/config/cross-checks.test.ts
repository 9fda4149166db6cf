import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crossChecks, defaultConfig, parseConfig } from "../../src/config/index.ts";
import { assertOneProblem, configErrorOf, MINIMAL, withLines } from "./config-helpers.ts";

describe("config rules across keys", () => {
  it("fd_beacon_interval_seconds < fd_lease_seconds < fd_grace_seconds", () => {
    const error = assertOneProblem(
      () => parseConfig(withLines("replication", "fd_lease_seconds = 10")),
      {
        section: "replication",
        key: "fd_lease_seconds",
        line: 8,
        message: /= 10 must be less than fd_grace_seconds \(10\)/,
      },
    );
    assert.match(error.message, /:8: \[replication\] fd_lease_seconds = 10 must be less than/);
    assertOneProblem(
      () => parseConfig(withLines("replication", "fd_beacon_interval_seconds = 9")),
      {
        section: "replication",
        key: "fd_lease_seconds",
        message: /= 9 must be greater than fd_beacon_interval_seconds \(9\)/,
      },
    );
    const config = parseConfig(
      withLines("replication", "fd_lease_seconds = 20", "fd_grace_seconds = 30"),
    );
    assert.equal(config.replication.fdLeaseSeconds, 20);
  });

  it("the zookeeper meta state service needs hosts", () => {
    assertOneProblem(
      () =>
        parseConfig(
          withLines(
            "meta_server",
            "meta_state_service_type = zookeeper",
            "server_list = m1:34601,m2:34601",
          ),
        ),
      {
        section: "zookeeper",
        key: "hosts_list",
        message: /required when \[meta_server\] meta_state_service_type = zookeeper/,
      },
    );
    const config = parseConfig(
      `${withLines(
        "meta_server",
        "meta_state_service_type = zookeeper",
        "server_list = m1:34601,m2:34601",
      )}[zookeeper]\nhosts_list = zk1:2181,zk2:2181,zk3:2181\n`,
    );
    assert.equal(config.zookeeper.hostsList.length, 3);
    assert.equal(config.metaServer.serverList.length, 2);
  });

  it("the embedded meta store serves exactly one meta server", () => {
    assertOneProblem(
      () => parseConfig(withLines("meta_server", "server_list = m1:34601,m2:34601")),
      {
        section: "meta_server",
        key: "server_list",
        message: /lists 2 meta servers, but the embedded meta store serves one/,
      },
    );
  });

  it("duplication needs the local cluster in [duplication-group], unless it is off", () => {
    assertOneProblem(
      () => parseConfig("[replication]\ncluster_name = dc1\n[duplication-group]\ndc2 = 2\n"),
      {
        section: "duplication-group",
        key: "dc1",
        message:
          /is missing: .*need "dc1 = <id 1\.\.127>" here \(or set duplication_enabled = false\)/,
      },
    );
    const config = parseConfig("[replication]\ncluster_name = dc1\nduplication_enabled = false\n");
    assert.deepEqual(config.duplicationGroup, {});
  });

  it("cluster ids are unique", () => {
    const { problems } = configErrorOf(() => parseConfig(`${MINIMAL}dc2 = 2\ndc3 = 1\ndc4 = 2\n`));
    assert.deepEqual(
      problems.map((p) => [p.section, p.key, p.line, p.message]),
      [
        ["duplication-group", "dc3", 7, "has id 1, already taken by dc1"],
        ["duplication-group", "dc4", 8, "has id 2, already taken by dc2"],
      ],
    );
  });

  it("duplication log retention plus the clock skew fits within tombstone retention", () => {
    assertOneProblem(
      () => parseConfig(withLines("pegasus.server", "tombstone_retention_seconds = 3600")),
      {
        section: "replication",
        key: "dup_max_retained_log_seconds",
        message:
          /= 43200 plus dup_max_clock_skew_seconds \(300\) must not exceed \[pegasus\.server\] tombstone_retention_seconds \(3600\)/,
      },
    );
    // Equal retentions left no room for a remote clock running ahead: refused by the default
    // skew, accepted once the operator states the clocks agree.
    const equal = `${withLines("pegasus.server", "tombstone_retention_seconds = 1h")}[replication]\ndup_max_retained_log_seconds = 1h\n`;
    assertOneProblem(() => parseConfig(equal), {
      section: "replication",
      key: "dup_max_retained_log_seconds",
      message: /= 3600 plus dup_max_clock_skew_seconds \(300\) must not exceed/,
    });
    const config = parseConfig(`${equal}dup_max_clock_skew_seconds = 0\n`);
    assert.equal(config.replication.dupMaxRetainedLogSeconds, 3600);
    assert.equal(config.replication.dupMaxClockSkewSeconds, 0);
    const margin = parseConfig(
      `${withLines("pegasus.server", "tombstone_retention_seconds = 1h")}[replication]\ndup_max_retained_log_seconds = 55m\n`,
    );
    assert.equal(margin.replication.dupMaxClockSkewSeconds, 300);
  });

  it("the stall window is longer than the sync period", () => {
    assertOneProblem(() => parseConfig(withLines("replication", "dup_stalled_after_ms = 10s")), {
      section: "replication",
      key: "dup_stalled_after_ms",
      message: /= 10000 must be longer than duplication_sync_period_second \(10 s = 10000 ms\)/,
    });
  });

  it("listening endpoints on one host do not share a port", () => {
    assertOneProblem(() => parseConfig(withLines("replica_server", "http_port = 34601")), {
      section: "replica_server",
      key: "http_port",
      message: /^127\.0\.0\.1:34601 is also \[meta_server\] port$/,
    });
    assertOneProblem(() => parseConfig(withLines("meta_server", "http_port = 34601")), {
      section: "meta_server",
      key: "http_port",
      message: /is also \[meta_server\] port/,
    });
    // Different hosts, or HTTP turned off on both, do not collide.
    parseConfig(withLines("replica_server", "host = 10.0.0.2", "port = 34601"));
    parseConfig(`${withLines("replica_server", "http_port = 0")}[meta_server]\nhttp_port = 0\n`);
  });

  it("rules run only once every key parsed, and all their problems are reported together", () => {
    const { problems } = configErrorOf(() =>
      parseConfig(withLines("replication", "fd_lease_seconds = 11", "dup_stalled_after_ms = 5000")),
    );
    assert.deepEqual(
      problems.map((p) => p.key),
      ["fd_lease_seconds", "dup_stalled_after_ms"],
    );
    const parseFirst = configErrorOf(() =>
      parseConfig(withLines("replication", "fd_lease_seconds = 11", "gc_interval_ms = x")),
    );
    assert.deepEqual(
      parseFirst.problems.map((p) => p.key),
      ["gc_interval_ms"],
    );
  });

  it("every rule passes on the default configuration and names a documented section", () => {
    const config = defaultConfig();
    for (const rule of crossChecks) assert.deepEqual(rule.check(config), [], rule.doc);
  });
});
