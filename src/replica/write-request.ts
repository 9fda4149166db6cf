/**
 * Client write requests as a replica receives them, and their validation against the write limits.
 * Validation happens before a decree is assigned, so a rejected request changes nothing.
 */

import { checkHashKey } from "../codec/key-schema.ts";
import { type DuplicateEntry, type Update, UpdateKind } from "../codec/mutation.ts";
import { checkLimit, TalariaError } from "../common/errors.ts";
import { formatLimits, type WriteLimits } from "../common/limits.ts";
import type { CheckValue } from "./atomic-ops.ts";
import { type CheckType, isCheckType } from "./check-type.ts";

export interface SetRequest {
  readonly op: "set";
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
  readonly value: Buffer;
  /** Absolute expiry, seconds since 2016-01-01; 0 = none. */
  readonly expireTs: number;
}

export interface MultiSetRequest {
  readonly op: "multiSet";
  readonly hashKey: Buffer;
  readonly kvs: readonly { readonly sortKey: Buffer; readonly value: Buffer }[];
  readonly expireTs: number;
}

export interface DelRequest {
  readonly op: "del";
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
}

export interface MultiDelRequest {
  readonly op: "multiDel";
  readonly hashKey: Buffer;
  readonly sortKeys: readonly Buffer[];
}

export interface IncrRequest {
  readonly op: "incr";
  readonly hashKey: Buffer;
  readonly sortKey: Buffer;
  readonly increment: bigint;
  /** 0 keeps the record's expiry, > 0 sets this absolute expiry, < 0 clears it (Pegasus rules). */
  readonly expireTs: number;
}

export interface CheckAndSetRequest {
  readonly op: "checkAndSet";
  readonly hashKey: Buffer;
  readonly checkSortKey: Buffer;
  readonly checkType: CheckType;
  readonly checkOperand: Buffer;
  /** When false the set goes to checkSortKey. */
  readonly setDiffSortKey: boolean;
  readonly setSortKey: Buffer;
  readonly setValue: Buffer;
  readonly setExpireTs: number;
  readonly returnCheckValue: boolean;
}

export interface Mutate {
  readonly operation: "put" | "delete";
  readonly sortKey: Buffer;
  readonly value: Buffer;
  readonly expireTs: number;
}

export interface CheckAndMutateRequest {
  readonly op: "checkAndMutate";
  readonly hashKey: Buffer;
  readonly checkSortKey: Buffer;
  readonly checkType: CheckType;
  readonly checkOperand: Buffer;
  readonly mutates: readonly Mutate[];
  readonly returnCheckValue: boolean;
}

/** Writes received from a remote cluster; applied with last-write-wins. */
export interface DuplicateRequest {
  readonly op: "duplicate";
  readonly entries: readonly DuplicateEntry[];
  /**
   * The entries are a full re-sync's (a checkpoint's records, resync-sender.ts): the receiving
   * primary reports it, and the table's tombstones are held meanwhile (tombstone-holds.ts).
   */
  readonly resync?: boolean;
}

export type AtomicRequest = IncrRequest | CheckAndSetRequest | CheckAndMutateRequest;
export type WriteRequest =
  | SetRequest
  | MultiSetRequest
  | DelRequest
  | MultiDelRequest
  | AtomicRequest
  | DuplicateRequest;

/** What a replica answers for an acknowledged write. */
export interface WriteResult {
  readonly decree: number;
  /** incr: the value after the increment. */
  readonly newValue?: bigint;
  /** checkAndSet / checkAndMutate with returnCheckValue. */
  readonly checkValue?: CheckValue;
  /** duplicate: entries dropped by last-write-wins. */
  readonly staleEntriesSkipped?: number;
  /** duplicate: the receiving server's wall clock (ms), for the sender's clock-skew check. */
  readonly receiverNowMs?: number;
}

export function isAtomicRequest(request: WriteRequest): request is AtomicRequest {
  return request.op === "incr" || request.op === "checkAndSet" || request.op === "checkAndMutate";
}

function checkExpireTs(expireTs: number, allowNegative: boolean): void {
  const min = allowNegative ? -formatLimits.expireTsMax : 0;
  if (!Number.isInteger(expireTs) || expireTs < min || expireTs > formatLimits.expireTsMax) {
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `expireTs ${expireTs} is not an integer in [${min}, ${formatLimits.expireTsMax}]`,
    );
  }
}

function checkNonEmptyHashKey(hashKey: Buffer, op: string): void {
  if (hashKey.length === 0) {
    throw new TalariaError("ERR_INVALID_HASH_KEY", `${op} needs a non-empty hash key`);
  }
}

/** Accumulates a request's size while checking every key and count against the limits. */
class SizeCounter {
  bytes = 0;
  constructor(private readonly limits: WriteLimits) {}
  key(hashKey: Buffer, sortKey: Buffer): void {
    const storedKeyBytes = 2 + hashKey.length + sortKey.length;
    checkLimit(
      "storedKeyBytesMax",
      storedKeyBytes,
      formatLimits.storedKeyBytesMax,
      "stored key length (2 + hash key + sort key)",
    );
    this.bytes += sortKey.length;
  }
  count(count: number, what: string): void {
    checkLimit("multiOpCountMax", count, this.limits.multiOpCountMax, `${what} count`);
    if (count === 0) throw new TalariaError("ERR_INVALID_PARAMETERS", `${what} list is empty`);
  }
}

/** Throws a clear TalariaError when `request` breaks a limit or is malformed; returns its size. */
export function validateWrite(request: WriteRequest, limits: WriteLimits): number {
  const size = new SizeCounter(limits);
  switch (request.op) {
    case "set":
      checkHashKey(request.hashKey);
      size.key(request.hashKey, request.sortKey);
      checkExpireTs(request.expireTs, false);
      size.bytes += request.hashKey.length + request.value.length;
      break;
    case "multiSet":
      checkHashKey(request.hashKey);
      checkNonEmptyHashKey(request.hashKey, "multiSet");
      size.count(request.kvs.length, "multiSet kvs");
      checkExpireTs(request.expireTs, false);
      for (const kv of request.kvs) {
        size.key(request.hashKey, kv.sortKey);
        size.bytes += kv.value.length;
      }
      size.bytes += request.hashKey.length;
      break;
    case "del":
      checkHashKey(request.hashKey);
      size.key(request.hashKey, request.sortKey);
      size.bytes += request.hashKey.length;
      break;
    case "multiDel":
      checkHashKey(request.hashKey);
      checkNonEmptyHashKey(request.hashKey, "multiDel");
      size.count(request.sortKeys.length, "multiDel sort keys");
      for (const sortKey of request.sortKeys) size.key(request.hashKey, sortKey);
      size.bytes += request.hashKey.length;
      break;
    case "incr":
      checkHashKey(request.hashKey);
      size.key(request.hashKey, request.sortKey);
      checkExpireTs(request.expireTs, true);
      size.bytes += request.hashKey.length + 8;
      break;
    case "checkAndSet":
    case "checkAndMutate": {
      checkHashKey(request.hashKey);
      checkNonEmptyHashKey(request.hashKey, request.op);
      if (!isCheckType(request.checkType)) {
        throw new TalariaError(
          "ERR_INVALID_PARAMETERS",
          `unknown check type ${String(request.checkType)}`,
        );
      }
      size.key(request.hashKey, request.checkSortKey);
      size.bytes += request.hashKey.length + request.checkOperand.length;
      if (request.op === "checkAndSet") {
        size.key(request.hashKey, request.setSortKey);
        checkExpireTs(request.setExpireTs, false);
        size.bytes += request.setValue.length;
      } else {
        size.count(request.mutates.length, "checkAndMutate mutates");
        for (const mutate of request.mutates) {
          size.key(request.hashKey, mutate.sortKey);
          checkExpireTs(mutate.expireTs, false);
          size.bytes += mutate.value.length;
        }
      }
      break;
    }
    case "duplicate":
      size.count(request.entries.length, "duplicate entries");
      for (const entry of request.entries) checkDuplicateEntry(entry, size);
      break;
  }
  checkLimit("writeBytesMax", size.bytes, limits.writeBytesMax, "write size in bytes");
  return size.bytes;
}

function checkDuplicateEntry(entry: DuplicateEntry, size: SizeCounter): void {
  const update = entry.update;
  checkHashKey(update.hashKey);
  size.bytes += update.hashKey.length;
  switch (update.kind) {
    case UpdateKind.PUT:
      size.key(update.hashKey, update.sortKey);
      size.bytes += update.value.length;
      return;
    case UpdateKind.REMOVE:
      size.key(update.hashKey, update.sortKey);
      return;
    case UpdateKind.MULTI_PUT:
      for (const kv of update.kvs) {
        size.key(update.hashKey, kv.sortKey);
        size.bytes += kv.value.length;
      }
      return;
    case UpdateKind.MULTI_REMOVE:
      for (const sortKey of update.sortKeys) size.key(update.hashKey, sortKey);
      return;
  }
}

/** The logged update of a plain (non-atomic, non-duplicate) write. */
export function requestToUpdate(
  request: SetRequest | MultiSetRequest | DelRequest | MultiDelRequest,
): Update {
  switch (request.op) {
    case "set":
      return {
        kind: UpdateKind.PUT,
        hashKey: request.hashKey,
        sortKey: request.sortKey,
        value: request.value,
        expireTs: request.expireTs,
      };
    case "multiSet":
      return {
        kind: UpdateKind.MULTI_PUT,
        hashKey: request.hashKey,
        kvs: request.kvs,
        expireTs: request.expireTs,
      };
    case "del":
      return { kind: UpdateKind.REMOVE, hashKey: request.hashKey, sortKey: request.sortKey };
    case "multiDel":
      return {
        kind: UpdateKind.MULTI_REMOVE,
        hashKey: request.hashKey,
        sortKeys: request.sortKeys,
      };
  }
}
