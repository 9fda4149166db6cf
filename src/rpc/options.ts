/**
 * Every bound the RPC layer keeps, named once with its default. docs/rpc.md (and docs/limits.md)
 * list the same names.
 */
import { TalariaError } from "../common/errors.ts";

const MiB = 1024 * 1024;

/** Longest timer Node supports (setTimeout clamps anything longer to 1 ms). */
export const TIMEOUT_MS_MAX = 2 ** 31 - 1;

export const rpcDefaults = {
  /**
   * Largest frame body sent or accepted (16 MiB). A peer announcing more is disconnected before
   * any of the body is buffered; a call whose request would be larger fails ERR_LIMIT_EXCEEDED.
   */
  frameBytesMax: 16 * MiB,
  /**
   * Requests one connection may have being handled at once on a server (1,024); the next one is
   * answered ERR_BUSY without running. A request leaves the count when it is answered or its
   * deadline passes.
   */
  inflightPerConnectionMax: 1024,
  /** Calls one client connection may have waiting for a reply (1,024); more fail ERR_BUSY. */
  pendingCallsPerConnectionMax: 1024,
  /** Time to open a TCP connection and finish the handshake (5 s); then ERR_NETWORK_FAILURE. */
  connectTimeoutMs: 5000,
  /** How long a server waits for a new connection's HELLO before closing it (5 s). */
  handshakeTimeoutMs: 5000,
  /** Deadline of a call that does not set `timeoutMs` (5 s). */
  callTimeoutMs: 5000,
  /**
   * Bytes written to a socket but not yet taken by the kernel (64 MiB). A client refuses new
   * calls with ERR_BUSY past it; a server closes a connection whose peer does not read its replies.
   */
  writeBufferBytesMax: 64 * MiB,
  /** Connections a server accepts at once (4,096); the operating system closes extra ones. */
  connectionsMax: 4096,
  /**
   * Calls in a row that time out on a client connection while nothing at all arrives on it (2):
   * the connection is then closed, and the next call opens a new one. On a cut link a TCP
   * connection can look open for minutes; a slow server that still answers other calls does not
   * count.
   */
  silentTimeoutsBeforeClose: 2,
} as const;

export type RpcLimits = { -readonly [K in keyof typeof rpcDefaults]: number };

export function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", `${name} must be an integer in [1, ${max}]`, {
      details: { option: name, value },
    });
  }
  return value;
}

/** Checks a timeout option: a whole number of milliseconds Node's timers can hold. */
export function timeoutOption(name: string, value: number): number {
  return positiveInteger(name, value, TIMEOUT_MS_MAX);
}
