import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isTalariaError } from "../../src/common/index.ts";
import { multiGet, multiGetRange } from "../../src/storage/read/index.ts";
import {
  FilterType,
  type MultiGetRangeOptions,
  type MultiGetResult,
} from "../../src/storage/types.ts";
import {
  b,
  EPOCH_NOW,
  limitsWith,
  openTestStore,
  putRecords,
  rec,
  type TestStore,
  text,
} from "./read-fixture.ts";

const H = b("h");
const limits = limitsWith();

function sortKeys(result: MultiGetResult): string[] {
  return result.kvs.map((kv) => text(kv.sortKey));
}

const isInvalid = (error: unknown) => isTalariaError(error, "ERR_INVALID_PARAMETERS");

describe("multiGet on a fixed hash key", () => {
  let store: TestStore;
  const range = (options: MultiGetRangeOptions, overrides = {}) =>
    multiGetRange(store.db, H, options, EPOCH_NOW, limitsWith(overrides));
  const ALL = ["", "a", "ab", "abc", "b", "ba", "d", "xyz", "\xff", "\xff\xff"];

  before(() => {
    store = openTestStore();
    // Each value is "v" + sort key, so a record costs 2 * len(sortKey) + 1 bytes.
    const live = ALL.map((sk) => rec("h", sk, `v${sk}`));
    putRecords(store.db, [
      ...live,
      rec("h", "c", "vc", { expireTs: EPOCH_NOW }),
      rec("h", "ca", "", { tombstone: true }),
      rec("h", "e", "ve", { expireTs: EPOCH_NOW + 60 }),
      rec("g", "z", "neighbour below"),
      rec("hh", "a", "longer hash key"),
      rec("i", "", "neighbour above"),
      rec("h\xff", "a", "hash key with 0xff"),
    ]);
  });
  after(() => store.close());

  const ALL_VISIBLE = ["", "a", "ab", "abc", "b", "ba", "d", "e", "xyz", "\xff", "\xff\xff"];

  it("reads the whole hash key by default, no neighbours, no invisible records", () => {
    const result = range({});
    assert.deepEqual(sortKeys(result), ALL_VISIBLE);
    assert.equal(result.incomplete, false);
    assert.deepEqual(result.kvs[0]?.value, b("v"));
    assert.equal(result.kvs.find((kv) => text(kv.sortKey) === "e")?.expireTs, EPOCH_NOW + 60);
  });

  it("honours inclusive and exclusive range edges", () => {
    const a = b("a");
    const bb = b("b");
    assert.deepEqual(sortKeys(range({ startSortKey: a, stopSortKey: bb })), ["a", "ab", "abc"]);
    assert.deepEqual(sortKeys(range({ startSortKey: a, stopSortKey: bb, startInclusive: false })), [
      "ab",
      "abc",
    ]);
    assert.deepEqual(sortKeys(range({ startSortKey: a, stopSortKey: bb, stopInclusive: true })), [
      "a",
      "ab",
      "abc",
      "b",
    ]);
    // Bounds that are not stored keys.
    assert.deepEqual(sortKeys(range({ startSortKey: b("aa"), stopSortKey: b("bb") })), [
      "ab",
      "abc",
      "b",
      "ba",
    ]);
  });

  it("an empty stop sort key means the end of the hash key, whatever stopInclusive says", () => {
    const tail = ["xyz", "\xff", "\xff\xff"];
    assert.deepEqual(sortKeys(range({ startSortKey: b("x"), stopSortKey: b("") })), tail);
    assert.deepEqual(sortKeys(range({ startSortKey: b("x"), stopInclusive: true })), tail);
    assert.deepEqual(sortKeys(range({ startSortKey: b("x"), stopInclusive: false })), tail);
  });

  it("an exclusive absent start skips the empty sort key, as Pegasus", () => {
    assert.deepEqual(sortKeys(range({ startInclusive: false })), ALL_VISIBLE.slice(1));
  });

  it("inverted ranges are empty and complete, not errors", () => {
    const empty = { kvs: [], incomplete: false };
    assert.deepEqual(range({ startSortKey: b("d"), stopSortKey: b("b") }), empty);
    assert.deepEqual(range({ startSortKey: b("b"), stopSortKey: b("b") }), empty);
    assert.deepEqual(
      range({
        startSortKey: b("b"),
        stopSortKey: b("b"),
        startInclusive: false,
        stopInclusive: true,
      }),
      empty,
    );
    assert.deepEqual(
      sortKeys(range({ startSortKey: b("b"), stopSortKey: b("b"), stopInclusive: true })),
      ["b"],
    );
  });

  it("filters sort keys by every filter type", () => {
    const filter = (type: FilterType, pattern: string) =>
      sortKeys(range({ sortKeyFilter: { type, pattern: b(pattern) } }));
    assert.deepEqual(filter(FilterType.NO_FILTER, "zzz"), ALL_VISIBLE);
    assert.deepEqual(filter(FilterType.MATCH_ANYWHERE, "b"), ["ab", "abc", "b", "ba"]);
    assert.deepEqual(filter(FilterType.MATCH_PREFIX, "a"), ["a", "ab", "abc"]);
    assert.deepEqual(filter(FilterType.MATCH_POSTFIX, "b"), ["ab", "b"]);
    assert.deepEqual(filter(FilterType.MATCH_PREFIX, "\xff"), ["\xff", "\xff\xff"]);
    assert.deepEqual(filter(FilterType.MATCH_PREFIX, "c"), []);
    assert.deepEqual(filter(FilterType.MATCH_POSTFIX, "abcd"), []);
    for (const type of Object.values(FilterType)) assert.deepEqual(filter(type, ""), ALL_VISIBLE);
  });

  it("a prefix filter intersects with the requested range", () => {
    const prefixA = { type: FilterType.MATCH_PREFIX, pattern: b("a") };
    assert.deepEqual(
      sortKeys(range({ sortKeyFilter: prefixA, startSortKey: b("ab"), startInclusive: false })),
      ["abc"],
    );
    assert.deepEqual(
      sortKeys(range({ sortKeyFilter: prefixA, stopSortKey: b("ab"), stopInclusive: true })),
      ["a", "ab"],
    );
    assert.deepEqual(sortKeys(range({ sortKeyFilter: prefixA, startSortKey: b("b") })), []);
    assert.deepEqual(sortKeys(range({ sortKeyFilter: prefixA, reverse: true, maxKvCount: 1 })), [
      "abc",
    ]);
  });

  it("reverse keeps the last records, returned in ascending order", () => {
    const last = range({ reverse: true, maxKvCount: 3 });
    assert.deepEqual(sortKeys(last), ["xyz", "\xff", "\xff\xff"]);
    assert.equal(last.incomplete, true);
    const bounded = range({ reverse: true, maxKvCount: 2, stopSortKey: b("b") });
    assert.deepEqual(sortKeys(bounded), ["ab", "abc"]);
    assert.equal(bounded.incomplete, true);
    const whole = range({ reverse: true });
    assert.deepEqual(sortKeys(whole), ALL_VISIBLE);
    assert.equal(whole.incomplete, false);
    // Reverse with start exclusive and stop inclusive.
    const edges = range({
      reverse: true,
      startSortKey: b("a"),
      startInclusive: false,
      stopSortKey: b("b"),
      stopInclusive: true,
    });
    assert.deepEqual(sortKeys(edges), ["ab", "abc", "b"]);
  });

  it("incomplete by count only when a visible record was left out", () => {
    const first = range({ maxKvCount: 2 });
    assert.deepEqual(sortKeys(first), ["", "a"]);
    assert.equal(first.incomplete, true);
    // After "ba" come an expired and a tombstoned record, then the stop bound.
    const upToD = range({ startSortKey: b("b"), stopSortKey: b("d"), maxKvCount: 2 });
    assert.deepEqual(sortKeys(upToD), ["b", "ba"]);
    assert.equal(upToD.incomplete, false);
    const pastD = range({ startSortKey: b("ba"), maxKvCount: 1 });
    assert.deepEqual(sortKeys(pastD), ["ba"]);
    assert.equal(pastD.incomplete, true);
    assert.equal(range({ maxKvCount: ALL_VISIBLE.length }).incomplete, false);
  });

  it("incomplete by size, counting sort keys and values (or only sort keys with noValue)", () => {
    const nine = range({ maxKvSize: 9 });
    assert.deepEqual(sortKeys(nine), ["", "a", "ab"]);
    assert.equal(nine.incomplete, true);
    assert.deepEqual(sortKeys(range({ maxKvSize: 8 })), ["", "a"]);
    const keysOnly = range({ maxKvSize: 3, noValue: true });
    assert.deepEqual(sortKeys(keysOnly), ["", "a", "ab"]);
    assert.equal(keysOnly.incomplete, true);
    // A first record larger than the budget is still returned so paging makes progress.
    const big = range({ startSortKey: b("xyz"), maxKvSize: 1 });
    assert.deepEqual(sortKeys(big), ["xyz"]);
    assert.equal(big.incomplete, true);
  });

  it("noValue returns empty values and keeps expiry", () => {
    const result = range({
      startSortKey: b("e"),
      stopSortKey: b("e"),
      stopInclusive: true,
      noValue: true,
    });
    assert.deepEqual(result.kvs, [{ sortKey: b("e"), value: b(""), expireTs: EPOCH_NOW + 60 }]);
  });

  it("engine caps bound what the request asks for", () => {
    const capped = range({ maxKvCount: 100 }, { multiGetKvCountMax: 2 });
    assert.deepEqual(sortKeys(capped), ["", "a"]);
    assert.equal(capped.incomplete, true);
    assert.deepEqual(sortKeys(range({ maxKvCount: -1 }, { multiGetKvCountMax: 1 })), [""]);
    assert.deepEqual(sortKeys(range({ maxKvSize: 0 }, { readBytesMax: 4 })), ["", "a"]);
    assert.deepEqual(sortKeys(range({ maxKvSize: 100 }, { readBytesMax: 4 })), ["", "a"]);
  });

  it("stops at scanIterationCountMax examined records, reporting incomplete", () => {
    // Examines b, ba, then the expired c: the budget is spent before d.
    const result = range({ startSortKey: b("b") }, { scanIterationCountMax: 3 });
    assert.deepEqual(sortKeys(result), ["b", "ba"]);
    assert.equal(result.incomplete, true);
    const enough = range(
      { startSortKey: b("b"), stopSortKey: b("d") },
      { scanIterationCountMax: 4 },
    );
    assert.equal(enough.incomplete, false);
  });

  it("by sort keys: sorted, deduplicated, invisible and missing left out", () => {
    const keys = ["d", "a", "missing", "c", "ca", "a", ""].map(b);
    const result = multiGet(store.db, H, keys, {}, EPOCH_NOW, limits);
    assert.deepEqual(sortKeys(result), ["", "a", "d"]);
    assert.equal(result.incomplete, false);
    assert.deepEqual(result.kvs[1], { sortKey: b("a"), value: b("va"), expireTs: 0 });
    const two = multiGet(store.db, H, keys, { maxKvCount: 2 }, EPOCH_NOW, limits);
    assert.deepEqual(sortKeys(two), ["", "a"]);
    assert.equal(two.incomplete, true);
    const exact = multiGet(
      store.db,
      H,
      ["a", "c", ""].map(b),
      { maxKvCount: 2 },
      EPOCH_NOW,
      limits,
    );
    assert.equal(exact.incomplete, false);
    const sized = multiGet(store.db, H, ["ab", "abc"].map(b), { maxKvSize: 6 }, EPOCH_NOW, limits);
    assert.deepEqual(sortKeys(sized), ["ab"]);
    assert.equal(sized.incomplete, true);
    const noValue = multiGet(store.db, H, [b("e")], { noValue: true }, EPOCH_NOW, limits);
    assert.deepEqual(noValue.kvs, [{ sortKey: b("e"), value: b(""), expireTs: EPOCH_NOW + 60 }]);
  });

  it("by sort keys: an empty list reads the whole hash key, too many keys is refused", () => {
    assert.deepEqual(sortKeys(multiGet(store.db, H, [], {}, EPOCH_NOW, limits)), ALL_VISIBLE);
    const first = multiGet(store.db, H, [], { maxKvCount: 1 }, EPOCH_NOW, limits);
    assert.deepEqual(sortKeys(first), [""]);
    assert.equal(first.incomplete, true);
    assert.throws(
      () =>
        multiGet(
          store.db,
          H,
          ["a", "b", "d"].map(b),
          {},
          EPOCH_NOW,
          limitsWith({ multiGetKvCountMax: 2 }),
        ),
      (error) =>
        isTalariaError(error, "ERR_LIMIT_EXCEEDED") && error.details.limit === "multiGetKvCountMax",
    );
  });

  it("rejects malformed options with ERR_INVALID_PARAMETERS", () => {
    const bad: unknown[] = [
      { sortKeyFilter: { type: 7, pattern: b("a") } },
      { sortKeyFilter: { type: FilterType.MATCH_PREFIX, pattern: "a" } },
      { maxKvCount: 1.5 },
      { maxKvSize: Number.NaN },
      { reverse: "yes" },
      { startSortKey: "a" },
      { stopInclusive: 1 },
    ];
    for (const options of bad) {
      assert.throws(
        () => range(options as MultiGetRangeOptions),
        isInvalid,
        JSON.stringify(options),
      );
    }
    assert.throws(
      () => multiGet(store.db, H, [b("a"), "b" as unknown as Buffer], {}, EPOCH_NOW, limits),
      isInvalid,
    );
    assert.throws(
      () => multiGet(store.db, H, [b("a")], { noValue: 0 } as never, EPOCH_NOW, limits),
      isInvalid,
    );
  });
});
