/**
 * What a method handler sees. The same types serve the TCP server and the in-memory transport of
 * the simulator, so handlers run unchanged under both.
 */

export interface RequestContext {
  /** The caller's "host:port". */
  readonly remoteAddress: string;
  /** The name the caller gave in its HELLO (e.g. "talaria-shell", "replica 10.0.0.7:34801"). */
  readonly clientName: string;
  readonly method: string;
  /** When the caller stops waiting, in the server clock's milliseconds (Clock.nowMs()). */
  readonly deadlineMs: number;
  /**
   * Aborted when the deadline passes, the connection closes or the server closes; the answer is
   * then decided already, so a handler should stop work that only served it.
   */
  readonly signal: AbortSignal;
}

/**
 * Handles one request. `payload` is whatever the peer sent: validating it is the handler's job.
 * Buffers in it are views of the received bytes (no copy): copy one you keep after the request
 * (Buffer.from(view)), or it pins the whole socket read it came in.
 * Resolve with the reply payload; throw a TalariaError to answer with its code; throw DropRequest to
 * answer nothing.
 */
export type RpcHandler = (payload: unknown, context: RequestContext) => Promise<unknown>;
