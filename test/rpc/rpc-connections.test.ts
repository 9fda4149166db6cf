import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { PROTOCOL_VERSION, RpcServer } from "../../src/rpc/index.ts";
import {
  deferred,
  frameOf,
  freePort,
  HOST,
  helloFrame,
  newClient,
  RawPeer,
  startFakeServer,
  startServer,
  within,
} from "./rpc-fixture.ts";

function networkFailure(error: unknown): boolean {
  assert.ok(isTalariaError(error, "ERR_NETWORK_FAILURE"), String(error));
  assert.equal(error.retriable, true);
  return true;
}

describe("rpc connections", () => {
  it("fails a call to a port nobody listens on quickly with ERR_NETWORK_FAILURE", async (t) => {
    const port = await freePort();
    const client = newClient(t);
    const started = performance.now();
    await assert.rejects(
      client.call(`${HOST}:${port}`, "m", null, { timeoutMs: 10_000 }),
      (error: unknown) => {
        networkFailure(error);
        assert.match((error as Error).message, /ECONNREFUSED/);
        return true;
      },
    );
    assert.ok(performance.now() - started < 2000);
    assert.equal(client.connectionCount, 0);
  });

  it("fails pending calls when the server goes away, and reconnects on the next call", async (t) => {
    const first = await startServer(t);
    const port = first.port;
    const hanging = deferred();
    first.handle("hang", async () => hanging.promise);
    first.handle("who", async () => "first");
    const client = newClient(t);
    const address = `${HOST}:${port}`;
    assert.equal(await client.call(address, "who", null), "first");
    const pending = client.call(address, "hang", null);
    await first.close();
    assert.equal(first.connectionCount, 0);
    await assert.rejects(pending, networkFailure);
    await assert.rejects(client.call(address, "who", null), networkFailure);

    const second = new RpcServer({ name: "second" });
    t.after(() => second.close());
    await second.listen({ host: HOST, port });
    second.handle("who", async () => "second");
    assert.equal(await client.call(address, "who", null), "second");
    assert.equal(client.connectionCount, 1);
  });

  it("times out the connect when the peer accepts TCP but never answers the handshake", async (t) => {
    const port = await startFakeServer(t, () => {});
    const client = newClient(t, { connectTimeoutMs: 100 });
    await assert.rejects(client.call(`${HOST}:${port}`, "m", null), (error: unknown) => {
      networkFailure(error);
      assert.match((error as Error).message, /connectTimeoutMs = 100/);
      return true;
    });
  });

  it("ignores a reply that arrives after its call timed out", async (t) => {
    // A fake server that holds the answer to "first" until "second" arrives, then sends both.
    const port = await startFakeServer(t, (peer) => {
      void (async () => {
        let held: number | undefined;
        for (let seen = 1; ; seen++) {
          const message = (await peer.received(seen))[seen - 1];
          if (message?.kind === "hello") {
            peer.send(frameOf({ kind: "welcome", version: PROTOCOL_VERSION, name: "fake" }));
          } else if (message?.kind === "request" && message.method === "first") {
            held = message.id;
          } else if (message?.kind === "request") {
            if (held !== undefined)
              peer.send(frameOf({ kind: "reply", id: held, payload: "late" }));
            peer.send(frameOf({ kind: "reply", id: message.id, payload: message.method }));
          }
        }
      })().catch(() => {});
    });
    const client = newClient(t);
    const address = `${HOST}:${port}`;
    assert.equal(await client.call(address, "warm-up", null), "warm-up");
    await assert.rejects(client.call(address, "first", null, { timeoutMs: 50 }), (error: unknown) =>
      isTalariaError(error, "ERR_TIMEOUT"),
    );
    assert.equal(await client.call(address, "second", null), "second");
    assert.equal(await client.call(address, "third", null), "third");
  });

  it("closes a connection that sends no HELLO within handshakeTimeoutMs", async (t) => {
    const server = await startServer(t, { handshakeTimeoutMs: 50 });
    const peer = await RawPeer.connect(t, server.port);
    await within(peer.closed, 2000, "server closes the silent connection");
    const late = await RawPeer.connect(t, server.port);
    late.send(helloFrame());
    const [welcome] = await late.received(1);
    assert.equal(welcome?.kind, "welcome");
  });

  it("client close fails waiting calls and refuses new ones", async (t) => {
    const server = await startServer(t);
    server.handle("hang", async () => new Promise(() => {}));
    const client = newClient(t);
    const pending = client.call(server.address, "hang", null);
    await client.close();
    await assert.rejects(pending, networkFailure);
    await assert.rejects(client.call(server.address, "hang", null), (error: unknown) =>
      isTalariaError(error, "ERR_INVALID_STATE"),
    );
  });

  it("server close aborts handlers, closes every connection and resolves", async (t) => {
    const server = await startServer(t);
    const allStarted = deferred();
    const reasons: unknown[] = [];
    server.handle("hang", async (_payload, context) => {
      context.signal.addEventListener("abort", () => reasons.push(context.signal.reason));
      if (server.inflightCount === 3) allStarted.resolve();
      return new Promise(() => {});
    });
    const clients = [newClient(t), newClient(t), newClient(t)];
    const calls = Promise.allSettled(clients.map((c) => c.call(server.address, "hang", null)));
    await within(allStarted.promise, 2000, "three handlers running");
    await server.close();
    assert.equal(server.connectionCount, 0);
    assert.equal(server.inflightCount, 0);
    assert.equal(reasons.length, 3);
    for (const reason of reasons) assert.ok(isTalariaError(reason, "ERR_NETWORK_FAILURE"));
    for (const result of await calls) {
      assert.equal(result.status, "rejected");
      networkFailure(result.status === "rejected" ? result.reason : undefined);
    }
  });
});
