import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  defaultConfig,
  parseConfig,
  remoteTransportOptions,
  renderConfig,
} from "../../src/config/index.ts";
import { assertOneProblem, configErrorOf } from "./config-helpers.ts";

const CLUSTERS = `[replication]
cluster_name = dc1

[duplication-group]
dc1 = 1
dc2 = 2
dc3 = 3

[pegasus.clusters]
dc1 = 10.0.0.1:34601
dc2 = 10.1.0.1:34601,10.1.0.2:34601
dc3 = 10.2.0.1:34601
`;

describe("[duplication-proxy]", () => {
  it("maps a remote cluster to the HTTP CONNECT proxy its traffic goes through", () => {
    const config = parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc2 = egress.dc1:3128\n`);
    assert.deepEqual(config.duplicationProxy, { dc2: [{ host: "egress.dc1", port: 3128 }] });
    assert.deepEqual(remoteTransportOptions(config, "dc2"), { connectProxy: "egress.dc1:3128" });
    assert.deepEqual(remoteTransportOptions(config, "dc3"), {}, "not listed: direct");
    assert.deepEqual(remoteTransportOptions(config, "constructor"), {});
    const ipv6 = parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc3 = [::1]:8080\n`);
    assert.deepEqual(remoteTransportOptions(ipv6, "dc3"), { connectProxy: "[::1]:8080" });
  });

  it("is empty by default and survives a render → parse round trip", () => {
    assert.deepEqual(defaultConfig().duplicationProxy, {});
    const config = defaultConfig({
      replication: { clusterName: "dc1" },
      pegasusClusters: { dc2: [{ host: "10.1.0.1", port: 34_601 }] },
      duplicationGroup: { dc1: 1, dc2: 2 },
      duplicationProxy: { dc2: [{ host: "127.0.0.1", port: 3128 }] },
    });
    const text = renderConfig(config);
    assert.match(text, /\[duplication-proxy\]\ndc2 = 127\.0\.0\.1:3128/);
    assert.deepEqual(parseConfig(text).duplicationProxy, config.duplicationProxy);
  });

  it("refuses a bad address, two proxies, an unknown cluster and this cluster", () => {
    assertOneProblem(() => parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc2 = egress\n`), {
      section: "duplication-proxy",
      key: "dc2",
      message: /not host:port/,
    });
    assertOneProblem(() => parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc2 = a:1,b:2\n`), {
      section: "duplication-proxy",
      key: "dc2",
      message: /at most 1 items/,
    });
    assertOneProblem(() => parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc9 = p:3128\n`), {
      section: "duplication-proxy",
      key: "dc9",
      message: /is not a cluster of \[pegasus\.clusters\] \(known: dc1, dc2, dc3\)/,
    });
    assertOneProblem(() => parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc1 = p:3128\n`), {
      section: "duplication-proxy",
      key: "dc1",
      message: /is this cluster/,
    });
    const { problems } = configErrorOf(() =>
      parseConfig(`${CLUSTERS}\n[duplication-proxy]\ndc8 = p:1\ndc9 = p:2\n`),
    );
    assert.deepEqual(
      problems.map((p) => p.key),
      ["dc8", "dc9"],
    );
  });
});
