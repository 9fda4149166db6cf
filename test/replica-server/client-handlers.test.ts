import assert from "node:assert/strict";
import { it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { ReplicaClientMethod } from "../../src/protocol/client-messages.ts";
import type { Gpid } from "../../src/protocol/index.ts";
import type { PartitionReplica } from "../../src/replica/index.ts";
import {
  asServedPartition,
  registerClientHandlers,
} from "../../src/replica-server/client-handlers.ts";
import { RpcClient, RpcServer } from "../../src/rpc/index.ts";
import { A, B, C, config, GPID, PartitionCluster } from "./partition-cluster.ts";

const b = (s: string): Buffer => Buffer.from(s);

it("client RPCs reach the primary's PartitionReplica; others refuse before executing", async (t) => {
  const cluster = await PartitionCluster.create();
  for (const node of [A, B, C]) await cluster.open(node);
  cluster.feedConfig(config(1, A, [B, C]));
  const primary = cluster.get(A);
  primary.step({ type: "LEASE", expiresAtMs: primary.nowMs() + 10_000 });
  await cluster.eventually(() => primary.refusal("read") === undefined, "A serves", {
    freezeTime: true,
  });

  // One RPC server standing in for every node: `serving` says whose replica answers.
  let serving: PartitionReplica = primary;
  const server = new RpcServer({ name: "replica-server" });
  registerClientHandlers(server, (gpid: Gpid) =>
    gpid.appId === GPID.appId && gpid.partitionIndex === GPID.partitionIndex
      ? asServedPartition(serving, 1)
      : undefined,
  );
  const bound = await server.listen({ host: "127.0.0.1", port: 0 });
  const client = new RpcClient({ name: "client" });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const address = `127.0.0.1:${bound.port}`;
  const write = (value: string) =>
    client.call(address, ReplicaClientMethod.WRITE, {
      gpid: GPID,
      partitionCount: 1,
      request: { op: "set", hashKey: b("k"), sortKey: b(""), value: b(value), expireTs: 0 },
    });
  const read = () =>
    client.call(address, ReplicaClientMethod.READ, {
      gpid: GPID,
      partitionCount: 1,
      read: { op: "get", hashKey: b("k"), sortKey: b("") },
    }) as Promise<{ value?: Buffer }>;
  const refused = (error: unknown) =>
    isTalariaError(error, "ERR_INVALID_STATE") && error.details.beforeExecution === true;

  await write("v1");
  assert.equal((await read()).value?.toString(), "v1");

  serving = cluster.get(B);
  await assert.rejects(write("v2"), refused);
  await assert.rejects(read(), refused);

  serving = primary;
  cluster.advance(10_000);
  await assert.rejects(read(), refused);
  await assert.rejects(write("v3"), refused);
  assert.equal(primary.localReads.get(b("k"), b(""))?.value.toString(), "v1");
});
