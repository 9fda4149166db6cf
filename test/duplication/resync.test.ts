/**
 * Full re-sync, source side: a checkpoint's records as DUPLICATE entries with their own timetags
 * (resync-reader.ts), shipped by the shipper's machinery (batch-plan.ts with
 * shipDuplicateEntries) and, end to end on real storage, by a ResyncSender into target replicas
 * holding newer data for some keys: last-write-wins decides, tombstones and expired records
 * included.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type DuplicateEntry, type Mutation, UpdateKind } from "../../src/codec/mutation.ts";
import { makeTimetag, timetagClusterId, timetagIsDelete } from "../../src/codec/timetag.ts";
import { epochNowSeconds } from "../../src/codec/value-schema.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { TalariaError } from "../../src/common/errors.ts";
import { silentLogger } from "../../src/common/logger.ts";
import {
  checkDuplicateRequest,
  type DuplicateReceiverPolicy,
  entryPartitionIndex,
  planBatch,
  type RecordSource,
  type RemoteTableWithCount,
  ResyncLogReader,
  recordEntry,
} from "../../src/duplication/index.ts";
import type { TickTimer } from "../../src/replica/index.ts";
import { Replica } from "../../src/replica/index.ts";
import { ResyncSender, resyncFailMode } from "../../src/replica-server/resync-sender.ts";
import { CheckpointReader, type StoredRecord } from "../../src/storage/index.ts";
import { b, T0_US, tempDir } from "../replica/replica-fixture.ts";

const SOURCE = 1;
const REMOTE = 2;
const THIRD = 3;
const ids = { sourceClusterId: SOURCE, remoteClusterId: REMOTE };

function record(
  hashKey: string,
  sortKey: string,
  timestampUs: number,
  clusterId: number,
  options: { delete?: boolean; value?: string; expireTs?: number } = {},
): StoredRecord {
  const hk = b(hashKey);
  const sk = b(sortKey);
  const key = Buffer.concat([Buffer.from([0, hk.length]), hk, sk]);
  return {
    key,
    hashKey: hk,
    sortKey: sk,
    expireTs: options.expireTs ?? 0,
    timetag: makeTimetag(timestampUs, clusterId, options.delete === true),
    value: options.delete === true ? b("") : b(options.value ?? `v-${hashKey}`),
  };
}

function memorySource(records: StoredRecord[]): RecordSource & { reads: number } {
  const sorted = [...records].sort((x, y) => Buffer.compare(x.key, y.key));
  const source = {
    reads: 0,
    read(afterKey: Buffer | undefined, limit: number) {
      source.reads++;
      const from =
        afterKey === undefined ? 0 : sorted.findIndex((r) => Buffer.compare(r.key, afterKey) > 0);
      return from < 0 ? [] : sorted.slice(from, from + limit);
    },
  };
  return source;
}

describe("a checkpoint record as a duplicated entry", () => {
  it("keeps the record's own timetag: timestamp, cluster id, delete bit", () => {
    const put = recordEntry(record("h", "s", 1000, SOURCE, { expireTs: 77 }), ids);
    assert.deepEqual(put, {
      timestampUs: 1000,
      clusterId: SOURCE,
      update: {
        kind: UpdateKind.PUT,
        hashKey: b("h"),
        sortKey: b("s"),
        value: b("v-h"),
        expireTs: 77,
      },
    });
    const tombstone = recordEntry(record("h", "s", 2000, THIRD, { delete: true }), ids);
    assert.deepEqual(tombstone, {
      timestampUs: 2000,
      clusterId: THIRD,
      update: { kind: UpdateKind.REMOVE, hashKey: b("h"), sortKey: b("s") },
    });
  });

  it("stamps this cluster's id on records written before it had one", () => {
    assert.equal(recordEntry(record("h", "s", 5, 0), ids)?.clusterId, SOURCE);
  });

  it("never sends the remote a record it wrote itself", () => {
    assert.equal(recordEntry(record("h", "s", 5, REMOTE), ids), undefined);
    assert.equal(
      recordEntry(record("h", "s", 5, REMOTE), { sourceClusterId: SOURCE })?.clusterId,
      REMOTE,
    );
  });
});

describe("routing a re-sync batch (batch-plan.ts)", () => {
  const entries: DuplicateEntry[] = Array.from({ length: 40 }, (_, i) => ({
    timestampUs: 100 + i,
    clusterId: i % 2 === 0 ? SOURCE : THIRD,
    update: {
      kind: UpdateKind.PUT,
      hashKey: b(`k${i}`),
      sortKey: b("s"),
      value: b("v"),
      expireTs: 0,
    },
  }));
  const mutations: Mutation[] = entries.map((entry, i) => ({
    ballot: 0,
    decree: i + 1,
    timestampUs: entry.timestampUs,
    updates: [{ kind: UpdateKind.DUPLICATE, entries: [entry] }],
  }));
  const plan = {
    targetPartitionCount: 3,
    sourceClusterId: SOURCE,
    requestBytesMax: 200,
    requestEntriesMax: 4,
  };

  it("ships DUPLICATE entries unchanged, each to its key's partition, with shipDuplicateEntries", () => {
    const planned = planBatch(mutations, { ...plan, shipDuplicateEntries: true });
    assert.equal(planned.entryCount, 40);
    const shipped: DuplicateEntry[] = [];
    for (const [partition, requests] of planned.streams) {
      for (const request of requests) {
        assert.ok(request.entries.length <= 4 && request.bytes <= 200);
        for (const entry of request.entries) {
          assert.equal(entryPartitionIndex(entry.update, 3), partition);
          shipped.push(entry);
        }
      }
    }
    shipped.sort((x, y) => x.timestampUs - y.timestampUs);
    assert.deepEqual(shipped, entries, "every entry once, timetags untouched");
  });

  it("never forwards them from the log (no cycles) without it", () => {
    const planned = planBatch(mutations, plan);
    assert.equal(planned.entryCount, 0);
    assert.equal(planned.skippedDuplicateUpdates, 40);
  });
});

describe("ResyncLogReader", () => {
  const records = Array.from({ length: 25 }, (_, i) =>
    record(`k${String(i).padStart(2, "0")}`, "s", 1000 + i, i === 3 ? REMOTE : SOURCE),
  );
  const totals = { records: 25, bytes: 0 };

  it("numbers records 1..n in key order, bounded by bytes, and re-reads any decree", async () => {
    const source = memorySource(records);
    const reader = new ResyncLogReader(source, ids, { ...totals });
    assert.equal(reader.committedDecree(), 25);
    const first = await reader.readMutations(1, { bytesMax: 100 });
    assert.ok(first.mutations.length >= 1 && first.mutations.length < 25);
    assert.deepEqual(
      first.mutations.map((m) => m.decree),
      first.mutations.map((_, i) => i + 1),
    );
    assert.ok(first.bytes >= 100 || first.mutations.length === 25);
    const last = first.mutations.length;
    assert.equal(reader.bytesThrough(last), first.bytes, "progress bytes at a read's end");
    // The record the remote wrote itself becomes an EMPTY mutation, keeping the numbering.
    const all = await reader.readMutations(1, { bytesMax: 1_000_000, toDecree: 25 });
    assert.equal(all.mutations.length, 25);
    assert.deepEqual(all.mutations[3]?.updates, [{ kind: UpdateKind.EMPTY }]);
    const again = await reader.readMutations(1, { bytesMax: 100 });
    assert.deepEqual(again.mutations, first.mutations, "a retried load reads the same records");
    const middle = await reader.readMutations(11, { bytesMax: 1, toDecree: 11 });
    assert.equal(middle.mutations.length, 1);
    const entry = middle.mutations[0]?.updates[0];
    assert.ok(entry?.kind === UpdateKind.DUPLICATE);
    assert.equal(entry.entries[0]?.timestampUs, 1010);
    assert.deepEqual(await reader.readMutations(26, { bytesMax: 100 }), {
      mutations: [],
      bytes: 0,
    });
    await assert.rejects(reader.read(), /re-sync reader/);
  });
});

class ManualTimer implements TickTimer {
  private readonly runs = new Set<() => void>();
  every(_intervalMs: number, run: () => void): () => void {
    this.runs.add(run);
    return () => this.runs.delete(run);
  }
  fire(): void {
    for (const run of [...this.runs]) run();
  }
}

const TARGETS = 3;
const targetPolicy: DuplicateReceiverPolicy = {
  selfClusterId: REMOTE,
  groupClusterIds: new Set([SOURCE, REMOTE, THIRD]),
  ignoreOtherClusterIds: false,
};

function targetRemote(
  targets: readonly Replica[],
  failFirst = 0,
): RemoteTableWithCount & { entries: DuplicateEntry[] } {
  let failures = failFirst;
  const remote = {
    entries: [] as DuplicateEntry[],
    partitionCount: async () => TARGETS,
    duplicate: async (
      index: number,
      entries: readonly DuplicateEntry[],
      options: { partitionCount: number; resync?: boolean },
    ) => {
      if (failures > 0) {
        failures--;
        throw new TalariaError("ERR_TIMEOUT", "the remote is slow");
      }
      assert.equal(options.partitionCount, TARGETS);
      assert.equal(options.resync, true, "a re-sync's requests say so (tombstone holds)");
      checkDuplicateRequest({ entries }, targetPolicy, `2.${index}`);
      for (const entry of entries) assert.equal(entryPartitionIndex(entry.update, TARGETS), index);
      remote.entries.push(...entries);
      return (targets[index] as Replica).write({ op: "duplicate", entries });
    },
  };
  return remote;
}

async function rawRecords(replica: Replica, dir: string): Promise<Map<string, StoredRecord>> {
  await replica.checkpoint(dir);
  const reader = await CheckpointReader.open(dir);
  const out = new Map<string, StoredRecord>();
  for (const r of reader.read(undefined, 10_000)) out.set(`${r.hashKey}/${r.sortKey}`, r);
  await reader.close();
  return out;
}

describe("ResyncSender on real storage", () => {
  it("sends a checkpoint into a table with newer data: last write wins, tombstones and TTL kept", async () => {
    const root = tempDir("talaria-resync-");
    // Ahead of the wall clock: replicas stamp their activation mutations with real time.
    const clock = new ManualClock(Math.max(T0_US, Date.now() * 1000) + 60_000_000);
    const open = (name: string, clusterId: number) =>
      Replica.open({
        dir: join(root, name),
        clusterId,
        keepTombstones: true,
        clock,
        plogFsync: false,
        sweepIntervalMs: 0,
      });
    const source = await open("source", SOURCE);
    const targets: Replica[] = [];
    for (let i = 0; i < TARGETS; i++) targets.push(await open(`target-${i}`, REMOTE));
    const target = (key: string) =>
      targets[
        entryPartitionIndex(
          { kind: UpdateKind.PUT, hashKey: b(key), sortKey: b("s"), value: b(""), expireTs: 0 },
          TARGETS,
        )
      ] as Replica;
    const set = (replica: Replica, key: string, value: string, expireTs = 0) =>
      replica.write({ op: "set", hashKey: b(key), sortKey: b("s"), value: b(value), expireTs });
    const del = (replica: Replica, key: string) =>
      replica.write({ op: "del", hashKey: b(key), sortKey: b("s") });

    // Older on the target, then newer on the source: the source wins.
    for (let i = 0; i < 20; i++) await set(target(`a${i}`), `a${i}`, "target-old");
    await set(target("c"), "c", "target-old");
    clock.advanceMs(10);
    for (let i = 0; i < 20; i++) await set(source, `a${i}`, "source");
    for (let i = 0; i < 20; i++) await set(source, `b${i}`, "source-old");
    await set(source, "c", "doomed");
    await del(source, "c"); // a tombstone newer than the target's record
    await del(source, "d"); // a tombstone older than what the target writes later
    await set(source, "ttl", "expires", epochNowSeconds(clock.nowMs()) + 5);
    await source.write({
      op: "duplicate",
      entries: [
        {
          timestampUs: T0_US + 5,
          clusterId: REMOTE,
          update: {
            kind: UpdateKind.PUT,
            hashKey: b("from-remote"),
            sortKey: b("s"),
            value: b("r"),
            expireTs: 0,
          },
        },
        {
          timestampUs: T0_US + 6,
          clusterId: THIRD,
          update: {
            kind: UpdateKind.PUT,
            hashKey: b("from-third"),
            sortKey: b("s"),
            value: b("3"),
            expireTs: 0,
          },
        },
      ],
    });
    clock.advanceMs(10_000); // "ttl" has expired on the source (no sweeper: still stored)
    for (let i = 0; i < 20; i++) await set(target(`b${i}`), `b${i}`, "target-new");
    await set(target("d"), "d", "target-new");

    const checkpointDir = join(root, "dup-checkpoint");
    const info = await source.checkpoint(checkpointDir);
    const sourceRecords = await rawRecords(source, join(root, "source-raw"));
    assert.ok(
      timetagIsDelete(sourceRecords.get("c/s")?.timetag ?? 0n),
      "the source keeps a tombstone",
    );

    const timer = new ManualTimer();
    const remote = targetRemote(targets, 3);
    const sender = await ResyncSender.start(
      {
        dupid: 9,
        gpid: "1.0",
        checkpoint: { id: `dup-${info.decree}`, decree: info.decree, path: checkpointDir },
        source: {
          sourceClusterId: SOURCE,
          retryDelayMsMin: 1,
          retryDelayMsMax: 2,
          requestEntriesMax: 7,
        },
        failMode: "FAIL_SKIP", // a re-sync never skips: the 3 failures are retried
        ids,
        batchBytes: 300,
        logger: silentLogger,
      },
      { remote, timer },
    );
    const before = sender.report().progress;
    assert.equal(before.done, false);
    assert.ok(before.totalBytes > 0);
    for (let i = 0; i < 5000 && !sender.report().progress.done; i++) {
      timer.fire();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const after = sender.report();
    assert.deepEqual(after.progress, {
      sentBytes: before.totalBytes,
      totalBytes: before.totalBytes,
      done: true,
    });
    assert.equal(after.failure, undefined);
    await sender.close();

    assert.ok(
      !remote.entries.some((e) => e.update.hashKey.toString() === "from-remote"),
      "nothing the remote wrote goes back",
    );
    const got = new Map<string, StoredRecord>();
    for (const [i, replica] of targets.entries()) {
      for (const [key, r] of await rawRecords(replica, join(root, `target-raw-${i}`)))
        got.set(key, r);
    }
    for (let i = 0; i < 20; i++) {
      const a = got.get(`a${i}/s`);
      assert.equal(a?.value.toString(), "source", `a${i}: the newer source value wins`);
      assert.equal(a?.timetag, sourceRecords.get(`a${i}/s`)?.timetag, "with the source's timetag");
      assert.equal(
        got.get(`b${i}/s`)?.value.toString(),
        "target-new",
        `b${i}: newer target data stays`,
      );
    }
    const c = got.get("c/s");
    assert.ok(
      c !== undefined && timetagIsDelete(c.timetag),
      "a newer tombstone deletes the target's record",
    );
    assert.equal(got.get("d/s")?.value.toString(), "target-new", "an older tombstone loses");
    const ttl = got.get("ttl/s");
    assert.equal(
      ttl?.expireTs,
      sourceRecords.get("ttl/s")?.expireTs,
      "the expiry travels as it is",
    );
    assert.ok((ttl?.expireTs ?? 0) > 0 && (ttl?.expireTs ?? 0) <= epochNowSeconds(clock.nowMs()));
    assert.equal(
      timetagClusterId(got.get("from-third/s")?.timetag ?? 0n),
      THIRD,
      "a third cluster's write keeps its id",
    );
    assert.equal(got.has("from-remote/s"), false);

    for (const replica of [source, ...targets]) await replica.close();
  });
});

describe("ResyncSender fail modes", () => {
  it("never skips (FAIL_SKIP retries like FAIL_SLOW); FAIL_FAST stops and says why", async () => {
    assert.deepEqual((["FAIL_SLOW", "FAIL_SKIP", "FAIL_FAST"] as const).map(resyncFailMode), [
      "FAIL_SLOW",
      "FAIL_SLOW",
      "FAIL_FAST",
    ]);
    const root = tempDir("talaria-resync-");
    const source = await Replica.open({
      dir: join(root, "s"),
      clusterId: SOURCE,
      plogFsync: false,
      sweepIntervalMs: 0,
    });
    for (let i = 0; i < 5; i++) {
      await source.write({
        op: "set",
        hashKey: b(`k${i}`),
        sortKey: b("s"),
        value: b("v"),
        expireTs: 0,
      });
    }
    const info = await source.checkpoint(join(root, "c"));
    const timer = new ManualTimer();
    const sender = await ResyncSender.start(
      {
        dupid: 1,
        gpid: "1.0",
        checkpoint: { id: `dup-${info.decree}`, decree: info.decree, path: join(root, "c") },
        source: { sourceClusterId: SOURCE },
        failMode: "FAIL_FAST",
        ids,
        logger: silentLogger,
      },
      {
        remote: {
          partitionCount: async () => 2,
          duplicate: async () => {
            throw new TalariaError("ERR_DUP_CLUSTER_ID_REFUSED", "no");
          },
        },
        timer,
      },
    );
    for (let i = 0; i < 200 && !sender.failed; i++) {
      timer.fire();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const report = sender.report();
    assert.equal(report.progress.done, false);
    assert.equal(report.progress.sentBytes, 0);
    assert.equal(report.failure?.kind, "paused_with_error");
    assert.equal(report.failure?.code, "ERR_DUP_CLUSTER_ID_REFUSED");
    await sender.close();
    await source.close();
  });
});
