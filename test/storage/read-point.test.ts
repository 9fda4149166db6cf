import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isTalariaError } from "../../src/common/index.ts";
import {
  batchGet,
  exist,
  get,
  type ReadableStore,
  type StoreRangeOptions,
  sortKeyCount,
  TTL_NONE,
  ttl,
} from "../../src/storage/read/index.ts";
import {
  b,
  EPOCH_NOW,
  openTestStore,
  putRecords,
  rec,
  type TestStore,
  text,
} from "./read-fixture.ts";

const limits = { multiOpCountMax: 5, readBytesMax: 1000 };

describe("point reads", () => {
  let store: TestStore;
  before(() => {
    store = openTestStore();
    putRecords(store.db, [
      rec("h", "live", "v-live"),
      rec("h", "ttl", "v-ttl", { expireTs: EPOCH_NOW + 30 }),
      rec("h", "ttl1", "v-ttl1", { expireTs: EPOCH_NOW + 1 }),
      rec("h", "expired-now", "x", { expireTs: EPOCH_NOW }),
      rec("h", "expired-past", "x", { expireTs: 1 }),
      rec("h", "dead", "", { tombstone: true }),
      rec("h", "dead-with-ttl", "", { tombstone: true, expireTs: EPOCH_NOW + 100 }),
      rec("h", "", "empty-sort-key"),
      rec("", "s", "empty-hash-key"),
      rec("ha", "live", "other hash key"),
    ]);
  });
  after(() => store.close());

  it("get returns the value and expiry of visible records only", () => {
    assert.deepEqual(get(store.db, b("h"), b("live"), EPOCH_NOW), {
      value: b("v-live"),
      expireTs: 0,
    });
    assert.deepEqual(get(store.db, b("h"), b("ttl"), EPOCH_NOW), {
      value: b("v-ttl"),
      expireTs: EPOCH_NOW + 30,
    });
    assert.equal(text(get(store.db, b("h"), b(""), EPOCH_NOW)?.value ?? b("?")), "empty-sort-key");
    assert.equal(text(get(store.db, b(""), b("s"), EPOCH_NOW)?.value ?? b("?")), "empty-hash-key");
    for (const sortKey of ["missing", "expired-now", "expired-past", "dead", "dead-with-ttl"]) {
      assert.equal(get(store.db, b("h"), b(sortKey), EPOCH_NOW), undefined, sortKey);
    }
  });

  it("a record becomes invisible at the second its expireTs is reached", () => {
    assert.notEqual(get(store.db, b("h"), b("ttl1"), EPOCH_NOW), undefined);
    assert.equal(get(store.db, b("h"), b("ttl1"), EPOCH_NOW + 1), undefined);
    assert.equal(exist(store.db, b("h"), b("ttl1"), EPOCH_NOW + 1), false);
  });

  it("exist agrees with get", () => {
    assert.equal(exist(store.db, b("h"), b("live"), EPOCH_NOW), true);
    assert.equal(exist(store.db, b("h"), b(""), EPOCH_NOW), true);
    for (const sortKey of ["missing", "expired-now", "expired-past", "dead", "dead-with-ttl"]) {
      assert.equal(exist(store.db, b("h"), b(sortKey), EPOCH_NOW), false, sortKey);
    }
  });

  it("ttl: -1 without TTL, remaining seconds with one, undefined when not found", () => {
    assert.equal(TTL_NONE, -1);
    assert.equal(ttl(store.db, b("h"), b("live"), EPOCH_NOW), -1);
    assert.equal(ttl(store.db, b("h"), b("ttl"), EPOCH_NOW), 30);
    assert.equal(ttl(store.db, b("h"), b("ttl"), EPOCH_NOW + 29), 1);
    assert.equal(ttl(store.db, b("h"), b("ttl"), EPOCH_NOW + 30), undefined);
    for (const sortKey of ["missing", "expired-now", "expired-past", "dead", "dead-with-ttl"]) {
      assert.equal(ttl(store.db, b("h"), b(sortKey), EPOCH_NOW), undefined, sortKey);
    }
  });

  it("batchGet answers in request order, one slot per key, invisible records as undefined", () => {
    const keys = [
      { hashKey: b("ha"), sortKey: b("live") },
      { hashKey: b("h"), sortKey: b("dead") },
      { hashKey: b("h"), sortKey: b("ttl") },
      { hashKey: b("h"), sortKey: b("expired-now") },
      { hashKey: b("ha"), sortKey: b("live") },
    ];
    const got = batchGet(store.db, keys, EPOCH_NOW, limits);
    assert.equal(got.length, 5);
    assert.deepEqual(got[0], {
      hashKey: b("ha"),
      sortKey: b("live"),
      value: b("other hash key"),
      expireTs: 0,
    });
    assert.equal(got[1], undefined);
    assert.deepEqual(got[2], {
      hashKey: b("h"),
      sortKey: b("ttl"),
      value: b("v-ttl"),
      expireTs: EPOCH_NOW + 30,
    });
    assert.equal(got[3], undefined);
    assert.deepEqual(got[4], got[0]);
    assert.deepEqual(batchGet(store.db, [], EPOCH_NOW, limits), []);
  });

  it("batchGet refuses more keys than multiOpCountMax", () => {
    const keys = Array.from({ length: 6 }, () => ({ hashKey: b("h"), sortKey: b("live") }));
    assert.throws(
      () => batchGet(store.db, keys, EPOCH_NOW, limits),
      (error) =>
        isTalariaError(error, "ERR_LIMIT_EXCEEDED") && error.details.limit === "multiOpCountMax",
    );
  });

  it("batchGet refuses results over readBytesMax instead of truncating", () => {
    // "h" + "live" + "v-live" = 11 bytes per hit; 22 fits in 22, 33 does not.
    const two = Array.from({ length: 2 }, () => ({ hashKey: b("h"), sortKey: b("live") }));
    assert.equal(batchGet(store.db, two, EPOCH_NOW, { ...limits, readBytesMax: 22 }).length, 2);
    const three = [...two, { hashKey: b("h"), sortKey: b("live") }];
    assert.throws(
      () => batchGet(store.db, three, EPOCH_NOW, { ...limits, readBytesMax: 22 }),
      (error) =>
        isTalariaError(error, "ERR_LIMIT_EXCEEDED") && error.details.limit === "readBytesMax",
    );
  });

  it("sortKeyCount counts visible records of exactly one hash key", () => {
    // h: live, ttl, ttl1, "" are visible; "ha" and "" hash keys must not bleed in.
    assert.equal(sortKeyCount(store.db, b("h"), EPOCH_NOW), 4);
    assert.equal(sortKeyCount(store.db, b("h"), EPOCH_NOW + 1), 3);
    assert.equal(sortKeyCount(store.db, b("ha"), EPOCH_NOW), 1);
    assert.equal(sortKeyCount(store.db, b(""), EPOCH_NOW), 1);
    assert.equal(sortKeyCount(store.db, b("nope"), EPOCH_NOW), 0);
  });

  it("an over-long hash key is ERR_INVALID_HASH_KEY, a non-buffer key ERR_INVALID_PARAMETERS", () => {
    const huge = Buffer.alloc(65_536, 1);
    assert.throws(
      () => get(store.db, huge, b("s"), EPOCH_NOW),
      (e) => isTalariaError(e, "ERR_INVALID_HASH_KEY"),
    );
    assert.throws(
      () => get(store.db, "h" as unknown as Buffer, b("s"), EPOCH_NOW),
      (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"),
    );
  });

  it("works against a store without read transactions", () => {
    const fake: ReadableStore = {
      get: (key) => store.db.get(key),
      getRange: (options) => store.db.getRange(options),
    };
    const got = batchGet(fake, [{ hashKey: b("h"), sortKey: b("live") }], EPOCH_NOW, limits);
    assert.deepEqual(got[0]?.value, b("v-live"));
  });
});

describe("sortKeyCount range bounds", () => {
  it("ends at the prefix successor, or is open when the prefix is all 0xff", () => {
    // lmdb's key size limit forbids storing such hash keys, so a fake store records the range.
    const seen: StoreRangeOptions[] = [];
    const fake: ReadableStore = {
      get: () => undefined,
      getRange: (options) => {
        seen.push(options);
        return [];
      },
    };
    sortKeyCount(fake, b("a"), EPOCH_NOW);
    sortKeyCount(fake, Buffer.from([0x61, 0xff]), EPOCH_NOW);
    sortKeyCount(fake, Buffer.alloc(0xffff, 0xff), EPOCH_NOW);
    assert.deepEqual(seen[0], { start: Buffer.from([0, 1, 0x61]), end: Buffer.from([0, 1, 0x62]) });
    assert.deepEqual(seen[1], {
      start: Buffer.from([0, 2, 0x61, 0xff]),
      end: Buffer.from([0, 2, 0x62]),
    });
    assert.equal(seen[2]?.end, undefined);
  });
});
