import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type DuplicableUpdate, UpdateKind } from "../../src/codec/mutation.ts";
import { decodeMutation } from "../../src/codec/mutation-codec.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import { CheckType } from "../../src/replica/check-type.ts";
import { Replica } from "../../src/replica/replica.ts";
import {
  ACTIVATION_DECREES as A,
  b,
  openTestReplica,
  set,
  T0_US,
  tempDir,
} from "./replica-fixture.ts";

describe("Replica write path", () => {
  it("answers writes only once they are applied, in decree order", async () => {
    const { replica } = await openTestReplica();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => replica.write(set("h", `s${i}`, `v${i}`))),
    );
    const decrees = results.map((r) => r.decree);
    assert.equal(decrees[0], A + 1, "a write with nothing in flight goes alone, at once");
    for (let i = 1; i < decrees.length; i++) {
      assert.ok((decrees[i] ?? 0) >= (decrees[i - 1] ?? 0), "decrees follow arrival order");
    }
    assert.equal(replica.lastAppliedDecree, decrees.at(-1));
    assert.equal(replica.reads.get(b("h"), b("s49"))?.value.toString(), "v49");
    assert.equal(replica.reads.sortKeyCount(b("h")), 50);
    await replica.write({ op: "multiDel", hashKey: b("h"), sortKeys: [b("s0"), b("s1")] });
    await replica.write({ op: "del", hashKey: b("h"), sortKey: b("s2") });
    assert.equal(replica.reads.sortKeyCount(b("h")), 47);
    await replica.close();
  });

  it("coalesces writes that arrive while one is in flight into bounded mutations, in order", async () => {
    const { replica, options } = await openTestReplica({
      writeCoalesce: { writeCoalesceUpdatesMax: 4, writeCoalesceBytesMax: 1024 * 1024 },
    });
    // The first goes alone; the nine behind it form mutations of at most 4 writes.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => replica.write(set("h", "k", `v${i}`))),
    );
    assert.deepEqual(
      results.map((r) => r.decree),
      [A + 1, A + 2, A + 2, A + 2, A + 2, A + 3, A + 3, A + 3, A + 3, A + 4],
    );
    assert.equal(replica.reads.get(b("h"), b("k"))?.value.toString(), "v9", "the last write wins");
    // A write sent after the previous one was answered is its own mutation.
    assert.equal((await replica.write(set("h", "k", "alone"))).decree, A + 5);
    await replica.close();
    const log = await PrivateLog.open({ dir: join(options.dir, "plog"), fsync: false });
    const records = await log.read(A + 1, { bytesMax: 1 << 20, toDecree: A + 5 });
    await log.close();
    const values = records.map((r) =>
      decodeMutation(r.payload).updates.map((u) =>
        u.kind === UpdateKind.PUT ? u.value.toString() : "?",
      ),
    );
    assert.deepEqual(values, [
      ["v0"],
      ["v1", "v2", "v3", "v4"],
      ["v5", "v6", "v7", "v8"],
      ["v9"],
      ["alone"],
    ]);
  });

  it("bounds a coalesced mutation by bytes and never coalesces past an atomic operation", async () => {
    const { replica } = await openTestReplica({
      writeCoalesce: { writeCoalesceUpdatesMax: 256, writeCoalesceBytesMax: 100 },
    });
    const big = "x".repeat(60);
    const writes = [
      replica.write(set("h", "a", big)), // alone: nothing in flight
      replica.write(set("h", "b", big)),
      replica.write(set("h", "c", big)), // 2 x 62 bytes > 100: a new mutation
      replica.write(set("c", "n", "40")),
      replica.write({ op: "incr", hashKey: b("c"), sortKey: b("n"), increment: 2n, expireTs: 0 }),
      replica.write(set("c", "m", "1")),
    ];
    const [a, bb, c, n, incr, m] = await Promise.all(writes);
    assert.deepEqual([a?.decree, bb?.decree, c?.decree, n?.decree], [A + 1, A + 2, A + 3, A + 3]);
    // The incr saw the set it followed, and took its own decree.
    assert.equal(incr?.newValue, 42n);
    assert.equal(incr?.decree, A + 4);
    assert.equal(m?.decree, A + 5);
    await replica.close();
  });

  it("a coalesced mutation that fails fails every write in it, and writes nothing", async () => {
    const { replica, options } = await openTestReplica();
    await replica.write(set("h", "before", "1"));
    const first = replica.write(set("h", "x", "1"));
    const rest = [replica.write(set("h", "y", "2")), replica.write(set("h", "z", "3"))];
    const closing = replica.close();
    const outcomes = await Promise.allSettled([first, ...rest]);
    await closing;
    for (const outcome of outcomes.slice(1)) {
      assert.equal(outcome.status, "rejected");
      assert.ok(isTalariaError(outcome.reason, "ERR_INVALID_STATE"));
    }
    const reopened = await Replica.open(options);
    assert.equal(reopened.reads.get(b("h"), b("y")), undefined);
    assert.equal(reopened.reads.get(b("h"), b("z")), undefined);
    assert.equal(reopened.reads.get(b("h"), b("before"))?.value.toString(), "1");
    await reopened.close();
  });

  it("rejects requests over a limit with a clear error and writes nothing", async () => {
    const { replica } = await openTestReplica();
    const cases: [Parameters<Replica["write"]>[0], string][] = [
      [
        {
          op: "set",
          hashKey: b("h"),
          sortKey: b("s"),
          value: Buffer.alloc(1024 * 1024 + 1),
          expireTs: 0,
        },
        "writeBytesMax",
      ],
      [
        { op: "set", hashKey: b("h"), sortKey: Buffer.alloc(1976), value: b(""), expireTs: 0 },
        "storedKeyBytesMax",
      ],
      [
        {
          op: "multiSet",
          hashKey: b("h"),
          kvs: Array.from({ length: 1001 }, (_, i) => ({ sortKey: b(`${i}`), value: b("") })),
          expireTs: 0,
        },
        "multiOpCountMax",
      ],
    ];
    for (const [request, limit] of cases) {
      await assert.rejects(replica.write(request), (error) => {
        assert.ok(isTalariaError(error, "ERR_LIMIT_EXCEEDED"));
        assert.equal(error.details.limit, limit);
        return true;
      });
    }
    await assert.rejects(
      replica.write({
        op: "set",
        hashKey: Buffer.alloc(65_536),
        sortKey: b(""),
        value: b(""),
        expireTs: 0,
      }),
      (error) => isTalariaError(error, "ERR_INVALID_HASH_KEY"),
    );
    await assert.rejects(
      replica.write({ op: "multiSet", hashKey: b("h"), kvs: [], expireTs: 0 }),
      (error) => isTalariaError(error, "ERR_INVALID_PARAMETERS"),
    );
    // The largest key lmdb holds is accepted; the same limit guards keys inside duplicated entries.
    await replica.write({
      op: "set",
      hashKey: b("h"),
      sortKey: Buffer.alloc(1975),
      value: b(""),
      expireTs: 0,
    });
    await assert.rejects(
      replica.write({
        op: "duplicate",
        entries: [
          {
            timestampUs: T0_US,
            clusterId: 2,
            update: { kind: UpdateKind.REMOVE, hashKey: b("h"), sortKey: Buffer.alloc(1976) },
          },
        ],
      }),
      (error) =>
        isTalariaError(error, "ERR_LIMIT_EXCEEDED") && error.details.limit === "storedKeyBytesMax",
    );
    assert.equal(replica.lastDecree, A + 1);
    assert.equal(replica.lastAppliedDecree, A + 1);
    await replica.close();
    await assert.rejects(replica.write(set("h", "s", "v")), (error) =>
      isTalariaError(error, "ERR_INVALID_STATE"),
    );
  });
});

describe("Replica atomic operations", () => {
  it("serializes concurrent incr so every increment counts exactly once", async () => {
    const { replica } = await openTestReplica();
    const writes: Promise<{ newValue?: bigint }>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(
        replica.write({ op: "incr", hashKey: b("c"), sortKey: b("n"), increment: 1n, expireTs: 0 }),
      );
      if (i % 3 === 0) writes.push(replica.write(set("other", `${i}`, "x")));
    }
    const results = await Promise.all(writes);
    const values = results
      .flatMap((r) => (r.newValue === undefined ? [] : [r.newValue]))
      .sort((x, y) => Number(x - y));
    assert.deepEqual(
      values,
      Array.from({ length: 200 }, (_, i) => BigInt(i + 1)),
    );
    assert.equal(replica.reads.get(b("c"), b("n"))?.value.toString(), "200");
    await replica.close();
  });

  it("a failed check writes nothing and returns the check value when asked", async () => {
    const { replica } = await openTestReplica();
    await replica.write(set("h", "c", "old"));
    const decree = replica.lastDecree;
    await assert.rejects(
      replica.write({
        op: "checkAndSet",
        hashKey: b("h"),
        checkSortKey: b("c"),
        checkType: CheckType.VALUE_BYTES_EQUAL,
        checkOperand: b("expected"),
        setDiffSortKey: false,
        setSortKey: b(""),
        setValue: b("new"),
        setExpireTs: 0,
        returnCheckValue: true,
      }),
      (error) => {
        assert.ok(isTalariaError(error, "ERR_TRY_AGAIN"));
        assert.deepEqual(error.details.checkValue, { exists: true, value: b("old") });
        return true;
      },
    );
    assert.equal(replica.lastDecree, decree);
    const passed = await replica.write({
      op: "checkAndMutate",
      hashKey: b("h"),
      checkSortKey: b("c"),
      checkType: CheckType.VALUE_BYTES_EQUAL,
      checkOperand: b("old"),
      mutates: [
        { operation: "put", sortKey: b("x"), value: b("1"), expireTs: 0 },
        { operation: "delete", sortKey: b("c"), value: b(""), expireTs: 0 },
      ],
      returnCheckValue: true,
    });
    assert.deepEqual(passed.checkValue, { exists: true, value: b("old") });
    assert.equal(replica.reads.exist(b("h"), b("c")), false);
    assert.equal(replica.reads.get(b("h"), b("x"))?.value.toString(), "1");
    await replica.close();
  });

  it("logs atomic operations as their idempotent result", async () => {
    const { replica, options } = await openTestReplica();
    await replica.write(set("c", "n", "40"));
    await replica.write({
      op: "incr",
      hashKey: b("c"),
      sortKey: b("n"),
      increment: 2n,
      expireTs: 0,
    });
    await replica.close();
    const log = await PrivateLog.open({ dir: join(options.dir, "plog"), fsync: false });
    const [, incr] = await log.read(A + 1, { bytesMax: 1 << 20 });
    assert.ok(incr !== undefined);
    const update = decodeMutation(incr.payload).updates[0];
    assert.ok(update?.kind === UpdateKind.PUT);
    assert.equal(update.value.toString(), "42");
    await log.close();
  });
});

describe("Replica recovery", () => {
  it("replays the log into an empty store and reaches identical contents", async () => {
    const { replica, options } = await openTestReplica();
    await replica.write(set("a", "1", "x"));
    await replica.write({
      op: "incr",
      hashKey: b("a"),
      sortKey: b("n"),
      increment: 7n,
      expireTs: 0,
    });
    await replica.write({
      op: "multiSet",
      hashKey: b("m"),
      kvs: [{ sortKey: b("k"), value: b("v") }],
      expireTs: 0,
    });
    await replica.write({ op: "del", hashKey: b("a"), sortKey: b("1") });
    await replica.close();

    const dir = tempDir();
    cpSync(join(options.dir, "plog"), join(dir, "plog"), { recursive: true });
    const replayed = await Replica.open({ ...options, dir });
    // Both opens log their activation mutation around the 4 writes.
    assert.equal(replayed.lastAppliedDecree, A + 4 + A);
    assert.equal(replayed.reads.exist(b("a"), b("1")), false);
    assert.equal(replayed.reads.get(b("a"), b("n"))?.value.toString(), "7");
    assert.equal(replayed.reads.get(b("m"), b("k"))?.value.toString(), "v");
    await replayed.close();
  });

  it("restarts with its data, decree and clock", async () => {
    const { replica, options, clock } = await openTestReplica();
    for (let i = 0; i < 20; i++) await replica.write(set("h", `${i}`, "v"));
    const lastUs = replica.lastTimestampUs;
    await replica.close();
    clock.setUs(T0_US - 3_600_000_000); // the wall clock went back an hour during the restart
    const reopened = await Replica.open(options);
    assert.equal(reopened.lastDecree, A + 20 + A);
    assert.equal(reopened.reads.sortKeyCount(b("h")), 20);
    await reopened.write(set("h", "after", "v"));
    assert.ok(reopened.lastTimestampUs > lastUs, "clock resumed past the largest stored timestamp");
    await reopened.close();
  });

  it("opens from a checkpoint and replays the rest of the log", async () => {
    const { replica, options } = await openTestReplica();
    for (let i = 0; i < 5; i++) await replica.write(set("h", `${i}`, "before"));
    const checkpoint = await replica.checkpoint(join(tempDir(), "cp"));
    assert.equal(checkpoint.decree, A + 5);
    for (let i = 0; i < 5; i++) await replica.write(set("h", `${i}`, "after"));
    await replica.close();

    const dir = tempDir();
    cpSync(join(options.dir, "plog"), join(dir, "plog"), { recursive: true });
    const learner = await Replica.openFromCheckpoint(checkpoint.path, { ...options, dir });
    assert.equal(learner.lastAppliedDecree, A + 10 + A);
    assert.equal(learner.reads.get(b("h"), b("3"))?.value.toString(), "after");
    await learner.close();
  });
});

describe("Replica hybrid clock and last-write-wins", () => {
  it("local writes supersede duplicated writes from a clock that runs ahead", async () => {
    const { replica, clock } = await openTestReplica({ clusterId: 1 });
    const aheadUs = T0_US + 3_600_000_000;
    const dup = (timestampUs: number, value: string) =>
      replica.write({
        op: "duplicate",
        entries: [
          {
            timestampUs,
            clusterId: 2,
            update: {
              kind: UpdateKind.PUT,
              hashKey: b("k"),
              sortKey: b("s"),
              value: b(value),
              expireTs: 0,
            },
          },
        ],
      });
    await dup(aheadUs, "remote");
    assert.equal(replica.reads.get(b("k"), b("s"))?.value.toString(), "remote");
    clock.setUs(T0_US - 1000); // and the local wall clock even goes backwards
    await replica.write(set("k", "s", "local"));
    assert.ok(replica.lastTimestampUs > aheadUs);
    assert.equal(replica.reads.get(b("k"), b("s"))?.value.toString(), "local");
    const stale = await dup(aheadUs + 1, "late-but-older");
    assert.equal(stale.staleEntriesSkipped, 1);
    assert.equal(replica.reads.get(b("k"), b("s"))?.value.toString(), "local");
    await replica.close();
  });

  it("coalesces duplicate requests and answers each with its own stale-entry count", async () => {
    const { replica, options } = await openTestReplica({ clusterId: 1 });
    const entry = (sortKey: string, timestampUs: number) => ({
      timestampUs,
      clusterId: 2,
      update: {
        kind: UpdateKind.PUT,
        hashKey: b("d"),
        sortKey: b(sortKey),
        value: b(`at ${timestampUs}`),
        expireTs: 0,
      } as const,
    });
    await replica.write({
      op: "duplicate",
      entries: [entry("x", T0_US + 500), entry("y", T0_US + 500)],
    });
    const first = replica.write(set("d", "other", "1")); // in flight: the next three coalesce
    const [older, mixed, newer] = await Promise.all([
      replica.write({
        op: "duplicate",
        entries: [entry("x", T0_US + 100), entry("y", T0_US + 100)],
      }),
      replica.write({ op: "duplicate", entries: [entry("x", T0_US + 900), entry("y", T0_US + 1)] }),
      replica.write(set("d", "local", "2")),
    ]);
    await first;
    assert.equal(older?.decree, mixed?.decree, "coalesced into one mutation");
    assert.equal(newer?.decree, mixed?.decree);
    assert.equal(older?.staleEntriesSkipped, 2);
    assert.equal(mixed?.staleEntriesSkipped, 1);
    assert.equal(replica.reads.get(b("d"), b("x"))?.value.toString(), `at ${T0_US + 900}`);
    assert.equal(replica.reads.get(b("d"), b("y"))?.value.toString(), `at ${T0_US + 500}`);
    assert.ok(replica.lastTimestampUs > T0_US + 900, "the mutation is stamped after its entries");
    await replica.close();
    const log = await PrivateLog.open({ dir: join(options.dir, "plog"), fsync: false });
    const records = await log.read(A + 3, { bytesMax: 1 << 20, toDecree: A + 3 });
    await log.close();
    const kinds = records.flatMap((r) => decodeMutation(r.payload).updates.map((u) => u.kind));
    assert.deepEqual(kinds, [UpdateKind.DUPLICATE, UpdateKind.DUPLICATE, UpdateKind.PUT]);
  });

  it("a duplicated delete leaves a tombstone that a late older put cannot pass", async () => {
    const { replica } = await openTestReplica({ clusterId: 1 });
    const entry = (timestampUs: number, update: DuplicableUpdate) => ({
      timestampUs,
      clusterId: 3,
      update,
    });
    await replica.write({
      op: "duplicate",
      entries: [
        entry(T0_US + 10, {
          kind: UpdateKind.PUT,
          hashKey: b("k"),
          sortKey: b("s"),
          value: b("v1"),
          expireTs: 0,
        }),
        entry(T0_US + 30, { kind: UpdateKind.REMOVE, hashKey: b("k"), sortKey: b("s") }),
      ],
    });
    const late = await replica.write({
      op: "duplicate",
      entries: [
        entry(T0_US + 20, {
          kind: UpdateKind.PUT,
          hashKey: b("k"),
          sortKey: b("s"),
          value: b("v2"),
          expireTs: 0,
        }),
      ],
    });
    assert.equal(late.staleEntriesSkipped, 1);
    assert.equal(replica.reads.exist(b("k"), b("s")), false);
    await replica.close();
  });
});
