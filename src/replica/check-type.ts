/**
 * The 17 check types of checkAndSet / checkAndMutate (Pegasus `cas_check_type`, same wire values)
 * and their evaluation against the current value. A check on a missing (or expired) record passes
 * only for NO_CHECK, VALUE_NOT_EXIST and VALUE_NOT_EXIST_OR_EMPTY. INT_* checks parse both sides as
 * signed 64-bit decimal integers; a stored value or operand that does not parse is
 * ERR_INVALID_ARGUMENT, as in Pegasus.
 */
import { TalariaError } from "../common/errors.ts";
import { parseInt64 } from "./int64.ts";

export const CheckType = {
  NO_CHECK: 0,
  VALUE_NOT_EXIST: 1,
  VALUE_NOT_EXIST_OR_EMPTY: 2,
  VALUE_EXIST: 3,
  VALUE_NOT_EMPTY: 4,
  VALUE_MATCH_ANYWHERE: 5,
  VALUE_MATCH_PREFIX: 6,
  VALUE_MATCH_POSTFIX: 7,
  VALUE_BYTES_LESS: 8,
  VALUE_BYTES_LESS_OR_EQUAL: 9,
  VALUE_BYTES_EQUAL: 10,
  VALUE_BYTES_GREATER_OR_EQUAL: 11,
  VALUE_BYTES_GREATER: 12,
  VALUE_INT_LESS: 13,
  VALUE_INT_LESS_OR_EQUAL: 14,
  VALUE_INT_EQUAL: 15,
  VALUE_INT_GREATER_OR_EQUAL: 16,
  VALUE_INT_GREATER: 17,
} as const;
export type CheckType = (typeof CheckType)[keyof typeof CheckType];

const checkTypeValues = new Set<number>(Object.values(CheckType));

export function isCheckType(value: unknown): value is CheckType {
  return typeof value === "number" && checkTypeValues.has(value);
}

function compareOutcome(checkType: CheckType, order: number): boolean {
  switch (checkType) {
    case CheckType.VALUE_BYTES_LESS:
    case CheckType.VALUE_INT_LESS:
      return order < 0;
    case CheckType.VALUE_BYTES_LESS_OR_EQUAL:
    case CheckType.VALUE_INT_LESS_OR_EQUAL:
      return order <= 0;
    case CheckType.VALUE_BYTES_EQUAL:
    case CheckType.VALUE_INT_EQUAL:
      return order === 0;
    case CheckType.VALUE_BYTES_GREATER_OR_EQUAL:
    case CheckType.VALUE_INT_GREATER_OR_EQUAL:
      return order >= 0;
    case CheckType.VALUE_BYTES_GREATER:
    case CheckType.VALUE_INT_GREATER:
      return order > 0;
    default:
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `check type ${checkType} is not a comparison`,
      );
  }
}

function parseIntSide(bytes: Buffer, side: string): bigint {
  const parsed = parseInt64(bytes);
  if (parsed === undefined) {
    throw new TalariaError("ERR_INVALID_ARGUMENT", `${side} is not a 64-bit integer`, {
      details: { [side]: bytes.toString("latin1").slice(0, 64) },
    });
  }
  return parsed;
}

/**
 * Whether the check passes. `current` is the visible value of the check record, or undefined when
 * it is missing or expired.
 */
export function evaluateCheck(
  checkType: CheckType,
  current: Buffer | undefined,
  operand: Buffer,
): boolean {
  switch (checkType) {
    case CheckType.NO_CHECK:
      return true;
    case CheckType.VALUE_NOT_EXIST:
      return current === undefined;
    case CheckType.VALUE_NOT_EXIST_OR_EMPTY:
      return current === undefined || current.length === 0;
    case CheckType.VALUE_EXIST:
      return current !== undefined;
    case CheckType.VALUE_NOT_EMPTY:
      return current !== undefined && current.length > 0;
    case CheckType.VALUE_MATCH_ANYWHERE:
      return current?.includes(operand) ?? false;
    case CheckType.VALUE_MATCH_PREFIX:
      return current?.subarray(0, operand.length).equals(operand) ?? false;
    case CheckType.VALUE_MATCH_POSTFIX:
      return (
        current !== undefined &&
        current.length >= operand.length &&
        current.subarray(current.length - operand.length).equals(operand)
      );
    case CheckType.VALUE_BYTES_LESS:
    case CheckType.VALUE_BYTES_LESS_OR_EQUAL:
    case CheckType.VALUE_BYTES_EQUAL:
    case CheckType.VALUE_BYTES_GREATER_OR_EQUAL:
    case CheckType.VALUE_BYTES_GREATER:
      return current !== undefined && compareOutcome(checkType, Buffer.compare(current, operand));
    case CheckType.VALUE_INT_LESS:
    case CheckType.VALUE_INT_LESS_OR_EQUAL:
    case CheckType.VALUE_INT_EQUAL:
    case CheckType.VALUE_INT_GREATER_OR_EQUAL:
    case CheckType.VALUE_INT_GREATER: {
      const operandInt = parseIntSide(operand, "checkOperand");
      if (current === undefined) return false;
      const currentInt = parseIntSide(current, "checkValue");
      return compareOutcome(
        checkType,
        currentInt < operandInt ? -1 : currentInt > operandInt ? 1 : 0,
      );
    }
  }
}
