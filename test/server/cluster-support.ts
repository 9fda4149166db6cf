import type { TalariaClient } from "../../src/client/index.ts";
import { type ClusterInfoResponse, MetaMethod } from "../../src/protocol/index.ts";

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function eventually(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function clusterInfo(client: TalariaClient): Promise<ClusterInfoResponse> {
  return (await client.metaSession.call(MetaMethod.CLUSTER_INFO, {}, 5000)) as ClusterInfoResponse;
}

export function allHealthy(client: TalariaClient): () => Promise<boolean> {
  return async () => {
    const info = await clusterInfo(client);
    return info.partitions.total > 0 && info.partitions.healthy === info.partitions.total;
  };
}

/**
 * Writes `key-<n>` → `v<n>` with `concurrency` writers until `stop()` is called; returns the
 * numbers whose writes were acknowledged.
 */
export function writeLoad(
  client: TalariaClient,
  table: string,
  concurrency: number,
  prefix = "key",
): { stop(): Promise<number[]> } {
  const acked: number[] = [];
  let next = 0;
  let running = true;
  const writers = Array.from({ length: concurrency }, async () => {
    while (running) {
      const n = next++;
      try {
        await client.table(table).set(`${prefix}-${n}`, "s", `v${n}`, { timeoutMs: 15_000 });
        acked.push(n);
      } catch {
        // not acknowledged: may or may not be there
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(writers);
      return acked;
    },
  };
}
