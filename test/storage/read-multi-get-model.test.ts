/**
 * multiGetRange against an in-memory model: random records across neighbouring hash keys (with
 * expiry and tombstones), random ranges, filters, reverse and limits.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { multiGetRange } from "../../src/storage/read/index.ts";
import type { MultiGetRangeOptions } from "../../src/storage/types.ts";
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
} from "./read-fixture.ts";

const H = b("h");

describe("multiGetRange matches a model", () => {
  let store: TestStore;
  before(() => {
    store = openTestStore();
  });
  after(() => store.close());

  const arbRecord: fc.Arbitrary<TestRecord> = fc
    .record({
      hashKey: fc.constantFrom("h", "h", "h", "g", "hh", "h\xff", "i"),
      sortKey: arbKeyBytes(3),
      value: arbKeyBytes(3),
      expireTs: arbExpiry,
      tombstone: fc.boolean(),
    })
    .map((r) =>
      rec(r.hashKey, r.sortKey, r.value, { expireTs: r.expireTs, tombstone: r.tombstone }),
    );

  const arbOptions: fc.Arbitrary<MultiGetRangeOptions> = fc.record(
    {
      startSortKey: arbKeyBytes(3),
      stopSortKey: arbKeyBytes(3),
      startInclusive: fc.boolean(),
      stopInclusive: fc.boolean(),
      sortKeyFilter: arbFilter,
      maxKvCount: fc.integer({ min: -1, max: 6 }),
      maxKvSize: fc.integer({ min: -1, max: 20 }),
      reverse: fc.boolean(),
      noValue: fc.boolean(),
    },
    { requiredKeys: [], noNullPrototype: true },
  ) as fc.Arbitrary<MultiGetRangeOptions>;

  function model(
    records: TestRecord[],
    options: MultiGetRangeOptions,
    kvCountMax: number,
    bytesMax: number,
  ) {
    const start = options.startSortKey ?? b("");
    const startInclusive = options.startInclusive ?? true;
    const stop = options.stopSortKey;
    const inRange = (sk: Buffer) => {
      const lower = sk.compare(start);
      if (lower < 0 || (lower === 0 && !startInclusive)) return false;
      if (stop === undefined || stop.length === 0) return true;
      const upper = sk.compare(stop);
      return upper < 0 || (upper === 0 && options.stopInclusive === true);
    };
    const candidates = storedOrder(records).filter(
      (r) =>
        r.hashKey.equals(H) &&
        inRange(r.sortKey) &&
        modelFilterMatches(r.sortKey, options.sortKeyFilter) &&
        isVisible(r),
    );
    const walk = options.reverse === true ? [...candidates].reverse() : candidates;
    const countMax =
      options.maxKvCount !== undefined && options.maxKvCount > 0
        ? Math.min(options.maxKvCount, kvCountMax)
        : kvCountMax;
    const sizeMax =
      options.maxKvSize !== undefined && options.maxKvSize > 0
        ? Math.min(options.maxKvSize, bytesMax)
        : bytesMax;
    const taken: TestRecord[] = [];
    let bytes = 0;
    for (const r of walk) {
      const recordBytes = r.sortKey.length + (options.noValue === true ? 0 : r.value.length);
      if (taken.length >= countMax || (taken.length > 0 && bytes + recordBytes > sizeMax)) break;
      taken.push(r);
      bytes += recordBytes;
    }
    const kvs = (options.reverse === true ? taken.reverse() : taken).map((r) => ({
      sortKey: r.sortKey,
      value: options.noValue === true ? b("") : r.value,
      expireTs: r.expireTs,
    }));
    return { kvs, incomplete: taken.length < candidates.length };
  }

  it("for random records, ranges, filters and limits", () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { maxLength: 30 }),
        arbOptions,
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 30 }),
        (records, options, multiGetKvCountMax, readBytesMax) => {
          store.db.clearSync();
          putRecords(store.db, records);
          const got = multiGetRange(
            store.db,
            H,
            options,
            EPOCH_NOW,
            limitsWith({ multiGetKvCountMax, readBytesMax }),
          );
          const want = model(records, options, multiGetKvCountMax, readBytesMax);
          assert.deepEqual(
            { kvs: got.kvs.map((kv) => ({ ...kv })), incomplete: got.incomplete },
            want,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
