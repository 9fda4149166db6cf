/**
 * Turns request payloads received from the network (unknown shapes) into typed requests, and
 * executes reads. Anything malformed is ERR_INVALID_PARAMETERS naming the field; nothing a peer
 * sends can crash the server. Limits are checked later by validateWrite and the read functions.
 */
import { type DuplicableUpdate, type DuplicateEntry, UpdateKind } from "../codec/mutation.ts";
import { formatLimits } from "../common/limits.ts";
import type { ReadRequest, ReadResponse } from "../protocol/client-messages.ts";
import * as v from "../protocol/validate.ts";
import type { FilterType, KeyFilter, MultiGetRangeOptions, ScanOptions } from "../storage/types.ts";
import { type CheckType, isCheckType } from "./check-type.ts";
import type { ReplicaReads } from "./replica-reads.ts";
import type { Mutate, WriteRequest } from "./write-request.ts";

/** Upper bound on list lengths accepted before limits apply (limits are checked precisely later). */
const LIST_ITEMS_MAX = 100_000;

function checkType(value: unknown, field: string): CheckType {
  if (!isCheckType(value)) throw new v.TalariaErrorForField(field, "a check type 0..17", value);
  return value;
}

function expireTs(value: unknown, field: string): number {
  return v.integer(value ?? 0, field, -formatLimits.expireTsMax, formatLimits.expireTsMax);
}

function mutate(value: unknown, field: string): Mutate {
  const m = v.object(value, field);
  return {
    operation: v.oneOf(m.operation, `${field}.operation`, ["put", "delete"] as const),
    sortKey: v.bytes(m.sortKey, `${field}.sortKey`),
    value: v.optionalBytes(m.value, `${field}.value`) ?? Buffer.alloc(0),
    expireTs: expireTs(m.expireTs, `${field}.expireTs`),
  };
}

function duplicableUpdate(value: unknown, field: string): DuplicableUpdate {
  const u = v.object(value, field);
  const hashKey = v.bytes(u.hashKey, `${field}.hashKey`);
  switch (u.kind) {
    case UpdateKind.PUT:
      return {
        kind: UpdateKind.PUT,
        hashKey,
        sortKey: v.bytes(u.sortKey, `${field}.sortKey`),
        value: v.bytes(u.value, `${field}.value`),
        expireTs: expireTs(u.expireTs, `${field}.expireTs`),
      };
    case UpdateKind.REMOVE:
      return { kind: UpdateKind.REMOVE, hashKey, sortKey: v.bytes(u.sortKey, `${field}.sortKey`) };
    case UpdateKind.MULTI_PUT:
      return {
        kind: UpdateKind.MULTI_PUT,
        hashKey,
        kvs: v.array(u.kvs, `${field}.kvs`, LIST_ITEMS_MAX, (kv, f) => {
          const o = v.object(kv, f);
          return {
            sortKey: v.bytes(o.sortKey, `${f}.sortKey`),
            value: v.bytes(o.value, `${f}.value`),
          };
        }),
        expireTs: expireTs(u.expireTs, `${field}.expireTs`),
      };
    case UpdateKind.MULTI_REMOVE:
      return {
        kind: UpdateKind.MULTI_REMOVE,
        hashKey,
        sortKeys: v.array(u.sortKeys, `${field}.sortKeys`, LIST_ITEMS_MAX, v.bytes),
      };
    default:
      throw new v.TalariaErrorForField(
        `${field}.kind`,
        "PUT, REMOVE, MULTI_PUT or MULTI_REMOVE",
        u.kind,
      );
  }
}

function duplicateEntry(value: unknown, field: string): DuplicateEntry {
  const e = v.object(value, field);
  return {
    timestampUs: v.integer(e.timestampUs, `${field}.timestampUs`, 0),
    clusterId: v.integer(e.clusterId, `${field}.clusterId`, 0, formatLimits.clusterIdMax),
    update: duplicableUpdate(e.update, `${field}.update`),
  };
}

export function decodeWriteRequest(value: unknown): WriteRequest {
  const r = v.object(value, "request");
  const hashKey = (): Buffer => v.bytes(r.hashKey, "request.hashKey");
  const sortKey = (name = "sortKey"): Buffer => v.bytes(r[name], `request.${name}`);
  switch (r.op) {
    case "set":
      return {
        op: "set",
        hashKey: hashKey(),
        sortKey: sortKey(),
        value: v.bytes(r.value, "request.value"),
        expireTs: expireTs(r.expireTs, "request.expireTs"),
      };
    case "multiSet":
      return {
        op: "multiSet",
        hashKey: hashKey(),
        kvs: v.array(r.kvs, "request.kvs", LIST_ITEMS_MAX, (kv, f) => {
          const o = v.object(kv, f);
          return {
            sortKey: v.bytes(o.sortKey, `${f}.sortKey`),
            value: v.bytes(o.value, `${f}.value`),
          };
        }),
        expireTs: expireTs(r.expireTs, "request.expireTs"),
      };
    case "del":
      return { op: "del", hashKey: hashKey(), sortKey: sortKey() };
    case "multiDel":
      return {
        op: "multiDel",
        hashKey: hashKey(),
        sortKeys: v.array(r.sortKeys, "request.sortKeys", LIST_ITEMS_MAX, v.bytes),
      };
    case "incr":
      return {
        op: "incr",
        hashKey: hashKey(),
        sortKey: sortKey(),
        increment: v.bigint(r.increment, "request.increment"),
        expireTs: expireTs(r.expireTs, "request.expireTs"),
      };
    case "checkAndSet":
      return {
        op: "checkAndSet",
        hashKey: hashKey(),
        checkSortKey: sortKey("checkSortKey"),
        checkType: checkType(r.checkType, "request.checkType"),
        checkOperand: v.optionalBytes(r.checkOperand, "request.checkOperand") ?? Buffer.alloc(0),
        setDiffSortKey: v.optionalBoolean(r.setDiffSortKey, "request.setDiffSortKey") ?? false,
        setSortKey: v.optionalBytes(r.setSortKey, "request.setSortKey") ?? Buffer.alloc(0),
        setValue: v.bytes(r.setValue, "request.setValue"),
        setExpireTs: expireTs(r.setExpireTs, "request.setExpireTs"),
        returnCheckValue:
          v.optionalBoolean(r.returnCheckValue, "request.returnCheckValue") ?? false,
      };
    case "checkAndMutate":
      return {
        op: "checkAndMutate",
        hashKey: hashKey(),
        checkSortKey: sortKey("checkSortKey"),
        checkType: checkType(r.checkType, "request.checkType"),
        checkOperand: v.optionalBytes(r.checkOperand, "request.checkOperand") ?? Buffer.alloc(0),
        mutates: v.array(r.mutates, "request.mutates", LIST_ITEMS_MAX, mutate),
        returnCheckValue:
          v.optionalBoolean(r.returnCheckValue, "request.returnCheckValue") ?? false,
      };
    case "duplicate":
      return {
        op: "duplicate",
        entries: v.array(r.entries, "request.entries", LIST_ITEMS_MAX, duplicateEntry),
        ...(v.optionalBoolean(r.resync, "request.resync") === true ? { resync: true } : {}),
      };
    default:
      throw new v.TalariaErrorForField("request.op", "a write operation", r.op);
  }
}

function keyFilter(value: unknown, field: string): KeyFilter | undefined {
  if (value === undefined || value === null) return undefined;
  const f = v.object(value, field);
  return {
    type: v.integer(f.type, `${field}.type`, 0, 3) as FilterType,
    pattern: v.bytes(f.pattern, `${field}.pattern`),
  };
}

function fullKey(value: unknown, field: string): { hashKey: Buffer; sortKey: Buffer } {
  const k = v.object(value, field);
  return {
    hashKey: v.bytes(k.hashKey, `${field}.hashKey`),
    sortKey: v.bytes(k.sortKey, `${field}.sortKey`),
  };
}

function rangeOptions(value: unknown, field: string): MultiGetRangeOptions {
  const o = v.object(value ?? {}, field);
  return v.present<MultiGetRangeOptions>({
    startSortKey: v.optionalBytes(o.startSortKey, `${field}.startSortKey`),
    stopSortKey: v.optionalBytes(o.stopSortKey, `${field}.stopSortKey`),
    startInclusive: v.optionalBoolean(o.startInclusive, `${field}.startInclusive`),
    stopInclusive: v.optionalBoolean(o.stopInclusive, `${field}.stopInclusive`),
    sortKeyFilter: keyFilter(o.sortKeyFilter, `${field}.sortKeyFilter`),
    maxKvCount: v.optionalInteger(o.maxKvCount, `${field}.maxKvCount`),
    maxKvSize: v.optionalInteger(o.maxKvSize, `${field}.maxKvSize`),
    reverse: v.optionalBoolean(o.reverse, `${field}.reverse`),
    noValue: v.optionalBoolean(o.noValue, `${field}.noValue`),
  });
}

function scanOptions(value: unknown, field: string): ScanOptions {
  const o = v.object(value ?? {}, field);
  return v.present<ScanOptions>({
    startKey:
      o.startKey === undefined || o.startKey === null
        ? undefined
        : fullKey(o.startKey, `${field}.startKey`),
    stopKey:
      o.stopKey === undefined || o.stopKey === null
        ? undefined
        : fullKey(o.stopKey, `${field}.stopKey`),
    startInclusive: v.optionalBoolean(o.startInclusive, `${field}.startInclusive`),
    stopInclusive: v.optionalBoolean(o.stopInclusive, `${field}.stopInclusive`),
    hashKeyFilter: keyFilter(o.hashKeyFilter, `${field}.hashKeyFilter`),
    sortKeyFilter: keyFilter(o.sortKeyFilter, `${field}.sortKeyFilter`),
    batchSize: v.optionalInteger(o.batchSize, `${field}.batchSize`),
    noValue: v.optionalBoolean(o.noValue, `${field}.noValue`),
  });
}

export function decodeReadRequest(value: unknown): ReadRequest {
  const r = v.object(value, "read");
  const hashKey = (): Buffer => v.bytes(r.hashKey, "read.hashKey");
  switch (r.op) {
    case "get":
    case "exist":
    case "ttl":
      return { op: r.op, hashKey: hashKey(), sortKey: v.bytes(r.sortKey, "read.sortKey") };
    case "multiGet":
      return {
        op: "multiGet",
        hashKey: hashKey(),
        sortKeys: v.array(r.sortKeys ?? [], "read.sortKeys", LIST_ITEMS_MAX, v.bytes),
        ...v.present<{ maxKvCount?: number; maxKvSize?: number; noValue?: boolean }>({
          maxKvCount: v.optionalInteger(r.maxKvCount, "read.maxKvCount"),
          maxKvSize: v.optionalInteger(r.maxKvSize, "read.maxKvSize"),
          noValue: v.optionalBoolean(r.noValue, "read.noValue"),
        }),
      };
    case "multiGetRange":
      return {
        op: "multiGetRange",
        hashKey: hashKey(),
        options: rangeOptions(r.options, "read.options"),
      };
    case "batchGet":
      return { op: "batchGet", keys: v.array(r.keys, "read.keys", LIST_ITEMS_MAX, fullKey) };
    case "sortKeyCount":
      return { op: "sortKeyCount", hashKey: hashKey() };
    case "scan":
      return { op: "scan", options: scanOptions(r.options, "read.options") };
    case "scanNext":
      return {
        op: "scanNext",
        continuationToken: v.string(r.continuationToken, "read.continuationToken", 1 << 20),
      };
    default:
      throw new v.TalariaErrorForField("read.op", "a read operation", r.op);
  }
}

export function executeRead(reads: ReplicaReads, read: ReadRequest): ReadResponse {
  switch (read.op) {
    case "get": {
      const found = reads.get(read.hashKey, read.sortKey);
      return found === undefined ? {} : { value: found.value, expireTs: found.expireTs };
    }
    case "exist":
      return { exists: reads.exist(read.hashKey, read.sortKey) };
    case "ttl": {
      const ttlSeconds = reads.ttl(read.hashKey, read.sortKey);
      return ttlSeconds === undefined ? {} : { ttlSeconds };
    }
    case "multiGet":
      return reads.multiGet(
        read.hashKey,
        read.sortKeys,
        v.present({
          maxKvCount: read.maxKvCount,
          maxKvSize: read.maxKvSize,
          noValue: read.noValue,
        }),
      );
    case "multiGetRange":
      return reads.multiGetRange(read.hashKey, read.options);
    case "batchGet":
      return { results: reads.batchGet(read.keys).map((kv) => kv ?? null) };
    case "sortKeyCount":
      return { count: reads.sortKeyCount(read.hashKey) };
    case "scan":
      return reads.scan(read.options);
    case "scanNext":
      return reads.scanNext(read.continuationToken);
  }
}
