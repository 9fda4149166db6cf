// The fault-injecting CONNECT proxy with real sockets on 127.0.0.1. Assertions are on bytes, order
// and counters; timing only as lower bounds (a delay or a bandwidth limit makes things at least
// that slow), and "nothing arrives" checks wait a bounded while on a link that cannot deliver.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { FaultProxy } from "../../src/testing/index.ts";

const HOST = "127.0.0.1";
const WAIT_MS = 5000;

/** Rejects if `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A socket end that collects what it receives and can wait for an amount or its close. */
class Peer {
  data = Buffer.alloc(0);
  closed = false;
  private readonly waiters = new Set<() => void>();
  constructor(readonly socket: Socket) {
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }
  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }
  async until(what: string, done: () => boolean): Promise<void> {
    while (!done()) {
      await within(
        new Promise<void>((resolve) => {
          const wake = () => {
            this.waiters.delete(wake);
            resolve();
          };
          this.waiters.add(wake);
        }),
        WAIT_MS,
        what,
      );
    }
  }
  received(bytes: number): Promise<void> {
    return this.until(`${bytes} bytes`, () => this.data.length >= bytes);
  }
  gone(): Promise<void> {
    return this.until("close", () => this.closed);
  }
}

/** A TCP server on 127.0.0.1 whose accepted sockets are Peers (echoing, if asked). */
async function startTarget(
  t: TestContext,
  echo = false,
): Promise<{ port: number; peers: Peer[]; nth(index: number): Promise<Peer> }> {
  const peers: Peer[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((socket) => {
    const peer = new Peer(socket);
    if (echo) socket.on("data", (chunk: Buffer) => socket.write(chunk));
    peers.push(peer);
    for (const wake of [...waiters]) wake();
  });
  t.after(async () => {
    for (const peer of peers) peer.socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return {
    port: address.port,
    peers,
    /** The index-th connection the target accepted (0 = the first), once it has. */
    async nth(index) {
      while (peers.length <= index) {
        await within(
          new Promise<void>((resolve) => {
            const wake = () => {
              waiters.delete(wake);
              resolve();
            };
            waiters.add(wake);
          }),
          WAIT_MS,
          `connection ${index + 1} to the target`,
        );
      }
      return peers[index] as Peer;
    },
  };
}

async function startProxy(t: TestContext): Promise<FaultProxy> {
  const proxy = await FaultProxy.start();
  t.after(() => proxy.close());
  return proxy;
}

/** Sends a CONNECT (or any request head) through a raw socket; `answer` waits for the reply head. */
function request(t: TestContext, proxy: FaultProxy, head: string) {
  const socket = connect({ host: HOST, port: proxy.port });
  t.after(() => socket.destroy());
  const peer = new Peer(socket);
  socket.write(head);
  const answer = async (): Promise<string> => {
    await peer.until("the proxy's answer", () => peer.data.includes("\r\n\r\n"));
    const end = peer.data.indexOf("\r\n\r\n");
    const status = peer.data.subarray(0, peer.data.indexOf("\r\n")).toString();
    peer.data = peer.data.subarray(end + 4);
    return status;
  };
  return { peer, answer };
}

async function tunnel(t: TestContext, proxy: FaultProxy, port: number): Promise<Peer> {
  const { peer, answer } = request(t, proxy, `CONNECT ${HOST}:${port} HTTP/1.1\r\n\r\n`);
  assert.equal(await answer(), "HTTP/1.1 200 Connection Established");
  return peer;
}

/** Bytes 0, 1, 2, … 255, 0, … so any loss, duplication or reordering shows. */
function pattern(bytes: number, offset = 0): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (offset + i) % 251;
  return out;
}

describe("fault proxy", () => {
  it("tunnels bytes both ways after answering 200, and counts them", async (t) => {
    const target = await startTarget(t, true);
    const proxy = await startProxy(t);
    const client = await tunnel(t, proxy, target.port);
    const sent = pattern(200_000);
    client.socket.write(sent);
    await client.received(sent.length);
    assert.ok(client.data.equals(sent), "the echo is byte for byte what was sent");
    const counters = proxy.counters();
    assert.deepEqual(counters.forwardedBytes, { upstream: 200_000, downstream: 200_000 });
    assert.deepEqual(counters.droppedBytes, { upstream: 0, downstream: 0 });
    assert.equal(counters.tunnels, 1);
    assert.equal(counters.open, 1);
    assert.equal(counters.refused, 0);
  });

  it("forwards bytes sent right behind the CONNECT, and passes a close on", async (t) => {
    const target = await startTarget(t);
    const proxy = await startProxy(t);
    const arrived = target.nth(0);
    const { peer, answer } = request(
      t,
      proxy,
      `CONNECT ${HOST}:${target.port} HTTP/1.1\r\n\r\nearly`,
    );
    assert.equal(await answer(), "HTTP/1.1 200 Connection Established");
    const server = await arrived;
    await server.received(5);
    assert.equal(server.data.toString(), "early");
    peer.socket.end();
    await server.gone();
    await peer.gone();
    await within(
      (async () => {
        while (proxy.counters().open > 0) await sleep(10);
      })(),
      WAIT_MS,
      "the tunnel forgotten",
    );
  });

  it("refuses destinations off 127.0.0.1 (403), malformed requests (400) and dead ports (502)", async (t) => {
    const target = await startTarget(t);
    const proxy = await startProxy(t);
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, HOST, resolve));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise((resolve) => dead.close(resolve));
    const cases: [string, string][] = [
      [`CONNECT 10.0.0.1:${target.port} HTTP/1.1\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
      [`CONNECT localhost:${target.port} HTTP/1.1\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
      [`CONNECT [::1]:${target.port} HTTP/1.1\r\n\r\n`, "HTTP/1.1 403 Forbidden"],
      ["GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"],
      [`CONNECT ${HOST}:0 HTTP/1.1\r\n\r\n`, "HTTP/1.1 400 Bad Request"],
      [`CONNECT ${HOST}:${deadPort} HTTP/1.1\r\n\r\n`, "HTTP/1.1 502 Bad Gateway"],
    ];
    for (const [head, status] of cases) {
      const { peer, answer } = request(t, proxy, head);
      assert.equal(await answer(), status, head);
      await peer.gone();
    }
    assert.equal(proxy.counters().refused, cases.length);
    assert.equal(proxy.counters().tunnels, 0);
    assert.equal(target.peers.length, 0, "nothing reached the target");
  });

  it("delays each direction by at least its one-way delay and keeps the order", async (t) => {
    const target = await startTarget(t, true);
    const proxy = await startProxy(t);
    proxy.setDelay(120, "upstream");
    proxy.setDelay(60, "downstream");
    const arrived = target.nth(0);
    const client = await tunnel(t, proxy, target.port);
    const started = performance.now();
    client.socket.write(pattern(1000, 0));
    const server = await arrived;
    await server.received(1000);
    const oneWayMs = performance.now() - started;
    await client.received(1000);
    const roundTripMs = performance.now() - started;
    assert.ok(oneWayMs >= 119, `upstream took ${oneWayMs} ms`);
    assert.ok(roundTripMs >= 179, `round trip took ${roundTripMs} ms`);

    // Many chunks, with the delay lowered halfway: later chunks wait for earlier ones.
    const chunks = 40;
    for (let i = 0; i < chunks; i++) {
      if (i === chunks / 2) proxy.setDelay(0);
      client.socket.write(pattern(500, 1000 + i * 500));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await server.received(1000 + chunks * 500);
    assert.ok(server.data.equals(pattern(1000 + chunks * 500)), "every byte, in order");
    await client.received(1000 + chunks * 500);
    assert.ok(client.data.equals(pattern(1000 + chunks * 500)));
  });

  it("limits the bandwidth of a direction, shared by its connections", async (t) => {
    const target = await startTarget(t);
    const proxy = await startProxy(t);
    const rate = 100_000;
    proxy.setBandwidth(rate, "upstream");
    const first = target.nth(0);
    const a = await tunnel(t, proxy, target.port);
    const serverA = await first;
    const second = target.nth(1);
    const b = await tunnel(t, proxy, target.port);
    const serverB = await second;
    const each = 60_000;
    const started = performance.now();
    a.socket.write(pattern(each, 0));
    b.socket.write(pattern(each, 7));
    await Promise.all([serverA.received(each), serverB.received(each)]);
    const elapsedMs = performance.now() - started;
    assert.ok(serverA.data.equals(pattern(each, 0)), "a: every byte, in order");
    assert.ok(serverB.data.equals(pattern(each, 7)), "b: every byte, in order");
    // Both connections share one bucket: 2 × 60 kB less one burst (5 kB) at 100 kB/s.
    const floorMs = ((2 * each - rate / 20) / rate) * 1000;
    assert.ok(elapsedMs >= floorMs - 5, `took ${elapsedMs} ms, at least ${floorMs} expected`);
    assert.equal(proxy.counters().forwardedBytes.upstream, 2 * each);

    // The other direction is not limited, and removing the limit lifts it.
    proxy.setBandwidth(undefined);
    a.socket.write(pattern(1000));
    await serverA.received(each + 1000);
  });

  it("cut black-holes established connections without closing them, and new CONNECTs hang", async (t) => {
    const target = await startTarget(t);
    const proxy = await startProxy(t);
    const first = target.nth(0);
    const a = await tunnel(t, proxy, target.port);
    const serverA = await first;
    const second = target.nth(1);
    const quitter = await tunnel(t, proxy, target.port);
    const serverQuitter = await second;
    a.socket.write("before");
    await serverA.received(6);

    proxy.cut();
    assert.equal(proxy.cutNow, true);
    a.socket.write("lost upstream");
    serverA.socket.write("lost downstream");
    quitter.socket.destroy();
    const waiting = request(t, proxy, `CONNECT ${HOST}:${target.port} HTTP/1.1\r\n\r\n`);
    waiting.peer.socket.write("waited");
    await sleep(300);
    assert.equal(serverA.data.toString(), "before", "nothing crossed the cut upstream");
    assert.equal(a.data.length, 0, "nothing crossed the cut downstream");
    assert.equal(a.closed || serverA.closed, false, "no reset: the connection stays open");
    assert.equal(serverQuitter.closed, false, "a close does not cross the cut either");
    assert.equal(waiting.peer.data.length, 0, "a new CONNECT gets no answer");
    assert.equal(target.peers.length, 2, "nor a connection to the target");
    let counters = proxy.counters();
    assert.deepEqual(counters.droppedBytes, { upstream: 13, downstream: 15 });
    assert.equal(counters.pending, 1);

    proxy.heal();
    await Promise.all([a.gone(), serverA.gone(), serverQuitter.gone()]);
    const third = target.nth(2);
    assert.equal(await waiting.answer(), "HTTP/1.1 200 Connection Established");
    const serverWaiting = await third;
    await serverWaiting.received(6);
    assert.equal(serverWaiting.data.toString(), "waited");
    const fourth = target.nth(3);
    const after = await tunnel(t, proxy, target.port);
    after.socket.write("healed");
    const serverAfter = await fourth;
    await serverAfter.received(6);
    counters = proxy.counters();
    assert.equal(counters.severed, 2);
    assert.equal(counters.pending, 0);
    assert.equal(counters.open, 2);
    assert.equal(proxy.cutNow, false);
  });

  it("drops what a delayed link still held when it is cut", async (t) => {
    const target = await startTarget(t);
    const proxy = await startProxy(t);
    proxy.setDelay(10_000, "upstream");
    const arrived = target.nth(0);
    const client = await tunnel(t, proxy, target.port);
    const server = await arrived;
    client.socket.write("in flight");
    await sleep(50);
    proxy.cut();
    proxy.heal();
    await server.gone();
    assert.equal(server.data.length, 0);
    assert.equal(proxy.counters().droppedBytes.upstream, 9);
  });

  it("close() destroys every connection, waiting ones included", async (t) => {
    const target = await startTarget(t);
    const proxy = await FaultProxy.start();
    const arrived = target.nth(0);
    const client = await tunnel(t, proxy, target.port);
    const server = await arrived;
    proxy.cut();
    const waiting = request(t, proxy, `CONNECT ${HOST}:${target.port} HTTP/1.1\r\n\r\n`);
    await within(
      (async () => {
        while (proxy.counters().pending === 0) await sleep(10);
      })(),
      WAIT_MS,
      "the CONNECT waiting",
    );
    await proxy.close();
    await Promise.all([client.gone(), server.gone(), waiting.peer.gone()]);
  });
});
