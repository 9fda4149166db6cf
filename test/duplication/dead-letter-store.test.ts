/** One compliance suite for every DeadLetterStore, plus the file format and replay. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  UpdateKind,
} from "../../src/codec/mutation.ts";
import { makeTimetag } from "../../src/codec/timetag.ts";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  type DeadLetterRecord,
  type DeadLetterStore,
  entryPartitionIndex,
  FileDeadLetterStore,
  MemoryDeadLetterStore,
  replayDeadLetters,
  type StoredTimetagReader,
  stillCurrent,
} from "../../src/duplication/index.ts";
import { put } from "./core-driver.ts";

const root = mkdtempSync(join(tmpdir(), "talaria-dead-letters-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function entry(hashKey: string, ts: number): DuplicateEntry {
  return { timestampUs: ts, clusterId: 3, update: put(hashKey, "s", `v${ts}`) as DuplicableUpdate };
}

function letter(entries: DuplicateEntry[], kind: "ship" | "load" = "ship"): DeadLetterRecord {
  return {
    kind,
    fromDecree: 10,
    toDecree: 12,
    targetPartition: kind === "ship" ? 2 : -1,
    targetPartitionCount: 4,
    entries,
    error: { code: "ERR_BUSY", message: "throttled" },
    attempts: 10,
  };
}

const implementations: [string, (lettersMax?: number) => Promise<DeadLetterStore>][] = [
  ["memory", async (max) => new MemoryDeadLetterStore(max)],
  ["file", (max) => FileDeadLetterStore.open(join(root, `store-${dirs++}`), max)],
];

for (const [name, open] of implementations) {
  describe(`dead-letter store compliance: ${name}`, () => {
    it("keeps letters with their entries, counts and lists them in id order", async () => {
      const store = await open();
      const a = await store.append(7, letter([entry("a", 1), entry("b", 2)]), 1000);
      const b = await store.append(8, letter([entry("c", 3)]), 1001);
      const c = await store.append(7, letter([], "load"), 1002);
      assert.ok(a < b && b < c);
      assert.deepEqual(store.counts(), { letters: 3, entries: 3 });
      assert.deepEqual(store.counts(7), { letters: 2, entries: 2 });
      const all = await store.list();
      assert.deepEqual(
        all.map((l) => [l.id, l.dupid, l.kind, l.entries.length, l.createdAtMs]),
        [
          [a, 7, "ship", 2, 1000],
          [b, 8, "ship", 1, 1001],
          [c, 7, "load", 0, 1002],
        ],
      );
      const first = all[0];
      assert.equal(first?.entries[1]?.timestampUs, 2);
      assert.equal(first?.entries[1]?.clusterId, 3);
      assert.deepEqual(first?.entries[0]?.update, put("a", "s", "v1"));
      assert.deepEqual(first?.error, { code: "ERR_BUSY", message: "throttled" });
      assert.equal(first?.targetPartition, 2);
      assert.deepEqual(
        (await store.list({ dupid: 7 })).map((l) => l.id),
        [a, c],
      );
      assert.deepEqual(
        (await store.list({ afterId: a, limit: 1 })).map((l) => l.id),
        [b],
      );
      await store.remove(b);
      await store.remove(12345);
      assert.deepEqual(
        (await store.list()).map((l) => l.id),
        [a, c],
      );
      await store.close();
    });

    it("refuses letters past its bound instead of dropping any", async () => {
      const store = await open(2);
      await store.append(1, letter([entry("a", 1)]), 0);
      await store.append(1, letter([entry("b", 1)]), 0);
      await assert.rejects(store.append(1, letter([entry("c", 1)]), 0), (error) =>
        isTalariaError(error, "ERR_LIMIT_EXCEEDED"),
      );
      assert.equal(store.counts().letters, 2);
    });

    it("replays letters by the remote's current partition count and removes them", async () => {
      const store = await open();
      const entries = ["a", "b", "c", "d", "e", "f"].map((k, i) => entry(k, i + 1));
      await store.append(1, letter(entries), 0);
      await store.append(1, letter([], "load"), 0);
      const failing = await store.append(1, letter([entry("zz", 9)]), 0);
      const sent: [number, string[]][] = [];
      const result = await replayDeadLetters(
        store,
        {
          duplicate: async (partition, batch, options) => {
            assert.equal(options.partitionCount, 3);
            for (const e of batch) assert.equal(entryPartitionIndex(e.update, 3), partition);
            if (batch.some((e) => e.update.hashKey.toString() === "zz")) throw new Error("down");
            sent.push([partition, batch.map((e) => e.update.hashKey.toString())]);
          },
        },
        { partitionCount: 3, timeoutMs: 100 },
      );
      assert.equal(result.replayedLetters, 1);
      assert.equal(result.replayedEntries, 6);
      assert.equal(result.notReplayable.length, 1);
      assert.deepEqual(
        result.failed.map((f) => [f.id, f.error.code]),
        [[failing, "ERR_UNKNOWN"]],
      );
      assert.deepEqual(sent.flatMap(([, keys]) => keys).sort(), ["a", "b", "c", "d", "e", "f"]);
      assert.equal(store.counts().letters, 2, "the unreplayable and the failed letters are kept");
    });
  });
}

describe("file dead-letter store", () => {
  it("survives reopening, cleans temp files and reports a corrupt letter", async () => {
    const dir = join(root, "reopen");
    const store = await FileDeadLetterStore.open(dir);
    const id = await store.append(4, letter([entry("a", 1)]), 5);
    await store.close();
    writeFileSync(join(dir, "dl-0000000000000009-4-1.bin.tmp"), "partial");
    const again = await FileDeadLetterStore.open(dir);
    assert.deepEqual(again.counts(4), { letters: 1, entries: 1 });
    assert.ok(!readdirSync(dir).some((f) => f.endsWith(".tmp")));
    const next = await again.append(4, letter([]), 6);
    assert.ok(next > id);
    const [file] = readdirSync(dir).filter((f) => f.includes(String(id).padStart(16, "0")));
    const path = join(dir, file as string);
    const bytes = readFileSync(path);
    bytes.writeUInt8((bytes.at(-3) ?? 0) ^ 0xff, bytes.length - 3);
    writeFileSync(path, bytes);
    await assert.rejects(again.list(), (error) => isTalariaError(error, "ERR_CORRUPTION"));
  });
});

describe("replay: only what the source still holds as its latest", () => {
  const CLUSTER = 3;
  const b = (s: string) => Buffer.from(s);
  const key = (hashKey: Buffer, sortKey: Buffer) => `${hashKey}/${sortKey}`;
  /** The source's stored timetags, by "hashKey/sortKey". */
  const reader =
    (stored: Record<string, bigint>): StoredTimetagReader =>
    (hashKey, sortKey) =>
      stored[key(hashKey, sortKey)];
  const put1: DuplicableUpdate = {
    kind: UpdateKind.PUT,
    hashKey: b("h"),
    sortKey: b("a"),
    value: b("v"),
    expireTs: 0,
  };
  const remove1: DuplicableUpdate = { kind: UpdateKind.REMOVE, hashKey: b("h"), sortKey: b("a") };
  const at = (update: DuplicableUpdate, ts = 100): DuplicateEntry => ({
    timestampUs: ts,
    clusterId: CLUSTER,
    update,
  });

  it("a put goes while the source stores that very version, not once anything replaced it", () => {
    const same = reader({ "h/a": makeTimetag(100, CLUSTER, false) });
    assert.deepEqual(stillCurrent(at(put1), same), { entry: at(put1), superseded: 0 });
    for (const [why, stored] of [
      ["a newer put", { "h/a": makeTimetag(200, CLUSTER, false) }],
      ["a newer write of another cluster", { "h/a": makeTimetag(200, 7, false) }],
      ["a later delete's tombstone", { "h/a": makeTimetag(200, CLUSTER, true) }],
      ["the delete and its collected tombstone", {}],
      ["a delete in the same mutation", { "h/a": makeTimetag(100, CLUSTER, true) }],
    ] as const) {
      assert.deepEqual(
        stillCurrent(at(put1), reader(stored)),
        { entry: undefined, superseded: 1 },
        why,
      );
    }
    // Written before the cluster had an id: stored with cluster id 0.
    const unstamped = reader({ "h/a": makeTimetag(100, 0, false) });
    assert.equal(stillCurrent(at(put1), unstamped).superseded, 0);
  });

  it("a delete goes while nothing newer replaced it, its tombstone kept or collected", () => {
    for (const stored of [{ "h/a": makeTimetag(100, CLUSTER, true) }, {}]) {
      assert.deepEqual(stillCurrent(at(remove1), reader(stored)), {
        entry: at(remove1),
        superseded: 0,
      });
    }
    for (const stored of [
      { "h/a": makeTimetag(200, CLUSTER, false) },
      { "h/a": makeTimetag(100, CLUSTER, false) }, // put after delete in one mutation
    ]) {
      assert.deepEqual(stillCurrent(at(remove1), reader(stored)), {
        entry: undefined,
        superseded: 1,
      });
    }
  });

  it("multi-puts and multi-removes keep only their current records", () => {
    const multiPut: DuplicableUpdate = {
      kind: UpdateKind.MULTI_PUT,
      hashKey: b("h"),
      kvs: ["a", "b", "c"].map((s) => ({ sortKey: b(s), value: b(`v${s}`) })),
      expireTs: 0,
    };
    const stored = reader({
      "h/a": makeTimetag(100, CLUSTER, false),
      "h/b": makeTimetag(300, CLUSTER, false),
      "h/c": makeTimetag(100, CLUSTER, false),
    });
    const put = stillCurrent(at(multiPut), stored);
    assert.equal(put.superseded, 1);
    assert.deepEqual(
      put.entry?.update.kind === UpdateKind.MULTI_PUT &&
        put.entry.update.kvs.map((kv) => kv.sortKey.toString()),
      ["a", "c"],
    );
    const multiRemove: DuplicableUpdate = {
      kind: UpdateKind.MULTI_REMOVE,
      hashKey: b("h"),
      sortKeys: [b("a"), b("b"), b("x")],
    };
    const removes = stillCurrent(
      at(multiRemove),
      reader({ "h/a": makeTimetag(100, CLUSTER, true), "h/b": makeTimetag(300, 1, false) }),
    );
    assert.equal(removes.superseded, 1);
    assert.deepEqual(
      removes.entry?.update.kind === UpdateKind.MULTI_REMOVE &&
        removes.entry.update.sortKeys.map((k) => k.toString()),
      ["a", "x"],
    );
    assert.deepEqual(stillCurrent(at(multiPut), reader({})), { entry: undefined, superseded: 3 });
  });

  it("replayDeadLetters sends the current part, counts the rest, and removes the letter", async () => {
    const store = new MemoryDeadLetterStore();
    const old = at(put1, 100);
    const kept = at({ ...put1, sortKey: b("b") }, 100);
    await store.append(1, letter([old, kept]), 0);
    const sent: DuplicateEntry[] = [];
    const result = await replayDeadLetters(
      store,
      { duplicate: async (_partition, batch) => void sent.push(...batch) },
      {
        partitionCount: 1,
        timeoutMs: 100,
        storedTimetag: reader({
          "h/a": makeTimetag(200, CLUSTER, true), // deleted since
          "h/b": makeTimetag(100, CLUSTER, false),
        }),
      },
    );
    assert.deepEqual(sent, [kept]);
    assert.equal(result.replayedLetters, 1);
    assert.equal(result.replayedEntries, 1);
    assert.equal(result.supersededRecords, 1);
    assert.equal(store.counts().letters, 0);
  });
});
