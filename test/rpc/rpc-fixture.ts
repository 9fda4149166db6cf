/**
 * Helpers for RPC tests: servers on 127.0.0.1 with ephemeral ports, raw sockets that speak (or
 * break) the protocol, log capture, and bounded waits on real events (never sleeps).
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import type { TestContext } from "node:test";
import { pino } from "pino";
import type { Logger } from "../../src/common/logger.ts";
import {
  decodeMessage,
  encodeFrame,
  FrameDecoder,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  RpcClient,
  type RpcClientDeps,
  type RpcClientOptions,
  RpcServer,
  type RpcServerDeps,
  type RpcServerOptions,
  type WireMessage,
} from "../../src/rpc/index.ts";

export const HOST = "127.0.0.1";

/** Rejects if `promise` has not settled within `ms` (a bound on waiting for a real event). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets already-queued callbacks (nextTick, promise jobs, I/O completions) run. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function startServer(
  t: TestContext,
  options: RpcServerOptions = {},
  deps: RpcServerDeps = {},
  port = 0,
): Promise<RpcServer> {
  const server = new RpcServer({ name: "test-server", ...options }, deps);
  t.after(() => server.close());
  await server.listen({ host: HOST, port });
  return server;
}

export function newClient(
  t: TestContext,
  options: RpcClientOptions = {},
  deps: RpcClientDeps = {},
): RpcClient {
  const client = new RpcClient({ name: "test-client", ...options }, deps);
  t.after(() => client.close());
  return client;
}

export interface LogEntry {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export function captureLog(): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => entries.push(JSON.parse(line)) });
  return { log, entries };
}

export function frameOf(message: WireMessage): Buffer {
  return encodeFrame(message);
}

export function rawFrame(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

export function helloFrame(version = PROTOCOL_VERSION, magic = PROTOCOL_MAGIC): Buffer {
  return frameOf({ kind: "hello", magic, version, name: "raw" });
}

/** A socket driven by hand: sends raw bytes, collects decoded messages, reports its close. */
export class RawPeer {
  readonly messages: WireMessage[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private waiters: (() => void)[] = [];
  private isClosed = false;

  constructor(readonly socket: Socket) {
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk).frames) {
        const message = decodeMessage(frame);
        if (message.kind !== "rejected") this.messages.push(message);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.isClosed = true;
        for (const wake of this.waiters.splice(0)) wake();
        resolve();
      }),
    );
  }

  static async connect(t: TestContext, port: number): Promise<RawPeer> {
    const socket = connect({ host: HOST, port });
    t.after(() => socket.destroy());
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      }),
      2000,
      "raw connect",
    );
    return new RawPeer(socket);
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves once `count` messages have arrived; rejects if the socket closes first. */
  async received(count: number): Promise<WireMessage[]> {
    while (this.messages.length < count) {
      if (this.isClosed) throw new Error(`socket closed after ${this.messages.length} messages`);
      await within(
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        2000,
        `message ${this.messages.length + 1}`,
      );
    }
    return this.messages;
  }
}

/** A plain TCP server that hands each accepted socket to `onPeer`: a fake Talaria server. */
export async function startFakeServer(
  t: TestContext,
  onPeer: (peer: RawPeer) => void,
): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    onPeer(new RawPeer(socket));
  });
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return address.port;
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no address");
  return address.port;
}

/** A promise with its resolver exposed, for handlers the test releases by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
