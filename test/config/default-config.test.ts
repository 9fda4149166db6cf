import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultReadLimits, defaultWriteLimits } from "../../src/common/limits.ts";
import {
  type ConfigOverrides,
  DEFAULT_CLUSTER_NAME,
  defaultConfig,
  parseConfig,
  plogSegmentBytesMaxOf,
  plogTailCacheBytesOf,
  readLimitsOf,
  writeLimitsOf,
} from "../../src/config/index.ts";
import { defaultPrivateLogOptions } from "../../src/plog/index.ts";
import {
  DEFAULT_TOMBSTONE_RETENTION_SECONDS,
  SWEEP_BUDGET_RECORDS_MAX,
} from "../../src/storage/index.ts";
import { assertOneProblem, MINIMAL } from "./config-helpers.ts";

describe("defaultConfig", () => {
  it("is the schema defaults for cluster onebox, with onebox in the duplication group", () => {
    const config = defaultConfig();
    assert.equal(config.replication.clusterName, DEFAULT_CLUSTER_NAME);
    assert.deepEqual(config.duplicationGroup, { onebox: 1 });
    assert.equal(config.metaServer.clusterRoot, "/talaria/onebox");
    // The same as a file naming only the cluster and its id.
    assert.deepStrictEqual(
      config,
      parseConfig("[replication]\ncluster_name = onebox\n[duplication-group]\nonebox = 1\n"),
    );
  });

  it("applies overrides, re-deriving derived defaults from them", () => {
    const config = defaultConfig({
      replication: { clusterName: "dc2" },
      metaServer: { host: "10.0.0.7", port: 4000 },
    });
    assert.deepEqual(config.duplicationGroup, { dc2: 1 });
    assert.equal(config.metaServer.clusterRoot, "/talaria/dc2");
    assert.deepEqual(config.metaServer.serverList, [{ host: "10.0.0.7", port: 4000 }]);
    assert.equal(
      parseConfig(MINIMAL).replication.fdGraceSeconds,
      config.replication.fdGraceSeconds,
    );
  });

  it("validates overrides like a file", () => {
    assertOneProblem(() => defaultConfig({ metaServer: { port: 0 } }), {
      section: "meta_server",
      key: "port",
      message: /at least 1/,
    });
    assertOneProblem(() => defaultConfig({ replication: { fdLeaseSeconds: 30 } }), {
      section: "replication",
      key: "fd_lease_seconds",
      message: /must be less than fd_grace_seconds/,
    });
    assertOneProblem(() => defaultConfig({ duplicationGroup: { other: 2 } }), {
      section: "duplication-group",
      key: "onebox",
      message: /is missing/,
    });
    const unknown = { replication: { fdLeaseSecs: 3 } } as unknown as ConfigOverrides;
    assertOneProblem(() => defaultConfig(unknown), {
      section: "replication",
      key: "fdLeaseSecs",
      message: /unknown override/,
    });
  });
});

describe("settings derived from a Config", () => {
  it("default limits equal the storage and plog defaults", () => {
    const config = defaultConfig();
    assert.deepEqual(writeLimitsOf(config), defaultWriteLimits);
    assert.deepEqual(readLimitsOf(config), defaultReadLimits);
    assert.equal(plogSegmentBytesMaxOf(config), defaultPrivateLogOptions.segmentBytesMax);
    assert.equal(plogTailCacheBytesOf(config), defaultPrivateLogOptions.tailCacheBytes);
    assert.equal(
      config.pegasusServer.tombstoneRetentionSeconds,
      DEFAULT_TOMBSTONE_RETENTION_SECONDS,
    );
  });

  it("ttl_sweep_budget is bounded by the sweeper's own maximum", () => {
    assert.equal(
      defaultConfig({ pegasusServer: { ttlSweepBudget: SWEEP_BUDGET_RECORDS_MAX } }).pegasusServer
        .ttlSweepBudget,
      SWEEP_BUDGET_RECORDS_MAX,
    );
    assertOneProblem(
      () => defaultConfig({ pegasusServer: { ttlSweepBudget: SWEEP_BUDGET_RECORDS_MAX + 1 } }),
      {
        section: "pegasus.server",
        key: "ttl_sweep_budget",
        message: /at most/,
      },
    );
  });

  it("limits follow the file", () => {
    const config = parseConfig(
      `${MINIMAL}[pegasus.server]\nread_bytes_max = 2M\nmulti_op_count_max = 50\n[replication]\nlog_private_file_size_mb = 8\nlog_private_tail_cache_kb = 0\n`,
    );
    assert.equal(plogTailCacheBytesOf(config), 0);
    assert.equal(readLimitsOf(config).readBytesMax, 2 * 1024 * 1024);
    assert.equal(writeLimitsOf(config).multiOpCountMax, 50);
    assert.equal(plogSegmentBytesMaxOf(config), 8 * 1024 * 1024);
  });
});
