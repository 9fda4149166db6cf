/**
 * The transport port: what distributed code (client, meta server, replicas, duplication) depends
 * on to call another process. RpcClient implements it over TCP; the deterministic simulator
 * implements it in memory. Errors are TalariaErrors: the peer's own code, or ERR_TIMEOUT /
 * ERR_NETWORK_FAILURE / ERR_BUSY from the transport.
 */
export interface CallOptions {
  /** How long to wait for the answer, in ms (default: the implementation's callTimeoutMs). */
  readonly timeoutMs?: number;
}

export interface Transport {
  /** Calls `method` on the process at `address` ("host:port") and resolves to its reply payload. */
  call(address: string, method: string, payload: unknown, options?: CallOptions): Promise<unknown>;
  /**
   * Sends a one-way message: no answer, no outcome reported (a lost message is the sender's to
   * resend). Optional: where absent, callers make a call and ignore its answer.
   */
  notify?(address: string, method: string, payload: unknown, options?: CallOptions): void;
}
