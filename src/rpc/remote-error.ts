/**
 * How errors cross the wire. A handler's TalariaError travels as `{ code, message, details,
 * retriable }` and is rethrown on the client as a TalariaError with the same code, so callers match
 * on codes whether the error was raised locally or remotely.
 *
 * A code this build does not know (the peer runs a newer catalogue) becomes ERR_INVALID_STATE with
 * the peer's code in `details.remoteCode`. Not ERR_NETWORK_FAILURE: the request reached the peer and
 * was answered, so reporting "lost before the answer arrived" would make callers retry a request
 * whose outcome is known. Retriability follows the flag the peer sent (false when absent), since
 * only the peer knows what its code means.
 */
import {
  type ErrorCode,
  type ErrorDetails,
  errorCatalogue,
  TalariaError,
} from "../common/errors.ts";
import type { WireError } from "./wire.ts";

/**
 * Thrown by a handler to answer nothing at all: the caller sees its own ERR_TIMEOUT. Meant for
 * Pegasus-style deny in `timeout` mode, where a throttled client must not learn it was throttled.
 */
export class DropRequest extends Error {
  override readonly name = "DropRequest";

  constructor(reason = "request dropped without reply") {
    super(reason);
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalogue, code);
}

/** The wire form of an error a handler threw (the caller decides what to do with non-Talaria ones). */
export function toWireError(error: TalariaError): WireError {
  const prefix = `${error.code}: `;
  const message = error.message.startsWith(prefix)
    ? error.message.slice(prefix.length)
    : error.message;
  return { code: error.code, message, details: error.details, retriable: error.retriable };
}

/** The generic answer to a handler failure that is not a TalariaError (its stack is only logged). */
export function internalWireError(): WireError {
  return { code: "ERR_INVALID_STATE", message: "internal error", details: {}, retriable: false };
}

/** Rebuilds the TalariaError a peer answered with. */
export function fromWireError(wire: WireError, address: string): TalariaError {
  if (isErrorCode(wire.code)) {
    const options: { details: ErrorDetails; retriable?: boolean } = { details: wire.details };
    if (wire.retriable !== undefined) options.retriable = wire.retriable;
    return new TalariaError(wire.code, wire.message, options);
  }
  return new TalariaError(
    "ERR_INVALID_STATE",
    `${address} answered ${wire.code}: ${wire.message}`,
    {
      details: { remoteCode: wire.code, remoteDetails: wire.details },
      retriable: wire.retriable ?? false,
    },
  );
}
