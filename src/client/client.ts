/**
 * The Talaria client: `createClient({ metaServers })`, then `client.table(name)` for data
 * operations. One connection per server, shared by every table of the client.
 */
import { type Clock, systemClock } from "../common/clock.ts";
import { RpcClient, type Transport } from "../rpc/index.ts";
import { MetaSession } from "./meta-session.ts";
import { RouteTable } from "./route-table.ts";
import { Table } from "./table.ts";

export interface ClientOptions {
  /** Meta servers of the cluster, "host:port". */
  readonly metaServers: readonly string[];
  /** Default deadline of one operation including retries (5000 ms). */
  readonly timeoutMs?: number;
  /** A transport to use instead of TCP (tests, the simulator). */
  readonly transport?: Transport;
  readonly clock?: Clock;
  /** The name this client gives servers in its handshake. */
  readonly name?: string;
  /**
   * "host:port" of an HTTP CONNECT proxy that every connection (to meta and replica servers) goes
   * through; ignored with `transport`. See `RpcClientOptions.connectProxy`.
   */
  readonly connectProxy?: string;
}

export const CLIENT_TIMEOUT_MS_DEFAULT = 5000;

export class TalariaClient {
  private readonly transport: Transport;
  private readonly ownedRpc: RpcClient | undefined;
  private readonly meta: MetaSession;
  private readonly tables = new Map<string, Table>();
  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
    this.ownedRpc =
      options.transport === undefined
        ? new RpcClient({
            name: options.name ?? "talaria-client",
            ...(options.connectProxy === undefined ? {} : { connectProxy: options.connectProxy }),
          })
        : undefined;
    this.transport = options.transport ?? (this.ownedRpc as RpcClient);
    this.meta = new MetaSession(options.metaServers, this.transport);
  }

  /** The meta-server session, for administrative calls (shell). */
  get metaSession(): MetaSession {
    return this.meta;
  }

  table(name: string): Table {
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new Table(name, {
        routes: new RouteTable(name, this.meta),
        transport: this.transport,
        clock: this.options.clock ?? systemClock,
        timeoutMs: this.options.timeoutMs ?? CLIENT_TIMEOUT_MS_DEFAULT,
      });
      this.tables.set(name, table);
    }
    return table;
  }

  async close(): Promise<void> {
    await this.ownedRpc?.close();
  }
}

export function createClient(options: ClientOptions): TalariaClient {
  return new TalariaClient(options);
}
