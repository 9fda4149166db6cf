import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { isTalariaError } from "../../src/common/errors.ts";
import { Registry } from "../../src/metrics/index.ts";
import {
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  RpcMetrics,
  type RpcServer,
} from "../../src/rpc/index.ts";
import {
  captureLog,
  frameOf,
  HOST,
  helloFrame,
  newClient,
  RawPeer,
  rawFrame,
  sample,
  startFakeServer,
  startServer,
  within,
} from "./rpc-fixture.ts";

const plain = new Packr({ useRecords: false });

/** The server still serves a well-behaved client, on a connection opened after the bad one. */
async function stillServes(t: Parameters<typeof newClient>[0], server: RpcServer): Promise<void> {
  const client = newClient(t);
  assert.equal(await client.call(server.address, "echo", "alive"), "alive");
}

async function serve(t: Parameters<typeof newClient>[0], frameBytesMax = 1024) {
  const registry = new Registry();
  const { log, entries } = captureLog();
  const server = await startServer(
    t,
    { frameBytesMax },
    { log, metrics: new RpcMetrics(registry) },
  );
  server.handle("echo", async (payload) => payload);
  return { server, entries, registry };
}

describe("rpc protocol violations", () => {
  it("an oversized frame closes only that connection, with a logged reason", async (t) => {
    const { server, entries, registry } = await serve(t);
    const bystander = newClient(t);
    assert.equal(await bystander.call(server.address, "echo", 1), 1);

    const peer = await RawPeer.connect(t, server.port);
    const peerAddress = `${HOST}:${peer.socket.localPort}`;
    peer.send(helloFrame());
    await peer.received(1);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025, 0);
    peer.send(header);
    await within(peer.closed, 2000, "server closes the connection");

    assert.equal(await bystander.call(server.address, "echo", 2), 2);
    await stillServes(t, server);
    const warning = entries.find((e) => e.reason === "oversized");
    assert.ok(warning !== undefined);
    assert.equal(warning.level, 40);
    assert.equal(warning.remoteAddress, peerAddress);
    assert.match(String(warning.detail), /1025 bytes is over frameBytesMax = 1024/);
    const text = await registry.metrics();
    assert.equal(
      sample(text, 'talaria_rpc_frames_rejected_total{side="server",reason="oversized"}'),
      1,
    );
  });

  it("garbage of every kind closes the offending connection and nothing else", async (t) => {
    const { server, entries } = await serve(t);
    const bystander = newClient(t);
    assert.equal(await bystander.call(server.address, "echo", 0), 0);
    const request = (id: unknown) => plain.pack([3, id, "echo", null, 1000]);
    const cases: [string, Buffer, string][] = [
      ["http", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "oversized"],
      ["bad msgpack first", rawFrame(Buffer.from([0x92, 0x01])), "bad_msgpack"],
      ["request before hello", rawFrame(request(1)), "handshake"],
      ["wrong magic", helloFrame(PROTOCOL_VERSION, "PEGASUS"), "handshake"],
      [
        "bad msgpack",
        Buffer.concat([helloFrame(), rawFrame(Buffer.from([0xc1, 0x00]))]),
        "bad_msgpack",
      ],
      ["not an array", Buffer.concat([helloFrame(), rawFrame(plain.pack({ a: 1 }))]), "bad_shape"],
      ["unknown kind", Buffer.concat([helloFrame(), rawFrame(plain.pack([42]))]), "unknown_kind"],
      ["negative id", Buffer.concat([helloFrame(), rawFrame(request(-1))]), "bad_shape"],
      [
        "reply from a client",
        Buffer.concat([helloFrame(), frameOf({ kind: "reply", id: 1, payload: null })]),
        "unexpected_kind",
      ],
    ];
    for (const [name, bytes, reason] of cases) {
      const peer = await RawPeer.connect(t, server.port);
      peer.send(bytes);
      await within(peer.closed, 2000, `server closes the connection (${name})`);
      assert.ok(
        entries.some((e) => e.reason === reason),
        `${name}: expected a logged ${reason}`,
      );
    }
    assert.equal(await bystander.call(server.address, "echo", 1), 1);
    await stillServes(t, server);
  });

  it("random bytes after a good handshake never crash the server", async (t) => {
    const { server } = await serve(t, 256);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const peer = await RawPeer.connect(t, server.port);
        peer.send(helloFrame());
        await peer.received(1);
        peer.send(Buffer.from(bytes));
        peer.socket.end();
        await within(peer.closed, 2000, "connection ends");
      }),
      { numRuns: 50 },
    );
    await stillServes(t, server);
  });

  it("a HELLO with another protocol version is answered with a REJECT naming both, then closed", async (t) => {
    const { server, entries } = await serve(t);
    const peer = await RawPeer.connect(t, server.port);
    peer.send(helloFrame(99));
    const [reply] = await peer.received(1);
    await within(peer.closed, 2000, "server closes after the REJECT");
    assert.equal(reply?.kind, "reject");
    assert.ok(reply?.kind === "reject");
    assert.equal(reply.code, "ERR_HANDLER_NOT_FOUND");
    assert.match(reply.message, /protocol version 99 is not supported; this server speaks 1 to 2/);
    assert.ok(entries.some((e) => e.reason === "handshake" && /version 99/.test(e.msg)));
    await stillServes(t, server);
  });

  it("a client refused by the server's handshake fails its calls with the server's reason", async (t) => {
    const port = await startFakeServer(t, (peer) => {
      void peer.received(1).then(() => {
        peer.send(
          frameOf({
            kind: "reject",
            code: "ERR_HANDLER_NOT_FOUND",
            message: "protocol version 1 is not supported; this server speaks 2",
          }),
        );
      });
    });
    const client = newClient(t);
    await assert.rejects(client.call(`${HOST}:${port}`, "m", null), (error: unknown) => {
      assert.ok(isTalariaError(error, "ERR_HANDLER_NOT_FOUND"));
      assert.match(error.message, /this server speaks 2/);
      return true;
    });
  });

  it("a server sending garbage fails the client's calls with ERR_NETWORK_FAILURE", async (t) => {
    const registry = new Registry();
    const { log, entries } = captureLog();
    const port = await startFakeServer(t, (peer) => {
      void peer.received(1).then(() => {
        peer.send(frameOf({ kind: "welcome", version: PROTOCOL_VERSION, name: "fake" }));
        peer.send(rawFrame(Buffer.from([0xc1])));
      });
    });
    const client = newClient(t, {}, { log, metrics: new RpcMetrics(registry) });
    await assert.rejects(client.call(`${HOST}:${port}`, "m", null), (error: unknown) => {
      assert.ok(isTalariaError(error, "ERR_NETWORK_FAILURE"));
      assert.match(error.message, /bad_shape/);
      return true;
    });
    assert.ok(entries.some((e) => e.reason === "bad_shape" && e.side === "client"));
    const text = await registry.metrics();
    assert.equal(
      sample(text, 'talaria_rpc_frames_rejected_total{side="client",reason="bad_shape"}'),
      1,
    );
  });

  it("the HELLO magic is the protocol's name", () => {
    assert.equal(PROTOCOL_MAGIC, "TALARIA");
    assert.equal(PROTOCOL_VERSION, 2);
  });
});
