/**
 * Validation of read options that may arrive from the wire, where TypeScript types promise nothing.
 * Every failure is ERR_INVALID_PARAMETERS naming the option, so callers can fix the request.
 */
import { Buffer } from "node:buffer";
import { TalariaError } from "../../common/index.ts";

export function invalidParameter(option: string, message: string, cause?: unknown): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", `${option}: ${message}`, {
    details: { option },
    ...(cause === undefined ? {} : { cause }),
  });
}

export function checkOptionalInteger(value: unknown, option: string): void {
  if (value !== undefined && !Number.isSafeInteger(value)) {
    throw invalidParameter(option, `expected an integer, got ${String(value)}`);
  }
}

export function checkOptionalBoolean(value: unknown, option: string): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw invalidParameter(option, `expected a boolean, got ${typeof value}`);
  }
}

export function checkBytes(value: unknown, option: string): void {
  if (!(value instanceof Uint8Array)) {
    throw invalidParameter(option, "expected a Buffer");
  }
}

export function checkOptionalBytes(value: unknown, option: string): void {
  if (value !== undefined) checkBytes(value, option);
}

/**
 * Pegasus convention for `max_kv_count` / `max_kv_size`: absent or <= 0 means "the engine's
 * maximum"; a larger request is silently capped by the engine's maximum, not refused.
 */
export function effectiveMax(requested: number | undefined, engineMax: number): number {
  if (requested === undefined || requested <= 0) return engineMax;
  return Math.min(requested, engineMax);
}

/** Views any Uint8Array as a Buffer without copying, so Buffer comparison methods apply. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
