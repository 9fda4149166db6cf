/**
 * One-way messages (NOTIFY, protocol version 2): the server runs the handler and answers nothing;
 * version-1 peers keep working; a client falls back to a call where NOTIFY is not spoken yet.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "../../src/metrics/index.ts";
import { PROTOCOL_VERSION_MIN, RpcMetrics, type WireMessage } from "../../src/rpc/index.ts";
import {
  captureLog,
  deferred,
  frameOf,
  HOST,
  helloFrame,
  newClient,
  RawPeer,
  sample,
  startFakeServer,
  startServer,
  within,
} from "./rpc-fixture.ts";

async function serve(t: Parameters<typeof newClient>[0]) {
  const registry = new Registry();
  const { log, entries } = captureLog();
  const server = await startServer(t, {}, { log, metrics: new RpcMetrics(registry) });
  server.handle("echo", async (payload) => payload);
  const notified: unknown[] = [];
  let arrived = deferred();
  server.handle("peer.message", async (payload) => {
    notified.push(payload);
    arrived.resolve();
    return "an answer nobody gets";
  });
  server.handle("peer.broken", async () => {
    throw new Error("handler bug");
  });
  return {
    server,
    registry,
    entries,
    notified,
    nextArrival: () => {
      arrived = deferred();
      return arrived.promise;
    },
    firstArrival: () => arrived.promise,
  };
}

describe("rpc one-way messages (NOTIFY)", () => {
  it("a NOTIFY runs its handler and gets no answer; a later request on the connection is answered", async (t) => {
    const { server, notified, firstArrival, registry } = await serve(t);
    const peer = await RawPeer.connect(t, server.port);
    peer.send(helloFrame());
    const [welcome] = await peer.received(1);
    assert.deepEqual(welcome, { kind: "welcome", version: 2, name: "test-server" });
    peer.send(frameOf({ kind: "notify", method: "peer.message", payload: { decree: 7 } }));
    await within(firstArrival(), 2000, "notification handled");
    assert.deepEqual(notified, [{ decree: 7 }]);
    peer.send(
      frameOf({ kind: "request", id: 5, method: "echo", payload: "ping", timeoutMs: 2000 }),
    );
    const messages = await peer.received(2);
    // The reply to the request is the only frame after the WELCOME: the NOTIFY got nothing.
    assert.deepEqual(messages.slice(1), [{ kind: "reply", id: 5, payload: "ping" }]);
    const text = await registry.metrics();
    assert.equal(
      sample(text, 'talaria_rpc_server_requests_total{method="peer.message",code="OK"}'),
      1,
    );
  });

  it("unknown methods and failing handlers are counted, never answered, and the connection stays", async (t) => {
    const { server, registry, entries } = await serve(t);
    const peer = await RawPeer.connect(t, server.port);
    peer.send(helloFrame());
    await peer.received(1);
    peer.send(frameOf({ kind: "notify", method: "no.such.method", payload: null }));
    peer.send(frameOf({ kind: "notify", method: "peer.broken", payload: null }));
    peer.send(
      frameOf({ kind: "request", id: 1, method: "echo", payload: "still here", timeoutMs: 2000 }),
    );
    const messages = await peer.received(2);
    assert.deepEqual(messages.slice(1), [{ kind: "reply", id: 1, payload: "still here" }]);
    const text = await registry.metrics();
    assert.equal(
      sample(
        text,
        'talaria_rpc_server_requests_total{method="<unknown>",code="ERR_HANDLER_NOT_FOUND"}',
      ),
      1,
    );
    assert.equal(
      sample(
        text,
        'talaria_rpc_server_requests_total{method="peer.broken",code="ERR_INVALID_STATE"}',
      ),
      1,
    );
    assert.ok(entries.some((e) => /not a TalariaError/.test(e.msg) && e.method === "peer.broken"));
  });

  it("a version-1 client is welcomed with version 1, and a NOTIFY on its connection is refused", async (t) => {
    const { server, notified } = await serve(t);
    const peer = await RawPeer.connect(t, server.port);
    peer.send(helloFrame(PROTOCOL_VERSION_MIN));
    const [welcome] = await peer.received(1);
    assert.deepEqual(welcome, { kind: "welcome", version: 1, name: "test-server" });
    peer.send(frameOf({ kind: "request", id: 3, method: "echo", payload: "v1", timeoutMs: 2000 }));
    const messages = await peer.received(2);
    assert.deepEqual(messages[1], { kind: "reply", id: 3, payload: "v1" });
    peer.send(frameOf({ kind: "notify", method: "peer.message", payload: 1 }));
    await within(peer.closed, 2000, "server closes a version-1 connection sending NOTIFY");
    assert.deepEqual(notified, []);
    // The server itself goes on serving.
    const client = newClient(t);
    assert.equal(await client.call(server.address, "echo", "alive"), "alive");
  });

  it("RpcClient.notify: a call while connecting, NOTIFY frames once the server speaks them", async (t) => {
    const { server, notified, firstArrival, nextArrival } = await serve(t);
    const registry = new Registry();
    const client = newClient(t, {}, { metrics: new RpcMetrics(registry) });
    // The first one goes before the handshake: as a call whose answer nobody waits for.
    client.notify(server.address, "peer.message", "first");
    await within(firstArrival(), 2000, "first notification");
    const second = nextArrival();
    client.notify(server.address, "peer.message", "second");
    await within(second, 2000, "second notification");
    assert.deepEqual(notified, ["first", "second"]);
    const text = await registry.metrics();
    assert.equal(
      sample(text, 'talaria_rpc_client_notifications_total{method="peer.message",code="OK"}'),
      1,
    );
  });

  it("RpcClient.notify to a version-1 server sends calls, and a closed client only counts", async (t) => {
    const seen: WireMessage[] = [];
    const requests = deferred();
    const port = await startFakeServer(t, (peer) => {
      void peer.received(1).then(async () => {
        peer.send(frameOf({ kind: "welcome", version: 1, name: "old" }));
        const messages = await peer.received(3);
        seen.push(...messages.slice(1));
        requests.resolve();
      });
    });
    const registry = new Registry();
    const client = newClient(t, {}, { metrics: new RpcMetrics(registry) });
    const address = `${HOST}:${port}`;
    client.notify(address, "peer.message", 1);
    // A call in between, so the second notification is sent after the WELCOME.
    const answered = client.call(address, "echo", null, { timeoutMs: 200 }).catch(() => {});
    await answered;
    client.notify(address, "peer.message", 2);
    await within(requests.promise, 2000, "the old server receives requests");
    assert.deepEqual(
      seen.map((m) => m.kind),
      ["request", "request"],
    );
    await client.close();
    assert.doesNotThrow(() => client.notify(address, "peer.message", 3));
    const text = await registry.metrics();
    assert.equal(
      sample(
        text,
        'talaria_rpc_client_notifications_total{method="peer.message",code="ERR_INVALID_STATE"}',
      ),
      1,
    );
  });
});
