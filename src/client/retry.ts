/**
 * When a client retries. Idempotent requests (puts, deletes, reads) retry on any retriable error
 * and on a stale route until their deadline. Atomic operations (incr, checkAndSet,
 * checkAndMutate) retry only when the server refused them before executing them
 * (`details.beforeExecution`): after a timeout their outcome is unknown, and retrying could apply
 * them twice.
 */
import { isTalariaError, type TalariaError } from "../common/errors.ts";

export const RETRY_BACKOFF_MS_MIN = 10;
export const RETRY_BACKOFF_MS_MAX = 500;

/** The error means our route may be stale: refresh the configuration before retrying. */
export function isStaleRoute(error: TalariaError): boolean {
  return (
    error.code === "ERR_INVALID_STATE" ||
    error.code === "ERR_NETWORK_FAILURE" ||
    error.code === "ERR_TIMEOUT"
  );
}

export function shouldRetry(error: unknown, idempotent: boolean): error is TalariaError {
  if (!isTalariaError(error)) return false;
  if (!idempotent) return error.details.beforeExecution === true;
  return error.retriable || isStaleRoute(error);
}

export function backoffMs(attempt: number): number {
  return Math.min(RETRY_BACKOFF_MS_MAX, RETRY_BACKOFF_MS_MIN * 2 ** attempt);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
