/**
 * Reusable fast-check arbitraries for codec types. Byte fields are real `Buffer`s (not bare
 * Uint8Arrays) so generated values deep-equal what the decoders return. Sizes are kept small so
 * properties run many cases quickly; they still cover empty fields and every byte value.
 */
import fc from "fast-check";
import {
  type DuplicableUpdate,
  type DuplicateEntry,
  type DuplicateUpdate,
  type EmptyUpdate,
  type MultiPutUpdate,
  type MultiRemoveUpdate,
  type Mutation,
  type PutUpdate,
  type RemoveUpdate,
  type Update,
  UpdateKind,
} from "../../src/codec/index.ts";
import { formatLimits } from "../../src/common/limits.ts";

/** Default byte-field length bound: small enough for speed, large enough to cross u8 lengths. */
export const BYTES_LENGTH_MAX = 300;
/** Most kvs / sort keys / entries / updates in one generated collection. */
export const COLLECTION_LENGTH_MAX = 4;

/**
 * fc.record with plain prototypes: fast-check may otherwise generate null-prototype objects, which
 * never deep-equal (strictly) the plain objects the decoders build.
 */
function plainRecord<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

export function arbBuffer(maxLength = BYTES_LENGTH_MAX, minLength = 0): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ minLength, maxLength }).map((bytes) => Buffer.from(bytes));
}

/** Hash keys include the empty key (partitioned by sort key). */
export const arbHashKey: fc.Arbitrary<Buffer> = arbBuffer(32);
export const arbSortKey: fc.Arbitrary<Buffer> = arbBuffer(32);
export const arbValue: fc.Arbitrary<Buffer> = arbBuffer();

/** µs since the Unix epoch; any safe integer is a legal encoding. */
export const arbTimestampUs: fc.Arbitrary<number> = fc.maxSafeNat();
export const arbDecree: fc.Arbitrary<number> = fc.maxSafeNat();
export const arbBallot: fc.Arbitrary<number> = fc.maxSafeNat();
/** 0 (no TTL) is weighted in because it is the common case. */
export const arbExpireTs: fc.Arbitrary<number> = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: formatLimits.expireTsMax }),
);
export const arbClusterId: fc.Arbitrary<number> = fc.integer({
  min: 1,
  max: formatLimits.clusterIdMax,
});

export const arbPutUpdate: fc.Arbitrary<PutUpdate> = plainRecord({
  kind: fc.constant(UpdateKind.PUT),
  hashKey: arbHashKey,
  sortKey: arbSortKey,
  value: arbValue,
  expireTs: arbExpireTs,
});

export const arbRemoveUpdate: fc.Arbitrary<RemoveUpdate> = plainRecord({
  kind: fc.constant(UpdateKind.REMOVE),
  hashKey: arbHashKey,
  sortKey: arbSortKey,
});

/** At least one kv, as a real multiSet carries. */
export const arbMultiPutUpdate: fc.Arbitrary<MultiPutUpdate> = plainRecord({
  kind: fc.constant(UpdateKind.MULTI_PUT),
  hashKey: arbHashKey,
  kvs: fc.array(plainRecord({ sortKey: arbSortKey, value: arbValue }), {
    minLength: 1,
    maxLength: COLLECTION_LENGTH_MAX,
  }),
  expireTs: arbExpireTs,
});

/** At least one sort key, as a real multiDel carries. */
export const arbMultiRemoveUpdate: fc.Arbitrary<MultiRemoveUpdate> = plainRecord({
  kind: fc.constant(UpdateKind.MULTI_REMOVE),
  hashKey: arbHashKey,
  sortKeys: fc.array(arbSortKey, { minLength: 1, maxLength: COLLECTION_LENGTH_MAX }),
});

export const arbDuplicableUpdate: fc.Arbitrary<DuplicableUpdate> = fc.oneof(
  arbPutUpdate,
  arbRemoveUpdate,
  arbMultiPutUpdate,
  arbMultiRemoveUpdate,
);

/** A duplicated write from a remote cluster; clusterId is 1..127. */
export const arbDuplicateEntry: fc.Arbitrary<DuplicateEntry> = plainRecord({
  timestampUs: arbTimestampUs,
  clusterId: arbClusterId,
  update: arbDuplicableUpdate,
});

/** A DUPLICATE update; a quarter of them a re-sync's (`resync: true`; the field absent otherwise). */
export const arbDuplicateUpdate: fc.Arbitrary<DuplicateUpdate> = fc
  .tuple(
    fc.array(arbDuplicateEntry, { minLength: 1, maxLength: COLLECTION_LENGTH_MAX }),
    fc.integer({ min: 0, max: 3 }),
  )
  .map(
    ([entries, pick]): DuplicateUpdate =>
      pick === 0
        ? { kind: UpdateKind.DUPLICATE, entries, resync: true }
        : { kind: UpdateKind.DUPLICATE, entries },
  );

export const arbEmptyUpdate: fc.Arbitrary<EmptyUpdate> = fc.constant({ kind: UpdateKind.EMPTY });

export const arbUpdate: fc.Arbitrary<Update> = fc.oneof(
  arbDuplicableUpdate,
  arbDuplicateUpdate,
  arbEmptyUpdate,
);

export interface MutationArbOptions {
  /** Fix the decree (e.g. to build a log of consecutive decrees); arbitrary when omitted. */
  readonly decree?: number;
  readonly ballot?: number;
  readonly updates?: fc.Arbitrary<Update>;
}

/** A mutation with 1..COLLECTION_LENGTH_MAX updates. */
export function arbMutation(options: MutationArbOptions = {}): fc.Arbitrary<Mutation> {
  return plainRecord({
    ballot: options.ballot === undefined ? arbBallot : fc.constant(options.ballot),
    decree: options.decree === undefined ? arbDecree : fc.constant(options.decree),
    timestampUs: arbTimestampUs,
    updates: fc.array(options.updates ?? arbUpdate, {
      minLength: 1,
      maxLength: COLLECTION_LENGTH_MAX,
    }),
  });
}
