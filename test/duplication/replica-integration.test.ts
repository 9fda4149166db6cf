/**
 * Duplication end to end on real replicas, in process: a source table of 4 partitions (lone
 * PartitionReplicas with their real plog and lmdb storage) ships through DuplicationShippers to a
 * target table of 3 partitions (lone Replicas) via a remote port that does what the target replica
 * server does (cluster-id check, key check, Replica.write({op: "duplicate"})). Writes go on while
 * shipping, a shipper crashes and resumes from an older confirmed decree, and in the end the two
 * tables' full dumps — raw stored values with timetags and tombstones — are identical.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { partitionIndex } from "../../src/codec/key-schema.ts";
import type { DuplicableUpdate, DuplicateEntry } from "../../src/codec/mutation.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { TalariaError } from "../../src/common/errors.ts";
import {
  checkDuplicateRequest,
  DEAD_LETTERS_DIR,
  type DuplicateReceiverPolicy,
  DuplicationShipper,
  entryPartitionIndex,
  FileDeadLetterStore,
  plogDuplicationReader,
  type RemoteTableWithCount,
} from "../../src/duplication/index.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import {
  CheckType,
  PartitionReplica,
  Replica,
  type WriteRequest,
} from "../../src/replica/index.ts";
import { StorageEngine } from "../../src/storage/index.ts";
import { b, T0_US, tempDir } from "../replica/replica-fixture.ts";

const SOURCE_PARTITIONS = 4;
const TARGET_PARTITIONS = 3;
const SOURCE_CLUSTER = 1;
const TARGET_CLUSTER = 2;
const NODE = "source:1";

interface SourcePartition {
  readonly replica: PartitionReplica;
  readonly log: PrivateLog;
  readonly dir: string;
}

/** A lone primary PartitionReplica whose live plog the test can read (as the replica server will). */
async function openSource(
  root: string,
  index: number,
  clock: ManualClock,
): Promise<SourcePartition> {
  const dir = join(root, `src-${index}`);
  const gpid = { appId: 1, partitionIndex: index };
  let log: PrivateLog | undefined;
  const replica = await PartitionReplica.open(
    {
      dir,
      self: NODE,
      gpid,
      clusterId: SOURCE_CLUSTER,
      keepTombstones: true,
      plogFsync: false,
      sweepIntervalMs: 0,
      tickIntervalMs: 0,
    },
    {
      send: () => assert.fail("a lone replica sends nothing"),
      requestConfigChange: () => assert.fail("a lone replica asks for nothing"),
      fetchCheckpoint: () => Promise.reject(new Error("no primary")),
      clock,
      openLog: async (options) => {
        log = await PrivateLog.open(options);
        return log;
      },
    },
  );
  replica.step({ type: "LEASE", expiresAtMs: Number.MAX_SAFE_INTEGER });
  replica.step({
    type: "CONFIG",
    config: {
      gpid,
      ballot: 1,
      primary: NODE,
      secondaries: [],
      maxReplicaCount: 1,
      lastCommittedDecree: 0,
    },
  });
  await replica.whenApplied(replica.lastPreparedDecree);
  assert.ok(log !== undefined);
  return { replica, log, dir };
}

const targetPolicy: DuplicateReceiverPolicy = {
  selfClusterId: TARGET_CLUSTER,
  groupClusterIds: new Set([SOURCE_CLUSTER, TARGET_CLUSTER]),
  ignoreOtherClusterIds: false,
};

/** What the target replica server does with a DUPLICATE request, as a RemoteTable. */
function targetRemote(targets: readonly Replica[]): RemoteTableWithCount & { requests: number } {
  const remote = {
    requests: 0,
    partitionCount: async () => TARGET_PARTITIONS,
    duplicate: async (
      index: number,
      entries: readonly DuplicateEntry[],
      options: { partitionCount: number; resync?: boolean },
    ) => {
      remote.requests++;
      assert.equal(options.resync, undefined, "log shipping is not a re-sync");
      if (options.partitionCount !== TARGET_PARTITIONS) {
        throw new TalariaError("ERR_INCONSISTENT_STATE", "count", {
          details: { partitionCount: TARGET_PARTITIONS },
        });
      }
      checkDuplicateRequest({ entries }, targetPolicy, `2.${index}`);
      for (const entry of entries) {
        if (entryPartitionIndex(entry.update, TARGET_PARTITIONS) !== index) {
          throw new TalariaError("ERR_INVALID_PARAMETERS", "key not in partition");
        }
      }
      const target = targets[index];
      assert.ok(target !== undefined);
      return target.write({ op: "duplicate", entries });
    },
  };
  return remote;
}

/** Raw stored records (key hex → value hex, timetags and tombstones included) of storage dirs. */
async function rawDump(dataDirs: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of dataDirs) {
    const engine = await StorageEngine.open({ path, clock: new ManualClock(T0_US) });
    for (const { key, value } of engine.data.getRange()) {
      const k = Buffer.from(key).toString("hex");
      assert.ok(!out.has(k), "a key lives in one partition");
      out.set(k, Buffer.from(value).toString("hex"));
    }
    await engine.close();
  }
  return out;
}

function sourceIndexOf(hashKey: string): number {
  return partitionIndex(b(hashKey), b(""), SOURCE_PARTITIONS);
}

describe("duplication on real replicas: 4 source partitions → 3 target partitions", () => {
  it("ships every write, resumes after a shipper crash, and leaves identical tables", async () => {
    const root = tempDir("talaria-dup-");
    const clock = new ManualClock(T0_US);
    const sources: SourcePartition[] = [];
    for (let i = 0; i < SOURCE_PARTITIONS; i++) sources.push(await openSource(root, i, clock));
    const targets: Replica[] = [];
    for (let i = 0; i < TARGET_PARTITIONS; i++) {
      targets.push(
        await Replica.open({
          dir: join(root, `dst-${i}`),
          clusterId: TARGET_CLUSTER,
          keepTombstones: true,
          clock,
          plogFsync: false,
          sweepIntervalMs: 0,
        }),
      );
    }
    const remote = targetRemote(targets);
    const confirmed = sources.map(() => 0);
    const shipperClock = new ManualClock(0);
    const stores = await Promise.all(
      sources.map((s) => FileDeadLetterStore.open(join(s.dir, DEAD_LETTERS_DIR))),
    );
    const makeShipper = (i: number, confirmedDecree: number) => {
      const source = sources[i] as SourcePartition;
      return new DuplicationShipper(
        {
          dupid: 1,
          gpid: `1.${i}`,
          sourceClusterId: SOURCE_CLUSTER,
          batchBytes: 512,
          requestBytesMax: 2048,
          retryDelayMsMin: 1,
          retryDelayMsMax: 4,
        },
        {
          log: plogDuplicationReader(source.log, () => source.replica.lastAppliedDecree),
          remote,
          deadLetters: stores[i] as FileDeadLetterStore,
          init: {
            confirmedDecree,
            targetPartitionCount: 0,
            failMode: "FAIL_SLOW",
            status: "start",
          },
          timeClock: shipperClock,
          clock,
          reports: { onProgress: () => {} },
        },
      );
    };
    let shippers = sources.map((_, i) => makeShipper(i, 0));
    const pump = async (rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        shipperClock.advanceMs(5);
        for (const shipper of shippers) shipper.tick();
        await Promise.all(shippers.map((s) => s.settled()));
      }
    };
    const write = (hashKey: string, request: WriteRequest) =>
      (sources[sourceIndexOf(hashKey)] as SourcePartition).replica.write(request);

    // Writes of every kind, interleaved with shipping.
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 25; i++) {
        const hk = `user${(round * 7 + i) % 40}`;
        clock.advanceMs(1);
        await write(hk, {
          op: "set",
          hashKey: b(hk),
          sortKey: b(`s${i % 3}`),
          value: b(`v${round}.${i}`),
          expireTs: 0,
        });
        if (i % 5 === 0) await write(hk, { op: "del", hashKey: b(hk), sortKey: b("s1") });
        if (i % 6 === 0) {
          await write(hk, {
            op: "multiSet",
            hashKey: b(hk),
            kvs: [
              { sortKey: b("m1"), value: b("x") },
              { sortKey: b("m2"), value: b(`y${round}`) },
            ],
            expireTs: 0,
          });
        }
        if (i % 9 === 0)
          await write(hk, { op: "multiDel", hashKey: b(hk), sortKeys: [b("m1"), b("nope")] });
        if (i % 4 === 0)
          await write(hk, {
            op: "incr",
            hashKey: b(hk),
            sortKey: b("n"),
            increment: 3n,
            expireTs: 0,
          });
        if (i % 8 === 0) {
          await write(hk, {
            op: "checkAndMutate",
            hashKey: b(hk),
            checkSortKey: b("n"),
            checkType: CheckType.VALUE_EXIST,
            checkOperand: b(""),
            mutates: [
              { operation: "put", sortKey: b("cm"), value: b(`c${round}`), expireTs: 0 },
              { operation: "delete", sortKey: b("s2"), value: b(""), expireTs: 0 },
            ],
            returnCheckValue: false,
          }).catch(() => undefined);
        }
      }
      // A write that arrived on the source by duplication from a third cluster: never forwarded.
      const foreign: DuplicateEntry = {
        timestampUs: T0_US + round,
        clusterId: 3,
        update: {
          kind: 1,
          hashKey: b("foreign"),
          sortKey: b(`r${round}`),
          value: b("f"),
          expireTs: 0,
        } as DuplicableUpdate,
      };
      await write("foreign", { op: "duplicate", entries: [foreign] });
      await pump(3);
      for (let i = 0; i < SOURCE_PARTITIONS; i++) {
        const snapshot = shippers[i]?.snapshot();
        if (snapshot !== undefined)
          confirmed[i] = Math.max(confirmed[i] ?? 0, Math.floor(snapshot.lastDecree / 2));
      }
      if (round === 3) {
        // The shippers crash; new ones resume from (older) confirmed decrees: re-shipping is harmless.
        await Promise.all(shippers.map((s) => s.close()));
        shippers = sources.map((_, i) => makeShipper(i, confirmed[i] ?? 0));
      }
    }
    const caughtUp = () =>
      shippers.every((s, i) => s.snapshot().lastDecree === sources[i]?.replica.lastAppliedDecree);
    for (let r = 0; r < 500 && !caughtUp(); r++) await pump(1);
    assert.ok(caughtUp(), "every source partition shipped its whole log");
    for (const shipper of shippers) {
      const stats = shipper.snapshot().stats;
      assert.equal(stats.failedShips, 0);
      assert.ok(stats.shippedEntries > 0);
    }
    assert.ok(shippers.some((s) => s.snapshot().stats.skippedDuplicateUpdates > 0));

    // Visible contents first (through the replicas' reads)...
    const visible = (reads: Replica["reads"][]) => {
      const rows: string[] = [];
      for (const r of reads) {
        let batch = r.scan({ batchSize: 1000 });
        for (;;) {
          for (const kv of batch.kvs)
            rows.push(`${kv.hashKey}/${kv.sortKey}=${kv.value}@${kv.expireTs}`);
          if (batch.continuationToken === undefined) break;
          batch = r.scanNext(batch.continuationToken);
        }
      }
      return rows.sort();
    };
    const sourceRows = visible(sources.map((s) => s.replica.localReads)).filter(
      (r) => !r.startsWith("foreign/"),
    );
    const targetRows = visible(targets.map((t) => t.reads));
    assert.ok(sourceRows.length > 50);
    assert.deepEqual(targetRows, sourceRows);

    // ...then the raw stores: same keys, same values, same timetags, same tombstones.
    await Promise.all(shippers.map((s) => s.close()));
    await Promise.all([...sources.map((s) => s.replica.close()), ...targets.map((t) => t.close())]);
    const sourceRaw = await rawDump(sources.map((s) => join(s.dir, "data")));
    const targetRaw = await rawDump(targets.map((_, i) => join(root, `dst-${i}`, "data")));
    const foreignPrefix = Buffer.concat([Buffer.from([0, 7]), b("foreign")]).toString("hex");
    for (const key of [...sourceRaw.keys()])
      if (key.startsWith(foreignPrefix)) sourceRaw.delete(key);
    assert.ok(
      [...sourceRaw.values()].some((v) => v.length === 24),
      "tombstones are compared too",
    );
    assert.deepEqual([...targetRaw.entries()].sort(), [...sourceRaw.entries()].sort());
  });
});
