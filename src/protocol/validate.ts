/**
 * Small, strict validators for payloads that arrive from peers. A peer's bad message becomes
 * ERR_INVALID_PARAMETERS naming the field — never a crash and never a half-trusted object.
 */
import { TalariaError } from "../common/errors.ts";
import { type Gpid, isNodeAddress } from "./ids.ts";

export type Fields = Readonly<Record<string, unknown>>;

/** ERR_INVALID_PARAMETERS for a field that is not what it should be. */
export class TalariaErrorForField extends TalariaError {
  constructor(field: string, expected: string, value: unknown) {
    const got = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
    super("ERR_INVALID_PARAMETERS", `${field}: expected ${expected}, got ${got}`, {
      details: { field },
    });
  }
}

function bad(field: string, expected: string, value: unknown): TalariaError {
  return new TalariaErrorForField(field, expected, value);
}

export function object(value: unknown, field: string): Fields {
  if (
    typeof value !== "object" ||
    value === null ||
    Array.isArray(value) ||
    Buffer.isBuffer(value)
  ) {
    throw bad(field, "an object", value);
  }
  return value as Fields;
}

export function bytes(value: unknown, field: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw bad(field, "bytes", value);
}

export function optionalBytes(value: unknown, field: string): Buffer | undefined {
  return value === undefined || value === null ? undefined : bytes(value, field);
}

export function integer(
  value: unknown,
  field: string,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(field, `an integer in [${min}, ${max}]`, value);
  }
  return value;
}

export function optionalInteger(
  value: unknown,
  field: string,
  min?: number,
  max?: number,
): number | undefined {
  return value === undefined || value === null ? undefined : integer(value, field, min, max);
}

export function bigint(value: unknown, field: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw bad(field, "a 64-bit integer", value);
}

export function boolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw bad(field, "a boolean", value);
  return value;
}

export function optionalBoolean(value: unknown, field: string): boolean | undefined {
  return value === undefined || value === null ? undefined : boolean(value, field);
}

export function string(value: unknown, field: string, maxLength = 4096): string {
  if (typeof value !== "string" || value.length > maxLength)
    throw bad(field, `a string of at most ${maxLength} characters`, value);
  return value;
}

export function array<T>(
  value: unknown,
  field: string,
  maxLength: number,
  item: (v: unknown, f: string) => T,
): T[] {
  if (!Array.isArray(value)) throw bad(field, "an array", value);
  if (value.length > maxLength) {
    throw new TalariaError(
      "ERR_LIMIT_EXCEEDED",
      `${field} has ${value.length} items, over ${maxLength}`,
      {
        details: { field, value: value.length, max: maxLength },
      },
    );
  }
  return value.map((v, i) => item(v, `${field}[${i}]`));
}

export function oneOf<T extends string>(value: unknown, field: string, values: readonly T[]): T {
  if (typeof value !== "string" || !(values as readonly string[]).includes(value)) {
    throw bad(field, `one of ${values.join("|")}`, value);
  }
  return value as T;
}

/** A `host:port` address. */
export function nodeAddress(value: unknown, field: string): string {
  if (!isNodeAddress(value)) throw bad(field, "a host:port address", value);
  return value;
}

/** A gpid `{ appId, partitionIndex }`. */
export function gpid(value: unknown, field: string): Gpid {
  const g = object(value, field);
  return {
    appId: integer(g.appId, `${field}.appId`, 0),
    partitionIndex: integer(g.partitionIndex, `${field}.partitionIndex`, 0),
  };
}

/** Copies only the fields that are present (for exactOptionalPropertyTypes). */
export function present<T extends object>(fields: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}
