/**
 * A fault-injecting HTTP CONNECT proxy standing in for a cross-datacenter link in end-to-end tests
 * and benchmarks. One listener on 127.0.0.1; a client connects, sends
 * `CONNECT 127.0.0.1:<port> HTTP/1.1` and a blank line, gets `HTTP/1.1 200 Connection
 * Established`, and from then on bytes flow both ways through the link's controls:
 *
 *  - delay: one-way latency per direction, added to every chunk, order preserved;
 *  - bandwidth: bytes/s per direction, a token bucket shared by every connection;
 *  - cut(): a network partition. Established connections stop forwarding and what they send is
 *    black-holed (nothing is reset or closed, so peers see timeouts as on a cut link), and new
 *    CONNECTs get no answer;
 *  - heal(): forwarding resumes. The bytes lost in the cut make the cut connections useless, so
 *    they are destroyed and their peers reconnect; CONNECTs that waited are answered.
 *
 * Only destinations on 127.0.0.1 are allowed (403 otherwise). Test tooling: no dependencies beyond
 * node:net. "upstream" is client → destination, "downstream" destination → client.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { FaultLane, type LaneLink } from "./fault-lane.ts";
import { TokenBucket } from "./token-bucket.ts";

export type Direction = "upstream" | "downstream";

const DIRECTIONS: readonly Direction[] = ["upstream", "downstream"];

export interface FaultProxyOptions {
  /** Port to listen on (0, the default: any free port). */
  readonly port?: number;
  /** Bytes one direction of one connection may hold before its sender is paused (4 MiB). */
  readonly queueBytesMax?: number;
  /** Most bytes of a CONNECT request head (8 KiB); a longer one is answered 400. */
  readonly headerBytesMax?: number;
  /** How long a client may take to send its CONNECT request (10 s). */
  readonly headerTimeoutMs?: number;
}

export interface FaultProxyCounters {
  /** TCP connections accepted by the listener. */
  readonly accepted: number;
  /** Tunnels established (200 answered). */
  readonly tunnels: number;
  /** Tunnels open now. */
  readonly open: number;
  /** CONNECTs waiting for a heal. */
  readonly pending: number;
  /** CONNECT requests answered with an error (bad request, forbidden destination, unreachable). */
  readonly refused: number;
  readonly forwardedBytes: Readonly<Record<Direction, number>>;
  /** Bytes lost to a cut. */
  readonly droppedBytes: Readonly<Record<Direction, number>>;
  /** Connections destroyed by heal() because they were cut. */
  readonly severed: number;
}

interface Tunnel {
  readonly client: Socket;
  readonly target: Socket;
  readonly lanes: Readonly<Record<Direction, FaultLane>>;
  /** It lived through a cut: heal() destroys it. */
  cut: boolean;
}

const ALLOWED_HOST = "127.0.0.1";
const CONNECT_LINE = /^CONNECT (\S+):(\d{1,5}) HTTP\/1\.[01]$/;

export class FaultProxy {
  private readonly server: Server;
  private readonly options: Required<Omit<FaultProxyOptions, "port">>;
  private readonly tunnels = new Set<Tunnel>();
  private readonly sockets = new Set<Socket>();
  /** CONNECTs parsed during a cut, answered at heal(). */
  private readonly waiting = new Map<Socket, () => void>();
  private readonly delayMs: Record<Direction, number> = { upstream: 0, downstream: 0 };
  private readonly buckets: Record<Direction, TokenBucket | undefined> = {
    upstream: undefined,
    downstream: undefined,
  };
  private readonly links: Readonly<Record<Direction, LaneLink>>;
  private isCut = false;
  private closed = false;
  private readonly counts = {
    accepted: 0,
    tunnels: 0,
    refused: 0,
    severed: 0,
    forwardedBytes: { upstream: 0, downstream: 0 },
    droppedBytes: { upstream: 0, downstream: 0 },
  };
  private listenPort = 0;

  private constructor(options: FaultProxyOptions) {
    this.options = {
      queueBytesMax: options.queueBytesMax ?? 4 * 1024 * 1024,
      headerBytesMax: options.headerBytesMax ?? 8 * 1024,
      headerTimeoutMs: options.headerTimeoutMs ?? 10_000,
    };
    const link = (direction: Direction): LaneLink => {
      const proxy = this;
      return {
        get delayMs() {
          return proxy.delayMs[direction];
        },
        get bucket() {
          return proxy.buckets[direction];
        },
        get cut() {
          return proxy.isCut;
        },
        forwarded: (bytes) => {
          this.counts.forwardedBytes[direction] += bytes;
        },
        dropped: (bytes) => {
          this.counts.droppedBytes[direction] += bytes;
        },
      };
    };
    this.links = { upstream: link("upstream"), downstream: link("downstream") };
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts a proxy listening on 127.0.0.1 (a random free port unless `options.port`). */
  static async start(options: FaultProxyOptions = {}): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(options.port ?? 0, ALLOWED_HOST, () => {
        proxy.server.off("error", reject);
        resolve();
      });
    });
    const address = proxy.server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    proxy.listenPort = address.port;
    return proxy;
  }

  get port(): number {
    return this.listenPort;
  }

  /** "127.0.0.1:<port>": what clients are configured with. */
  get address(): string {
    return `${ALLOWED_HOST}:${this.port}`;
  }

  get cutNow(): boolean {
    return this.isCut;
  }

  /** One-way delay in ms, for one direction or (without `direction`) both. */
  setDelay(ms: number, direction?: Direction): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be ≥ 0 ms, got ${ms}`);
    for (const d of direction === undefined ? DIRECTIONS : [direction]) this.delayMs[d] = ms;
  }

  /** Bandwidth in bytes/s, for one direction or both; undefined removes the limit. */
  setBandwidth(bytesPerSec: number | undefined, direction?: Direction): void {
    for (const d of direction === undefined ? DIRECTIONS : [direction]) {
      this.buckets[d] =
        bytesPerSec === undefined ? undefined : new TokenBucket(bytesPerSec, performance.now());
    }
    for (const tunnel of this.tunnels) for (const d of DIRECTIONS) tunnel.lanes[d].kick();
  }

  /** A partition: nothing crosses until heal(). Idempotent. */
  cut(): void {
    if (this.isCut) return;
    this.isCut = true;
    for (const tunnel of this.tunnels) {
      tunnel.cut = true;
      for (const d of DIRECTIONS) tunnel.lanes[d].dropQueued();
    }
  }

  /** Ends the partition: cut connections are destroyed, waiting CONNECTs answered. Idempotent. */
  heal(): void {
    if (!this.isCut) return;
    this.isCut = false;
    for (const tunnel of [...this.tunnels]) {
      if (!tunnel.cut) continue;
      this.counts.severed++;
      this.destroyTunnel(tunnel);
    }
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const proceed of waiting) proceed();
  }

  counters(): FaultProxyCounters {
    return {
      accepted: this.counts.accepted,
      tunnels: this.counts.tunnels,
      open: this.tunnels.size,
      pending: this.waiting.size,
      refused: this.counts.refused,
      forwardedBytes: { ...this.counts.forwardedBytes },
      droppedBytes: { ...this.counts.droppedBytes },
      severed: this.counts.severed,
    };
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.clear();
    for (const tunnel of [...this.tunnels]) this.destroyTunnel(tunnel);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- connections ---------------------------------------------------------------------------

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("error", () => socket.destroy());
    socket.once("close", () => this.sockets.delete(socket));
  }

  private accept(client: Socket): void {
    this.counts.accepted++;
    this.track(client);
    if (this.closed) {
      client.destroy();
      return;
    }
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => client.destroy(), this.options.headerTimeoutMs);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > this.options.headerBytesMax) finish(() => this.refuse(client, 400));
        return;
      }
      const rest = head.subarray(end + 4);
      const line = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      finish(() => this.request(client, line, rest));
    };
    const finish = (next: () => void) => {
      clearTimeout(timer);
      client.off("data", onData);
      client.pause();
      next();
    };
    client.on("data", onData);
    client.once("close", () => clearTimeout(timer));
  }

  private refuse(client: Socket, status: 400 | 403 | 502): void {
    this.counts.refused++;
    const reason = { 400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway" }[status];
    client.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n\r\n`);
  }

  private request(client: Socket, line: string, rest: Buffer): void {
    const match = CONNECT_LINE.exec(line);
    const port = Number(match?.[2]);
    if (match === null || !(port >= 1 && port <= 65_535)) {
      this.refuse(client, 400);
      return;
    }
    if (match[1] !== ALLOWED_HOST) {
      this.refuse(client, 403);
      return;
    }
    const proceed = () => {
      if (!client.destroyed) this.open(client, port, rest);
    };
    if (!this.isCut) {
      proceed();
      return;
    }
    this.waiting.set(client, proceed);
    client.once("close", () => this.waiting.delete(client));
  }

  private open(client: Socket, port: number, rest: Buffer): void {
    const target = connect({ host: ALLOWED_HOST, port });
    this.track(target);
    target.setNoDelay(true);
    client.setNoDelay(true);
    const failed = () => {
      if (!client.destroyed) this.refuse(client, 502);
    };
    target.once("error", failed);
    client.once("close", () => {
      if (target.connecting) target.destroy();
    });
    target.once("connect", () => {
      target.off("error", failed);
      if (client.destroyed || this.closed) {
        target.destroy();
        return;
      }
      if (this.isCut) {
        // Cut while connecting: the CONNECT waits for the heal like one that arrived now.
        target.destroy();
        this.waiting.set(client, () => {
          if (!client.destroyed) this.open(client, port, rest);
        });
        client.once("close", () => this.waiting.delete(client));
        return;
      }
      const q = this.options.queueBytesMax;
      const tunnel: Tunnel = {
        client,
        target,
        lanes: {
          upstream: new FaultLane(client, target, this.links.upstream, q),
          downstream: new FaultLane(target, client, this.links.downstream, q),
        },
        cut: false,
      };
      this.tunnels.add(tunnel);
      this.counts.tunnels++;
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      this.wire(tunnel, client, "upstream");
      this.wire(tunnel, target, "downstream");
      if (rest.length > 0) tunnel.lanes.upstream.push(rest);
      client.resume();
    });
  }

  /** Feeds what `from` sends into its lane; its end and close follow only while not cut. */
  private wire(tunnel: Tunnel, from: Socket, direction: Direction): void {
    const lane = tunnel.lanes[direction];
    from.on("data", (chunk: Buffer) => lane.push(chunk));
    // Neither a FIN nor a reset crosses a cut link: the other side learns at heal().
    from.once("end", () => {
      if (!tunnel.cut) lane.end();
    });
    from.once("close", (hadError: boolean) => {
      if (tunnel.cut) return;
      if (hadError) this.destroyTunnel(tunnel);
      else if (tunnel.client.destroyed && tunnel.target.destroyed) this.destroyTunnel(tunnel);
    });
  }

  private destroyTunnel(tunnel: Tunnel): void {
    this.tunnels.delete(tunnel);
    for (const d of DIRECTIONS) tunnel.lanes[d].close();
    tunnel.client.destroy();
    tunnel.target.destroy();
  }
}
