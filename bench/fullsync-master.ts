/**
 * bench:fullsync, the master side (a child process of bench/fullsync.ts): a real replica (a lone
 * PartitionReplica: plog + lmdb) filled with ~N MiB through multiSet, a real dup checkpoint of it
 * (DupCheckpointStore: flush, then StorageEngine.checkpoint), served over loopback RPC by the
 * real master-side handlers (DupCheckpointServer: OPEN / CHUNK), plus the one meta call the
 * follower makes (query_configuration by app name), answered from this process. The checkpoint
 * files are also served over the real HTTP bulk path (HttpServer + dupCheckpointRoute), named in
 * OPEN replies like a replica server with an HTTP port does.
 *
 * Protocol with the parent: one JSON line per event on stdout ({"event":"filled"|"ready", …});
 * exits when stdin closes.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLogger } from "../src/common/logger.ts";
import { HttpServer, Router } from "../src/http/index.ts";
import { DupCheckpointMethod, MetaMethod, ReplicaStatus } from "../src/protocol/index.ts";
import { Replica } from "../src/replica/index.ts";
import {
  DupCheckpointServer,
  dupCheckpointRoute,
} from "../src/replica-server/dup-checkpoint-server.ts";
import { DupCheckpointStore } from "../src/replica-server/dup-checkpoint-store.ts";
import { RpcServer } from "../src/rpc/index.ts";

const MiB = 1024 * 1024;
/** Values of 60 KiB, 16 per multiSet: just under the default 1 MiB write limit. */
const VALUE_BYTES = 60 * 1024;
const VALUES_PER_WRITE = 16;
const WRITES_IN_FLIGHT = 8;
export const MASTER_APP = { appId: 1, appName: "fullsync_source" } as const;

const { values: args } = parseArgs({
  options: { dir: { type: "string" }, mb: { type: "string", default: "1024" } },
});
if (args.dir === undefined) throw new Error("--dir is required");
const dir = args.dir;
const targetBytes = Number(args.mb) * MiB;
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const logger = createLogger({ name: "fullsync-master", level: "warn" });

const replicaDir = join(dir, "replica");
const filledMarker = join(dir, "filled.json");
const replica = await Replica.open({ dir: replicaDir, clusterId: 1, sweepIntervalMs: 0, logger });

// The fill is kept between runs of the same size (--keep in the parent): it takes longer than
// the copy it feeds.
const previous = existsSync(filledMarker)
  ? (JSON.parse(readFileSync(filledMarker, "utf8")) as { bytes: number })
  : undefined;
if (previous === undefined || previous.bytes < targetBytes) {
  const startMs = performance.now();
  const base = Buffer.alloc(VALUE_BYTES);
  for (let i = 0; i < base.length; i++) base[i] = (i * 2_654_435_761) >>> 24;
  let written = previous?.bytes ?? 0;
  let next = Math.floor(written / (VALUE_BYTES * VALUES_PER_WRITE));
  const writer = async () => {
    while (written < targetBytes) {
      const n = next++;
      written += VALUE_BYTES * VALUES_PER_WRITE;
      const kvs = Array.from({ length: VALUES_PER_WRITE }, (_, i) => {
        const value = Buffer.from(base);
        value.writeUInt32BE(n, 0);
        value.writeUInt32BE(i, 4);
        return { sortKey: Buffer.from(`s${i}`), value };
      });
      await replica.write({
        op: "multiSet",
        hashKey: Buffer.from(`h${n.toString().padStart(8, "0")}`),
        kvs,
        expireTs: 0,
      });
    }
  };
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT }, writer));
  await replica.flushStorage();
  await replica.gcLog();
  writeFileSync(filledMarker, JSON.stringify({ bytes: written }));
  emit({
    event: "filled",
    bytes: written,
    seconds: (performance.now() - startMs) / 1000,
  });
} else {
  emit({ event: "filled", bytes: previous.bytes, seconds: 0, reused: true });
}

const store = await DupCheckpointStore.open(replicaDir, logger);
// A reused fill keeps its checkpoint: reopening the replica only added an empty activation
// mutation, which would otherwise make a new 1 GiB checkpoint on every run.
const reused = previous !== undefined && previous.bytes >= targetBytes;
const floor = reused
  ? (store.newest()?.decree ?? replica.lastAppliedDecree)
  : replica.lastAppliedDecree;
const checkpointStartMs = performance.now();
const checkpoint = await store.ensure(
  {
    lastAppliedDecree: replica.lastAppliedDecree,
    whenApplied: async () => {},
    flushStorage: () => replica.flushStorage(),
    checkpoint: (path) => replica.checkpoint(path),
  },
  floor,
);
const checkpointSeconds = (performance.now() - checkpointStartMs) / 1000;

const server = new RpcServer({ name: "fullsync master" });
const dupServer = new DupCheckpointServer(
  {
    status: () => ReplicaStatus.PRIMARY,
    openFloor: () => ({ kind: "floor", decree: checkpoint.decree }),
    store: async () => store,
    prepare: () => {},
  },
  logger,
);
server.handle(DupCheckpointMethod.OPEN, (payload) => dupServer.open(payload));
server.handle(DupCheckpointMethod.CHUNK, (payload) => dupServer.chunk(payload));
server.handle(MetaMethod.QUERY_CONFIGURATION, async () => ({
  app: {
    ...MASTER_APP,
    partitionCount: 1,
    replicaCount: 1,
    status: "AVAILABLE",
    envs: {},
    createdAtMs: 0,
  },
  partitions: [
    {
      gpid: { appId: MASTER_APP.appId, partitionIndex: 0 },
      ballot: 3,
      primary: server.address,
      secondaries: [],
      maxReplicaCount: 1,
      lastCommittedDecree: checkpoint.decree,
    },
  ],
}));
await server.listen({ host: "127.0.0.1", port: 0 });
const http = new HttpServer(new Router([dupCheckpointRoute(() => dupServer)]), logger);
dupServer.advertiseHttp(`127.0.0.1:${await http.listen("127.0.0.1", 0)}`);
emit({
  event: "ready",
  address: server.address,
  checkpointDir: checkpoint.path,
  decree: checkpoint.decree,
  checkpointSeconds,
});

process.stdin.resume();
process.stdin.on("end", () => {
  void (async () => {
    await server.close();
    await http.close();
    await replica.close();
    process.exit(0);
  })();
});
