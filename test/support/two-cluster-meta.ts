/**
 * Meta core settings of one cluster of a two-cluster test (dc1 at 127.0.0.1:34601, dc2 at
 * 127.0.0.1:35601): failure detection that never fires during a test, and duplication between
 * the two.
 */
export function twoClusterCore(clusterName: string, address: string) {
  return {
    fdLeaseMs: 3_599_000,
    fdGraceMs: 3_600_000,
    duplication: {
      clusterName,
      remoteClusters: { dc1: ["127.0.0.1:34601"], dc2: ["127.0.0.1:35601"] },
      clusterIds: { dc1: 1, dc2: 2 },
      metaServers: [address],
    },
  };
}
