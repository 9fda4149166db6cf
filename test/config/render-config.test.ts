import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Config, defaultConfig, parseConfig, renderConfig } from "../../src/config/index.ts";

const roundTrip = (config: Config, comments = true): Config =>
  parseConfig(renderConfig(config, { comments }));

describe("renderConfig", () => {
  it("writes every key, and the text parses back to an equal Config", () => {
    const config = defaultConfig({
      replication: {
        clusterName: "dc1",
        fdLeaseSeconds: 5,
        maxAllowedWriteSize: 3 * 1024 * 1024 + 1,
      },
      metaServer: {
        metaStateServiceType: "zookeeper",
        serverList: [
          { host: "10.0.0.1", port: 34_601 },
          { host: "::1", port: 34_601 },
        ],
      },
      zookeeper: { hostsList: [{ host: "zk1", port: 2181 }] },
      replicaServer: { dataDir: " /data; with #specials = and spaces " },
      pegasusClusters: { dc2: [{ host: "10.1.0.1", port: 34_601 }] },
      duplicationGroup: { dc1: 1, dc2: 127 },
    });
    assert.deepStrictEqual(roundTrip(config), config);
    assert.deepStrictEqual(roundTrip(config, false), config);
    assert.deepStrictEqual(roundTrip(defaultConfig()), defaultConfig());
  });

  it("round-trips text that needs quoting or escaping", () => {
    const awkward = [
      "a\\;b",
      "ends\\",
      "C:\\data\\meta",
      '"quoted"',
      "'single'",
      "x;y#z",
      " lead",
      "trail ",
      "a=b",
      "[x]",
      "line\nbreak",
      "null",
      "true",
    ];
    for (const dataDir of awkward) {
      const config = defaultConfig({ replicaServer: { dataDir } });
      assert.equal(roundTrip(config).replicaServer.dataDir, dataDir, JSON.stringify(dataDir));
    }
  });

  it("writes sections and keys in schema order, with or without comments", () => {
    const plain = renderConfig(defaultConfig(), { comments: false });
    assert.ok(!plain.includes(";"));
    assert.match(plain, /^\[meta_server\]\nhost = 127\.0\.0\.1\nport = 34601\n/);
    assert.match(plain, /\[zookeeper\]\nhosts_list =\n/);
    assert.match(plain, /\[duplication-group\]\nonebox = 1\n\n\[duplication-proxy\]\n$/);
    const commented = renderConfig(defaultConfig());
    assert.match(commented, /; RPC port of the meta server\. Default: 34601\.\nport = 34601\n/);
    for (const line of commented.split("\n"))
      assert.ok(line.length <= 100 || !line.includes(" ", 2), line);
  });

  it("round-trips random valid configurations", () => {
    const clusterName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/);
    const host = fc.oneof(
      fc.ipV4(),
      fc.constantFrom("localhost", "meta-1.example.com", "::1", "fe80::1"),
    );
    const hostPort = fc.record({ host, port: fc.integer({ min: 1, max: 65_535 }) });
    fc.assert(
      fc.property(
        clusterName,
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 1024 ** 3 }),
        fc.uniqueArray(hostPort, {
          minLength: 1,
          maxLength: 5,
          selector: (hp) => `${hp.host}:${hp.port}`,
        }),
        fc.string({ unit: "binary" }),
        fc.boolean(),
        (name, lease, writeSize, metas, dataDir, dupEnabled) => {
          const config = defaultConfig({
            replication: {
              clusterName: name,
              fdBeaconIntervalSeconds: 1,
              fdLeaseSeconds: lease + 1,
              fdGraceSeconds: lease + 2,
              maxAllowedWriteSize: writeSize,
              duplicationEnabled: dupEnabled,
            },
            metaServer: { metaStateServiceType: "zookeeper", serverList: metas },
            zookeeper: { hostsList: metas },
            replicaServer: { dataDir: dataDir === "" ? "d" : dataDir },
            pegasusClusters: { remote: metas },
          });
          assert.deepStrictEqual(roundTrip(config), config);
        },
      ),
      { numRuns: 200 },
    );
  });
});
