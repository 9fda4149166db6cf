// RpcClient through an HTTP CONNECT proxy (`connectProxy`): real sockets on 127.0.0.1, with the
// fault proxy from src/testing and hand-written fake proxies for the edge cases.
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { decodeMessage, FrameDecoder, PROTOCOL_VERSION, RpcClient } from "../../src/rpc/index.ts";
import { FaultProxy } from "../../src/testing/index.ts";
import {
  deferred,
  frameOf,
  freePort,
  HOST,
  newClient,
  startServer,
  within,
} from "./rpc-fixture.ts";

function networkFailure(error: unknown): boolean {
  assert.ok(isTalariaError(error, "ERR_NETWORK_FAILURE"), String(error));
  return true;
}

async function startProxy(t: TestContext): Promise<FaultProxy> {
  const proxy = await FaultProxy.start();
  t.after(() => proxy.close());
  return proxy;
}

/** A fake proxy: `onConnect` gets each client socket once its request head has arrived. */
async function startFakeProxy(
  t: TestContext,
  onConnect: (socket: Socket, head: string) => void,
): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      onConnect(socket, head);
    };
    socket.on("data", onData);
  });
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as { port: number }).port;
}

describe("rpc client through an HTTP CONNECT proxy", () => {
  it("sends every call through one tunnel per address", async (t) => {
    const server = await startServer(t);
    server.handle("echo", async (payload) => payload);
    const proxy = await startProxy(t);
    const client = newClient(t, { connectProxy: proxy.address });
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.call(server.address, "echo", { i })),
    );
    assert.deepEqual(
      replies,
      Array.from({ length: 20 }, (_, i) => ({ i })),
    );
    const counters = proxy.counters();
    assert.equal(counters.tunnels, 1);
    assert.ok(counters.forwardedBytes.upstream > 0 && counters.forwardedBytes.downstream > 0);
    assert.equal(server.connectionCount, 1);
  });

  it("writes nothing for the server before the proxy answers, and reads bytes sent with the answer", async (t) => {
    let connectHead = "";
    let early = "";
    const port = await startFakeProxy(t, (socket, head) => {
      connectHead = head;
      // Held back 100 ms: a client that wrote its HELLO early would show it in `early`.
      socket.on("data", (chunk: Buffer) => {
        early += chunk.toString("latin1");
      });
      setTimeout(() => {
        const sawEarly = early.length > 0;
        socket.removeAllListeners("data");
        const decoder = new FrameDecoder(1024 * 1024);
        socket.on("data", (chunk: Buffer) => {
          for (const frame of decoder.push(chunk).frames) {
            const message = decodeMessage(frame);
            if (message.kind === "request") {
              socket.write(frameOf({ kind: "reply", id: message.id, payload: sawEarly }));
            }
          }
        });
        // The answer and the server's WELCOME in one write: the client must not lose the WELCOME.
        socket.write(
          Buffer.concat([
            Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n"),
            frameOf({ kind: "welcome", version: PROTOCOL_VERSION, name: "fake" }),
          ]),
        );
      }, 100);
    });
    const client = newClient(t, { connectProxy: `${HOST}:${port}` });
    const sawEarly = await client.call("127.0.0.1:4242", "m", null);
    assert.equal(sawEarly, false, "no byte before the answer");
    assert.match(
      connectHead,
      /^CONNECT 127\.0\.0\.1:4242 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:4242\r\n/,
    );
  });

  it("fails calls with ERR_NETWORK_FAILURE when the proxy refuses, with its status", async (t) => {
    const proxy = await startProxy(t);
    const client = newClient(t, { connectProxy: proxy.address });
    // The fault proxy only tunnels to 127.0.0.1.
    await assert.rejects(client.call("localhost:4242", "m", null), (error: unknown) => {
      networkFailure(error);
      assert.equal((error as { details: Record<string, unknown> }).details.status, 403);
      assert.match((error as Error).message, /did not open a tunnel to localhost:4242: status 403/);
      return true;
    });
    assert.equal(client.connectionCount, 0);
    const port = await startFakeProxy(t, (socket) => socket.end("SSH-2.0-nope\r\n\r\n"));
    const confused = newClient(t, { connectProxy: `${HOST}:${port}` });
    await assert.rejects(confused.call(`${HOST}:1`, "m", null), (error: unknown) => {
      networkFailure(error);
      assert.match((error as Error).message, /answered "SSH-2\.0-nope"/);
      return true;
    });
  });

  it("fails fast when nothing listens on the proxy's port", async (t) => {
    const client = newClient(t, { connectProxy: `${HOST}:${await freePort()}` });
    await assert.rejects(client.call(`${HOST}:1`, "m", null, { timeoutMs: 10_000 }), (error) => {
      networkFailure(error);
      assert.match((error as Error).message, /ECONNREFUSED/);
      return true;
    });
  });

  it("bounds a tunnel that never opens by connectTimeoutMs, and connects once the link heals", async (t) => {
    const server = await startServer(t);
    server.handle("who", async () => "server");
    const proxy = await startProxy(t);
    proxy.cut();
    const client = newClient(t, { connectProxy: proxy.address, connectTimeoutMs: 200 });
    await assert.rejects(client.call(server.address, "who", null), (error: unknown) => {
      networkFailure(error);
      assert.match((error as Error).message, /connectTimeoutMs = 200/);
      return true;
    });
    assert.equal(client.connectionCount, 0);
    proxy.heal();
    assert.equal(await client.call(server.address, "who", null), "server");
  });

  it("closes a connection on which calls keep timing out with nothing received (a cut link)", async (t) => {
    const server = await startServer(t);
    server.handle("who", async () => "server");
    const proxy = await startProxy(t);
    const client = newClient(t, { connectProxy: proxy.address, connectTimeoutMs: 300 });
    assert.equal(await client.call(server.address, "who", null), "server");
    proxy.cut();
    await assert.rejects(client.call(server.address, "who", null, { timeoutMs: 150 }), (error) =>
      isTalariaError(error, "ERR_TIMEOUT"),
    );
    assert.equal(client.connectionCount, 1, "one silent timeout: still open");
    await assert.rejects(client.call(server.address, "who", null, { timeoutMs: 150 }), (error) =>
      isTalariaError(error, "ERR_TIMEOUT"),
    );
    await within(
      (async () => {
        while (client.connectionCount > 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      2000,
      "the silent connection closed",
    );
    // The next call opens a new connection: through the cut it cannot, and says so.
    await assert.rejects(
      client.call(server.address, "who", null, { timeoutMs: 2000 }),
      networkFailure,
    );
    proxy.heal();
    assert.equal(await client.call(server.address, "who", null), "server");
  });

  it("keeps a connection whose calls time out while other replies still arrive (a slow server)", async (t) => {
    const server = await startServer(t);
    const stuck = deferred<void>();
    t.after(() => stuck.resolve());
    server.handle("slow", () => stuck.promise.then(() => "late"));
    server.handle("who", async () => "server");
    const client = newClient(t);
    assert.equal(await client.call(server.address, "who", null), "server");
    for (let i = 0; i < 4; i++) {
      const slow = client.call(server.address, "slow", null, { timeoutMs: 100 });
      assert.equal(await client.call(server.address, "who", null), "server");
      await assert.rejects(slow, (error) => isTalariaError(error, "ERR_TIMEOUT"));
    }
    assert.equal(client.connectionCount, 1);
  });

  it("times calls out across a cut, and reconnects after the heal severs the connection", async (t) => {
    const server = await startServer(t);
    server.handle("who", async () => "server");
    const proxy = await startProxy(t);
    const client = newClient(t, { connectProxy: proxy.address });
    assert.equal(await client.call(server.address, "who", null), "server");
    proxy.cut();
    await assert.rejects(client.call(server.address, "who", null, { timeoutMs: 200 }), (error) =>
      isTalariaError(error, "ERR_TIMEOUT"),
    );
    assert.equal(client.connectionCount, 1, "a black-holed connection looks open");
    proxy.heal();
    await within(
      (async () => {
        while (client.connectionCount > 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      2000,
      "the severed connection noticed",
    );
    assert.equal(await client.call(server.address, "who", null), "server");
    assert.equal(proxy.counters().tunnels, 2);
  });

  it("close() while the tunnel is opening fails the waiting calls", async (t) => {
    const opened = deferred();
    const port = await startFakeProxy(t, () => opened.resolve());
    const client = new RpcClient({ connectProxy: `${HOST}:${port}` });
    const pending = client.call(`${HOST}:1`, "m", null);
    await within(opened.promise, 2000, "the CONNECT sent");
    await client.close();
    await assert.rejects(pending, networkFailure);
    assert.equal(client.connectionCount, 0);
  });

  it("refuses a connectProxy that is not host:port", () => {
    assert.throws(
      () => new RpcClient({ connectProxy: "proxy" }),
      (error: unknown) => isTalariaError(error, "ERR_INVALID_PARAMETERS"),
    );
  });
});
