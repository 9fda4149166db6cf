import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { crc64Parts, encodeKey } from "../../src/codec/index.ts";
import { isTalariaError, type ReadLimits } from "../../src/common/index.ts";
import { SCAN_BATCH_SIZE_DEFAULT, scanFirst, scanNext } from "../../src/storage/read/index.ts";
import {
  FilterType,
  type KeyValue,
  type ScanBatch,
  type ScanOptions,
} from "../../src/storage/types.ts";
import {
  arbExpiry,
  arbFilter,
  arbKeyBytes,
  b,
  EPOCH_NOW,
  isVisible,
  limitsWith,
  modelFilterMatches,
  openTestStore,
  putRecords,
  rec,
  storedOrder,
  type TestRecord,
  type TestStore,
  text,
} from "./read-fixture.ts";

type Db = TestStore["db"];

/** Runs a scan to the end; the loop bound proves every batch with a token made progress. */
function scanAll(db: Db, options: ScanOptions, limits: ReadLimits, callsMax: number) {
  const batches: ScanBatch[] = [scanFirst(db, options, EPOCH_NOW, limits)];
  for (let token = batches[0]?.continuationToken; token !== undefined; ) {
    assert.ok(batches.length <= callsMax, `scan did not finish in ${callsMax} calls`);
    const batch = scanNext(db, token, EPOCH_NOW, limits);
    batches.push(batch);
    token = batch.continuationToken;
  }
  return { batches, kvs: batches.flatMap((batch) => batch.kvs) };
}

function names(kvs: readonly KeyValue[]): string[] {
  return kvs.map((kv) => `${text(kv.hashKey)}/${text(kv.sortKey)}`);
}

const isInvalid = (error: unknown) => isTalariaError(error, "ERR_INVALID_PARAMETERS");

describe("scan on a fixed partition", () => {
  let store: TestStore;
  const limits = limitsWith();
  // Stored order: hash keys by length first (u16 prefix), then bytes.
  const VISIBLE = ["a/", "a/1", "a/2", "b/1", "b/x2", "ab/1", "ab/2", "bb/1", "abc/9"];

  before(() => {
    store = openTestStore();
    putRecords(store.db, [
      rec("a", "", "v"),
      rec("a", "1", "va1"),
      rec("a", "2", "va2", { expireTs: EPOCH_NOW + 9 }),
      rec("a", "3", "x", { expireTs: EPOCH_NOW }),
      rec("b", "1", "vb1"),
      rec("b", "dead", "", { tombstone: true }),
      rec("b", "x2", "vbx2"),
      rec("ab", "1", "vab1"),
      rec("ab", "2", "vab2"),
      rec("bb", "1", "vbb1"),
      rec("bb", "2", "x", { expireTs: 5 }),
      rec("abc", "9", "vabc9"),
    ]);
  });
  after(() => store.close());

  it("scans the whole partition in stored-key order, skipping invisible records", () => {
    const batch = scanFirst(store.db, {}, EPOCH_NOW, limits);
    assert.deepEqual(names(batch.kvs), VISIBLE);
    assert.equal(batch.continuationToken, undefined);
    assert.deepEqual(batch.kvs[2], {
      hashKey: b("a"),
      sortKey: b("2"),
      value: b("va2"),
      expireTs: EPOCH_NOW + 9,
    });
  });

  it("resumes batch by batch without loss or duplicates", () => {
    for (const batchSize of [1, 2, 3, 4]) {
      const { batches, kvs } = scanAll(store.db, { batchSize }, limits, 20);
      assert.deepEqual(names(kvs), VISIBLE, `batchSize ${batchSize}`);
      for (const batch of batches.slice(0, -1)) assert.equal(batch.kvs.length, batchSize);
    }
  });

  it("returns no token when the range ends with the batch, even behind invisible records", () => {
    const exact = scanFirst(store.db, { batchSize: VISIBLE.length }, EPOCH_NOW, limits);
    assert.equal(exact.continuationToken, undefined);
    // a/2 fills the batch; a/3 (expired) then the stop bound follow.
    const stop = { hashKey: b("b"), sortKey: b("") };
    const tail = scanFirst(store.db, { stopKey: stop, batchSize: 3 }, EPOCH_NOW, limits);
    assert.deepEqual(names(tail.kvs), ["a/", "a/1", "a/2"]);
    assert.equal(tail.continuationToken, undefined);
  });

  it("honours inclusive and exclusive start and stop keys", () => {
    const key = (hashKey: string, sortKey: string) => ({
      hashKey: b(hashKey),
      sortKey: b(sortKey),
    });
    const scan = (options: ScanOptions) => names(scanAll(store.db, options, limits, 20).kvs);
    assert.deepEqual(scan({ startKey: key("a", "1"), stopKey: key("b", "x2") }), [
      "a/1",
      "a/2",
      "b/1",
    ]);
    assert.deepEqual(
      scan({
        startKey: key("a", "1"),
        stopKey: key("b", "x2"),
        startInclusive: false,
        stopInclusive: true,
      }),
      ["a/2", "b/1", "b/x2"],
    );
    assert.deepEqual(scan({ startKey: key("ab", "") }), ["ab/1", "ab/2", "bb/1", "abc/9"]);
    assert.deepEqual(scan({ stopKey: key("a", "") }), []);
    assert.deepEqual(scan({ stopKey: key("a", ""), stopInclusive: true }), ["a/"]);
    assert.deepEqual(scan({ startKey: key("b", "1"), stopKey: key("a", "1") }), []);
    assert.deepEqual(
      scan({ startKey: key("b", "1"), stopKey: key("b", "1"), stopInclusive: true, batchSize: 1 }),
      ["b/1"],
    );
  });

  it("filters hash keys and sort keys with every filter type", () => {
    const scan = (options: ScanOptions) =>
      names(scanAll(store.db, { ...options, batchSize: 2 }, limits, 20).kvs);
    const f = (type: FilterType, pattern: string) => ({ type, pattern: b(pattern) });
    assert.deepEqual(scan({ hashKeyFilter: f(FilterType.MATCH_PREFIX, "a") }), [
      "a/",
      "a/1",
      "a/2",
      "ab/1",
      "ab/2",
      "abc/9",
    ]);
    assert.deepEqual(scan({ hashKeyFilter: f(FilterType.MATCH_POSTFIX, "b") }), [
      "b/1",
      "b/x2",
      "ab/1",
      "ab/2",
      "bb/1",
    ]);
    assert.deepEqual(scan({ hashKeyFilter: f(FilterType.MATCH_ANYWHERE, "bc") }), ["abc/9"]);
    assert.deepEqual(scan({ hashKeyFilter: f(FilterType.NO_FILTER, "zz") }), VISIBLE);
    assert.deepEqual(scan({ sortKeyFilter: f(FilterType.MATCH_PREFIX, "x") }), ["b/x2"]);
    assert.deepEqual(scan({ sortKeyFilter: f(FilterType.MATCH_POSTFIX, "2") }), [
      "a/2",
      "b/x2",
      "ab/2",
    ]);
    assert.deepEqual(scan({ sortKeyFilter: f(FilterType.MATCH_ANYWHERE, "") }), VISIBLE);
    assert.deepEqual(
      scan({
        hashKeyFilter: f(FilterType.MATCH_PREFIX, "a"),
        sortKeyFilter: f(FilterType.MATCH_ANYWHERE, "1"),
      }),
      ["a/1", "ab/1"],
    );
  });

  it("noValue returns empty values, kept across batches", () => {
    const { kvs } = scanAll(store.db, { noValue: true, batchSize: 2 }, limits, 20);
    assert.deepEqual(names(kvs), VISIBLE);
    for (const kv of kvs) assert.equal(kv.value.length, 0);
    assert.equal(kvs[2]?.expireTs, EPOCH_NOW + 9);
  });

  it("stops at scanIterationCountMax examined records, possibly with no records, and resumes", () => {
    const tight = limitsWith({ scanIterationCountMax: 1 });
    const { batches, kvs } = scanAll(store.db, {}, tight, 30);
    assert.deepEqual(names(kvs), VISIBLE);
    // 12 stored records, one examined per call; the calls on invisible ones return nothing.
    assert.ok(
      batches.some((batch) => batch.kvs.length === 0 && batch.continuationToken !== undefined),
    );
    assert.ok(batches.every((batch) => batch.kvs.length <= 1));
    assert.equal(batches.length, 12);
  });

  it("stops at readBytesMax (hash key + sort key + value), always returning one record", () => {
    // a/: 1 + 0 + 1 = 2 bytes, a/1: 1 + 1 + 3 = 5 bytes.
    const first = scanFirst(store.db, {}, EPOCH_NOW, limitsWith({ readBytesMax: 7 }));
    assert.deepEqual(names(first.kvs), ["a/", "a/1"]);
    assert.notEqual(first.continuationToken, undefined);
    const { kvs } = scanAll(store.db, {}, limitsWith({ readBytesMax: 1 }), 20);
    assert.deepEqual(names(kvs), VISIBLE);
  });

  it("caps the batch size at scanBatchCountMax and defaults it", () => {
    assert.equal(SCAN_BATCH_SIZE_DEFAULT, 100);
    const capped = limitsWith({ scanBatchCountMax: 2 });
    const first = scanFirst(store.db, { batchSize: 1000 }, EPOCH_NOW, capped);
    assert.equal(first.kvs.length, 2);
    assert.equal(scanFirst(store.db, {}, EPOCH_NOW, capped).kvs.length, 2);
    assert.equal(
      scanNext(store.db, first.continuationToken ?? "", EPOCH_NOW, capped).kvs.length,
      2,
    );
  });

  it("rejects malformed options with ERR_INVALID_PARAMETERS", () => {
    const bad: unknown[] = [
      { batchSize: -1 },
      { batchSize: 0 },
      { batchSize: 1.5 },
      { hashKeyFilter: { type: 9, pattern: b("") } },
      { sortKeyFilter: { type: -1, pattern: b("") } },
      { sortKeyFilter: { type: FilterType.MATCH_PREFIX } },
      { startKey: { hashKey: b("a") } },
      { stopKey: "a" },
      { noValue: "true" },
    ];
    for (const options of bad) {
      assert.throws(
        () => scanFirst(store.db, options as ScanOptions, EPOCH_NOW, limits),
        isInvalid,
        JSON.stringify(options),
      );
    }
  });

  it("rejects malformed tokens with ERR_INVALID_PARAMETERS", () => {
    const token = scanFirst(
      store.db,
      { batchSize: 1, hashKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: b("a") } },
      EPOCH_NOW,
      limits,
    ).continuationToken;
    assert.ok(token !== undefined);
    const raw = Buffer.from(token, "base64url");
    const flipped = Buffer.from(raw);
    flipped[6] = (flipped[6] as number) ^ 1;
    const reChecksummed = (body: Buffer) => {
      const { hi, lo } = crc64Parts(body);
      const tail = Buffer.alloc(8);
      tail.writeUInt32BE(hi, 0);
      tail.writeUInt32BE(lo, 4);
      return Buffer.concat([body, tail]).toString("base64url");
    };
    const body = raw.subarray(0, raw.length - 8);
    const withVersion = (version: number) =>
      reChecksummed(Buffer.concat([Buffer.from([version]), body.subarray(1)]));
    const badFilter = Buffer.from(body);
    badFilter[body.length - 5 - 6] = 9; // hash filter type: pattern "a" (4 + 1) and sort filter (1 + 4) follow
    const malformed: unknown[] = [
      "",
      "!!!!",
      `${token}=`,
      token.slice(0, -1),
      token.slice(0, 10),
      flipped.toString("base64url"),
      withVersion(2),
      withVersion(0),
      reChecksummed(Buffer.concat([body, Buffer.from([0])])),
      reChecksummed(body.subarray(0, body.length - 1)),
      reChecksummed(Buffer.concat([body.subarray(0, 1), Buffer.from([0x80]), body.subarray(2)])),
      reChecksummed(badFilter),
      42,
      undefined,
    ];
    assert.equal(withVersion(1), token);
    for (const bad of malformed) {
      assert.throws(
        () => scanNext(store.db, bad as string, EPOCH_NOW, limits),
        isInvalid,
        String(bad),
      );
    }
  });

  it("reads records written after the cursor and not those written before it", () => {
    const first = scanFirst(store.db, { batchSize: 2 }, EPOCH_NOW, limits);
    assert.deepEqual(names(first.kvs), ["a/", "a/1"]);
    putRecords(store.db, [rec("a", "0", "before cursor"), rec("a", "15", "after cursor")]);
    const rest = scanNext(store.db, first.continuationToken ?? "", EPOCH_NOW, limits);
    assert.deepEqual(names(rest.kvs).slice(0, 2), ["a/15", "a/2"]);
    store.db.removeSync(encodeKey(b("a"), b("0")));
    store.db.removeSync(encodeKey(b("a"), b("15")));
  });
});

describe("scan matches a model", () => {
  let store: TestStore;
  before(() => {
    store = openTestStore();
  });
  after(() => store.close());

  const arbRecord: fc.Arbitrary<TestRecord> = fc
    .record({
      hashKey: arbKeyBytes(2),
      sortKey: arbKeyBytes(2),
      value: arbKeyBytes(3),
      expireTs: arbExpiry,
      tombstone: fc.boolean(),
    })
    .map((r) =>
      rec(r.hashKey, r.sortKey, r.value, { expireTs: r.expireTs, tombstone: r.tombstone }),
    );
  const arbKey = fc.record(
    { hashKey: arbKeyBytes(2), sortKey: arbKeyBytes(2) },
    { noNullPrototype: true },
  );
  const arbOptions = fc.record(
    {
      startKey: arbKey,
      stopKey: arbKey,
      startInclusive: fc.boolean(),
      stopInclusive: fc.boolean(),
      hashKeyFilter: arbFilter,
      sortKeyFilter: arbFilter,
      batchSize: fc.integer({ min: 1, max: 5 }),
      noValue: fc.boolean(),
    },
    { requiredKeys: [], noNullPrototype: true },
  ) as fc.Arbitrary<ScanOptions>;
  const arbLimits = fc.record({
    scanBatchCountMax: fc.integer({ min: 1, max: 6 }),
    scanIterationCountMax: fc.integer({ min: 1, max: 7 }),
    readBytesMax: fc.integer({ min: 1, max: 25 }),
  });

  function model(records: TestRecord[], options: ScanOptions): KeyValue[] {
    const start = options.startKey && encodeKey(options.startKey.hashKey, options.startKey.sortKey);
    const stop = options.stopKey && encodeKey(options.stopKey.hashKey, options.stopKey.sortKey);
    return storedOrder(records)
      .filter((r) => {
        const key = encodeKey(r.hashKey, r.sortKey);
        if (start !== undefined) {
          const c = key.compare(start);
          if (c < 0 || (c === 0 && options.startInclusive === false)) return false;
        }
        if (stop !== undefined) {
          const c = key.compare(stop);
          if (c > 0 || (c === 0 && options.stopInclusive !== true)) return false;
        }
        return (
          isVisible(r) &&
          modelFilterMatches(r.hashKey, options.hashKeyFilter) &&
          modelFilterMatches(r.sortKey, options.sortKeyFilter)
        );
      })
      .map((r) => ({
        hashKey: r.hashKey,
        sortKey: r.sortKey,
        value: options.noValue === true ? b("") : r.value,
        expireTs: r.expireTs,
      }));
  }

  it("the batches of a resumed scan concatenate to the filtered records, in order, once", () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { maxLength: 40 }),
        arbOptions,
        arbLimits,
        (records, options, bounds) => {
          store.db.clearSync();
          putRecords(store.db, records);
          const limits = limitsWith(bounds);
          // Every call with a token examined at least one record, so stored records + 1 calls suffice.
          const { batches, kvs } = scanAll(store.db, options, limits, records.length + 1);
          assert.deepEqual(
            kvs.map((kv) => ({ ...kv })),
            model(records, options),
          );
          const batchMax = Math.min(
            options.batchSize ?? SCAN_BATCH_SIZE_DEFAULT,
            bounds.scanBatchCountMax,
          );
          for (const batch of batches) {
            assert.ok(batch.kvs.length <= batchMax);
            assert.ok(batch.kvs.length <= bounds.scanIterationCountMax);
            const bytes = batch.kvs.reduce(
              (n, kv) => n + kv.hashKey.length + kv.sortKey.length + kv.value.length,
              0,
            );
            assert.ok(batch.kvs.length <= 1 || bytes <= bounds.readBytesMax);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
