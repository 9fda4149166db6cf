import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { partitionIndex } from "../../src/codec/key-schema.ts";
import { TalariaError } from "../../src/common/errors.ts";
import {
  type Gpid,
  MetaMethod,
  type QueryConfigurationResponse,
} from "../../src/protocol/index.ts";
import { Replica } from "../../src/replica/index.ts";
import {
  registerClientHandlers,
  type ServedPartition,
} from "../../src/replica-server/client-handlers.ts";
import { RpcServer } from "../../src/rpc/index.ts";

/**
 * One RPC server playing the meta server (a fixed configuration) and the primary of every
 * partition (real Replicas): enough to test the client's routing, retries and scanners.
 */
export interface FakeCluster {
  readonly address: string;
  readonly replicas: readonly Replica[];
  /** Partitions that refuse the next N requests as "not primary". */
  readonly refuseNext: Map<number, number>;
  queryCount: number;
  partitionOf(hashKey: string, sortKey?: string): number;
  close(): Promise<void>;
}

export async function startFakeCluster(
  appName: string,
  partitionCount: number,
): Promise<FakeCluster> {
  const root = mkdtempSync(join(tmpdir(), "talaria-client-"));
  const replicas = await Promise.all(
    Array.from({ length: partitionCount }, (_, i) =>
      Replica.open({
        dir: join(root, `${i}`),
        clusterId: 1,
        plogFsync: false,
        sweepIntervalMs: 0,
      }),
    ),
  );
  const server = new RpcServer({ name: "fake-cluster" });
  const bound = await server.listen({ host: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${bound.port}`;
  const cluster: FakeCluster = {
    address,
    replicas,
    refuseNext: new Map(),
    queryCount: 0,
    partitionOf: (hashKey, sortKey = "") =>
      partitionIndex(Buffer.from(hashKey), Buffer.from(sortKey), partitionCount),
    close: async () => {
      await server.close();
      await Promise.all(replicas.map((r) => r.close()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  server.handle(MetaMethod.QUERY_CONFIGURATION, async (payload) => {
    cluster.queryCount++;
    if ((payload as { appName?: unknown }).appName !== appName)
      throw new TalariaError("ERR_APP_NOT_EXIST", "no such table");
    const response: QueryConfigurationResponse = {
      app: {
        appId: 1,
        appName,
        partitionCount,
        replicaCount: 1,
        status: "AVAILABLE",
        envs: {},
        createdAtMs: 0,
      },
      partitions: replicas.map((_, i) => ({
        gpid: { appId: 1, partitionIndex: i },
        ballot: 1,
        primary: address,
        secondaries: [],
        maxReplicaCount: 1,
        lastCommittedDecree: 0,
      })),
    };
    return response;
  });
  registerClientHandlers(server, (gpid: Gpid): ServedPartition | undefined => {
    const replica = replicas[gpid.partitionIndex];
    if (gpid.appId !== 1 || replica === undefined) return undefined;
    return {
      partitionCount,
      refusal: () => {
        const left = cluster.refuseNext.get(gpid.partitionIndex) ?? 0;
        if (left === 0) return undefined;
        cluster.refuseNext.set(gpid.partitionIndex, left - 1);
        return "not primary";
      },
      write: (request) => replica.write(request),
      reads: replica.reads,
    };
  });
  return cluster;
}
