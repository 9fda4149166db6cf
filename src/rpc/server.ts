/**
 * RpcServer: accepts connections, routes requests to the handler registered for their method.
 * A peer's bad bytes close that peer's connection only; the server keeps serving everyone else.
 */
import { createServer, type Server, type Socket } from "node:net";
import { assert } from "../common/assert.ts";
import { type Clock, systemClock } from "../common/clock.ts";
import { TalariaError } from "../common/errors.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import { formatAddress, type HostPort } from "./address.ts";
import type { RpcHandler } from "./handler.ts";
import { positiveInteger, rpcDefaults, timeoutOption } from "./options.ts";
import type { RpcMetrics } from "./rpc-metrics.ts";
import { ServerConnection, type ServerShared } from "./server-connection.ts";

export interface RpcServerOptions {
  /** Sent to clients in the handshake and logged by them (e.g. "meta 10.0.0.1:34601"). */
  readonly name?: string;
  readonly frameBytesMax?: number;
  readonly inflightPerConnectionMax?: number;
  readonly handshakeTimeoutMs?: number;
  readonly writeBufferBytesMax?: number;
  readonly connectionsMax?: number;
}

export interface RpcServerDeps {
  readonly log?: Logger;
  readonly metrics?: RpcMetrics;
  /** Clock of RequestContext.deadlineMs. */
  readonly clock?: Clock;
}

export class RpcServer {
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly shared: ServerShared;
  private readonly connectionsMax: number;
  private readonly connections = new Set<ServerConnection>();
  private server: Server | undefined;
  private bound: HostPort | undefined;
  private closing = false;

  constructor(options: RpcServerOptions = {}, deps: RpcServerDeps = {}) {
    const d = rpcDefaults;
    this.shared = {
      name: options.name ?? "talaria",
      handlers: this.handlers,
      frameBytesMax: positiveInteger(
        "frameBytesMax",
        options.frameBytesMax ?? d.frameBytesMax,
        2 ** 32 - 1,
      ),
      inflightPerConnectionMax: positiveInteger(
        "inflightPerConnectionMax",
        options.inflightPerConnectionMax ?? d.inflightPerConnectionMax,
        2 ** 31,
      ),
      handshakeTimeoutMs: timeoutOption(
        "handshakeTimeoutMs",
        options.handshakeTimeoutMs ?? d.handshakeTimeoutMs,
      ),
      writeBufferBytesMax: positiveInteger(
        "writeBufferBytesMax",
        options.writeBufferBytesMax ?? d.writeBufferBytesMax,
        Number.MAX_SAFE_INTEGER,
      ),
      log: deps.log ?? silentLogger,
      metrics: deps.metrics,
      clock: deps.clock ?? systemClock,
    };
    this.connectionsMax = positiveInteger(
      "connectionsMax",
      options.connectionsMax ?? d.connectionsMax,
      2 ** 31,
    );
  }

  /** Registers the handler of `method`; one handler per method (registering twice is a bug). */
  handle(method: string, handler: RpcHandler): void {
    assert(!this.handlers.has(method), `rpc method "${method}" already has a handler`);
    this.handlers.set(method, handler);
  }

  /** Starts listening; port 0 picks a free port. Resolves to the address actually bound. */
  async listen(address: { host: string; port: number }): Promise<HostPort> {
    assert(this.server === undefined, "RpcServer.listen called twice");
    const server = createServer((socket) => this.onConnection(socket));
    server.maxConnections = this.connectionsMax;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        reject(
          new TalariaError(
            "ERR_NETWORK_FAILURE",
            `cannot listen on ${address.host}:${address.port}`,
            {
              details: { host: address.host, port: address.port },
              cause: error,
              retriable: false,
            },
          ),
        );
      };
      server.once("error", onError);
      server.listen(address.port, address.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("drop", (dropped) => {
      this.shared.log.warn(
        { remoteAddress: formatAddress(dropped?.remoteAddress, dropped?.remotePort) },
        `rpc connection refused: connectionsMax = ${this.connectionsMax} reached`,
      );
    });
    server.on("error", (error) => {
      this.shared.log.error({ err: error }, "rpc server error");
    });
    const bound = server.address();
    assert(bound !== null && typeof bound === "object", "a TCP server has an address");
    this.bound = { host: bound.address, port: bound.port };
    this.shared.log.info({ address: this.address }, "rpc server listening");
    return this.bound;
  }

  /** The bound port (after listen). */
  get port(): number {
    assert(this.bound !== undefined, "RpcServer is not listening");
    return this.bound.port;
  }

  /** "host:port" clients can call (after listen). */
  get address(): string {
    assert(this.bound !== undefined, "RpcServer is not listening");
    return formatAddress(this.bound.host, this.bound.port);
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Requests being handled, over all connections. */
  get inflightCount(): number {
    let count = 0;
    for (const connection of this.connections) count += connection.inflightCount;
    return count;
  }

  /**
   * Stops accepting, closes every connection (their requests are aborted and not answered) and
   * resolves once all are gone.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    const stopped =
      server === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.close("server closing")));
    await stopped;
  }

  private onConnection(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const connection = new ServerConnection(socket, this.shared);
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
  }
}
