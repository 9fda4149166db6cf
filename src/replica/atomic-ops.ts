/**
 * Atomic operations resolved to idempotent updates. The primary evaluates incr, checkAndSet and
 * checkAndMutate against the current visible state and logs only the puts and removes they
 * produce, so log replay, learners and duplication never evaluate them again (and duplicated
 * tables can accept them — Pegasus rejects them with ERR_OPERATION_DISABLED). Pure: the caller
 * supplies a reader of the current state and guarantees nothing changes it during evaluation.
 */

import { type PutUpdate, type Update, UpdateKind } from "../codec/mutation.ts";
import { TalariaError } from "../common/errors.ts";
import { evaluateCheck } from "./check-type.ts";
import { formatInt64, INT64_MAX, INT64_MIN, parseInt64 } from "./int64.ts";
import type { CheckAndMutateRequest, CheckAndSetRequest, IncrRequest } from "./write-request.ts";

/** The visible record (neither expired nor a tombstone), or undefined. */
export interface VisibleRecord {
  readonly value: Buffer;
  readonly expireTs: number;
}

export type RecordReader = (hashKey: Buffer, sortKey: Buffer) => VisibleRecord | undefined;

export interface CheckValue {
  readonly exists: boolean;
  readonly value?: Buffer;
}

export interface IncrResolution {
  readonly update: PutUpdate;
  readonly newValue: bigint;
}

export function resolveIncr(request: IncrRequest, read: RecordReader): IncrResolution {
  const current = read(request.hashKey, request.sortKey);
  let oldValue = 0n;
  if (current !== undefined && current.value.length > 0) {
    const parsed = parseInt64(current.value);
    if (parsed === undefined) {
      throw new TalariaError(
        "ERR_INVALID_ARGUMENT",
        "incr on a value that is not a 64-bit integer",
        {
          details: { value: current.value.toString("latin1").slice(0, 64) },
        },
      );
    }
    oldValue = parsed;
  }
  const newValue = oldValue + request.increment;
  if (newValue > INT64_MAX || newValue < INT64_MIN) {
    throw new TalariaError(
      "ERR_INVALID_ARGUMENT",
      `incr overflows int64: ${oldValue} + ${request.increment}`,
    );
  }
  const expireTs =
    request.expireTs > 0 ? request.expireTs : request.expireTs < 0 ? 0 : (current?.expireTs ?? 0);
  return {
    newValue,
    update: {
      kind: UpdateKind.PUT,
      hashKey: request.hashKey,
      sortKey: request.sortKey,
      value: formatInt64(newValue),
      expireTs,
    },
  };
}

export type CheckResolution =
  | { readonly passed: true; readonly updates: readonly Update[]; readonly checkValue?: CheckValue }
  | { readonly passed: false; readonly checkValue?: CheckValue };

function check(
  request: CheckAndSetRequest | CheckAndMutateRequest,
  read: RecordReader,
): { passed: boolean; checkValue?: CheckValue } {
  const current = read(request.hashKey, request.checkSortKey);
  const passed = evaluateCheck(request.checkType, current?.value, request.checkOperand);
  if (!request.returnCheckValue) return { passed };
  return {
    passed,
    checkValue: current === undefined ? { exists: false } : { exists: true, value: current.value },
  };
}

export function resolveCheckAndSet(
  request: CheckAndSetRequest,
  read: RecordReader,
): CheckResolution {
  const outcome = check(request, read);
  if (!outcome.passed) return { ...outcome, passed: false };
  const update: PutUpdate = {
    kind: UpdateKind.PUT,
    hashKey: request.hashKey,
    sortKey: request.setDiffSortKey ? request.setSortKey : request.checkSortKey,
    value: request.setValue,
    expireTs: request.setExpireTs,
  };
  return { ...outcome, passed: true, updates: [update] };
}

export function resolveCheckAndMutate(
  request: CheckAndMutateRequest,
  read: RecordReader,
): CheckResolution {
  const outcome = check(request, read);
  if (!outcome.passed) return { ...outcome, passed: false };
  const updates: Update[] = request.mutates.map((mutate) =>
    mutate.operation === "put"
      ? {
          kind: UpdateKind.PUT,
          hashKey: request.hashKey,
          sortKey: mutate.sortKey,
          value: mutate.value,
          expireTs: mutate.expireTs,
        }
      : { kind: UpdateKind.REMOVE, hashKey: request.hashKey, sortKey: mutate.sortKey },
  );
  return { ...outcome, passed: true, updates };
}
