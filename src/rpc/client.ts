/**
 * RpcClient: the TCP Transport. One connection per address, opened on first use and reopened on
 * the next call after it fails; many calls in flight on it, matched by id.
 */

import { isTalariaError, TalariaError } from "../common/errors.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import { parseAddress } from "./address.ts";
import { ClientConnection, type ClientShared } from "./client-connection.ts";
import { positiveInteger, rpcDefaults, timeoutOption } from "./options.ts";
import type { RpcMetrics } from "./rpc-metrics.ts";
import type { CallOptions, Transport } from "./transport.ts";

export interface RpcClientOptions {
  /** Sent to servers in the handshake and shown in their logs (e.g. "talaria-shell"). */
  readonly name?: string;
  readonly frameBytesMax?: number;
  readonly pendingCallsPerConnectionMax?: number;
  readonly connectTimeoutMs?: number;
  /** Deadline of calls that do not pass `timeoutMs`. */
  readonly callTimeoutMs?: number;
  readonly writeBufferBytesMax?: number;
  /** Timeouts in a row with nothing received before a connection is closed (rpcDefaults). */
  readonly silentTimeoutsBeforeClose?: number;
  /**
   * "host:port" of an HTTP CONNECT proxy every connection of this client goes through (e.g. an
   * egress proxy for cross-datacenter traffic, `[duplication-proxy]`). Unset: connect directly.
   */
  readonly connectProxy?: string;
}

export interface RpcClientDeps {
  readonly log?: Logger;
  readonly metrics?: RpcMetrics;
}

export class RpcClient implements Transport {
  private readonly shared: ClientShared;
  private readonly callTimeoutMs: number;
  private readonly connections = new Map<string, ClientConnection>();
  private closed = false;

  constructor(options: RpcClientOptions = {}, deps: RpcClientDeps = {}) {
    const d = rpcDefaults;
    this.shared = {
      name: options.name ?? "talaria-client",
      frameBytesMax: positiveInteger(
        "frameBytesMax",
        options.frameBytesMax ?? d.frameBytesMax,
        2 ** 32 - 1,
      ),
      pendingCallsPerConnectionMax: positiveInteger(
        "pendingCallsPerConnectionMax",
        options.pendingCallsPerConnectionMax ?? d.pendingCallsPerConnectionMax,
        2 ** 31,
      ),
      connectTimeoutMs: timeoutOption(
        "connectTimeoutMs",
        options.connectTimeoutMs ?? d.connectTimeoutMs,
      ),
      writeBufferBytesMax: positiveInteger(
        "writeBufferBytesMax",
        options.writeBufferBytesMax ?? d.writeBufferBytesMax,
        Number.MAX_SAFE_INTEGER,
      ),
      silentTimeoutsBeforeClose: positiveInteger(
        "silentTimeoutsBeforeClose",
        options.silentTimeoutsBeforeClose ?? d.silentTimeoutsBeforeClose,
        1_000_000,
      ),
      connectProxy:
        options.connectProxy === undefined ? undefined : parseAddress(options.connectProxy),
      log: deps.log ?? silentLogger,
      metrics: deps.metrics,
    };
    this.callTimeoutMs = timeoutOption("callTimeoutMs", options.callTimeoutMs ?? d.callTimeoutMs);
  }

  call(address: string, method: string, payload: unknown, options?: CallOptions): Promise<unknown> {
    try {
      if (this.closed) throw new TalariaError("ERR_INVALID_STATE", "RpcClient is closed");
      const timeoutMs = timeoutOption("timeoutMs", options?.timeoutMs ?? this.callTimeoutMs);
      return this.connectionTo(address).call(method, payload, timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a one-way message to `method` at `address` (a NOTIFY, or a call nobody waits for while
   * the connection is new; see ClientConnection): never throws and never reports the outcome,
   * which is counted and logged at debug.
   */
  notify(address: string, method: string, payload: unknown, options?: CallOptions): void {
    try {
      if (this.closed) throw new TalariaError("ERR_INVALID_STATE", "RpcClient is closed");
      const timeoutMs = timeoutOption("timeoutMs", options?.timeoutMs ?? this.callTimeoutMs);
      this.connectionTo(address).notify(method, payload, timeoutMs);
    } catch (error) {
      const code = isTalariaError(error) ? error.code : "ERR_INVALID_PARAMETERS";
      this.shared.metrics?.clientNotified(method, code);
      this.shared.log.debug({ err: error, address, method }, "rpc notification not sent");
    }
  }

  /** Connections open or opening. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Closes every connection; calls still waiting fail with ERR_NETWORK_FAILURE. */
  async close(): Promise<void> {
    this.closed = true;
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(connections.map((c) => c.close("client closed")));
  }

  private connectionTo(address: string): ClientConnection {
    const existing = this.connections.get(address);
    if (existing !== undefined && !existing.isClosed) return existing;
    const connection = new ClientConnection(address, parseAddress(address), this.shared);
    this.connections.set(address, connection);
    void connection.closed.then(() => {
      if (this.connections.get(address) === connection) this.connections.delete(address);
    });
    return connection;
  }
}
