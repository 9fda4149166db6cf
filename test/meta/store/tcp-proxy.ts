/**
 * A loopback TCP proxy for tests: clients connect to `address` and reach `target`, until `cut()`
 * drops every connection and refuses new ones (a network partition for that client alone).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  readonly address: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private isCut = false;

  private constructor(server: Server, address: string) {
    this.server = server;
    this.address = address;
  }

  /** `target` is `host:port` (the first entry of a ZooKeeper connection string). */
  static async start(target: string): Promise<TcpProxy> {
    const [host, port] = (target.split(",")[0] ?? "").split(":");
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      if (proxy === undefined || proxy.isCut) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: host ?? "127.0.0.1", port: Number(port) });
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        socket.on("close", () => proxy?.sockets.delete(socket));
        socket.on("error", () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const bound = server.address();
    if (bound === null || typeof bound === "string") throw new Error("proxy has no port");
    proxy = new TcpProxy(server, `127.0.0.1:${bound.port}`);
    return proxy;
  }

  /** Drops every proxied connection and refuses new ones. */
  cut(): void {
    this.isCut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
