import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError, TalariaError } from "../../src/common/errors.ts";
import { Registry } from "../../src/metrics/index.ts";
import { DropRequest, type RequestContext, RpcMetrics } from "../../src/rpc/index.ts";
import {
  captureLog,
  deferred,
  newClient,
  sample,
  startServer,
  turn,
  within,
} from "./rpc-fixture.ts";

function rejectsWith(code: string) {
  return (error: unknown) => {
    assert.ok(isTalariaError(error), `expected a TalariaError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

describe("rpc calls", () => {
  it("round-trip payloads with Buffers and bigints, and give handlers their context", async (t) => {
    const server = await startServer(t);
    const contexts: RequestContext[] = [];
    server.handle("echo", async (payload, context) => {
      contexts.push(context);
      return payload;
    });
    const client = newClient(t);
    const payload = {
      hashKey: Buffer.from("h\u0000k"),
      value: Buffer.alloc(1000, 7),
      incrBy: -(2n ** 63n),
      decree: 2n ** 64n - 1n,
      n: 42,
      nested: [{ empty: Buffer.alloc(0) }, null, "text", true],
    };
    const before = Date.now();
    const reply = await client.call(server.address, "echo", payload, { timeoutMs: 3000 });
    assert.deepEqual(reply, payload);
    const typed = reply as typeof payload;
    assert.ok(Buffer.isBuffer(typed.hashKey));
    assert.equal(typeof typed.incrBy, "bigint");
    const [context] = contexts;
    assert.ok(context !== undefined);
    assert.equal(context.method, "echo");
    assert.equal(context.clientName, "test-client");
    assert.match(context.remoteAddress, /^127\.0\.0\.1:\d+$/);
    assert.ok(context.deadlineMs >= before + 2900 && context.deadlineMs <= Date.now() + 3000);
    assert.equal(context.signal.aborted, false);
  });

  it("carries 1000 concurrent calls on one connection, each answered by its own id", async (t) => {
    const server = await startServer(t);
    server.handle("double", async (payload) => {
      // Answer out of order: odd ids wait one turn.
      if ((payload as number) % 2 === 1) await turn();
      return (payload as number) * 2;
    });
    const client = newClient(t);
    const calls = Array.from({ length: 1000 }, (_, i) => client.call(server.address, "double", i));
    assert.equal(client.connectionCount, 1);
    const replies = await within(Promise.all(calls), 10_000, "1000 calls");
    assert.deepEqual(
      replies,
      Array.from({ length: 1000 }, (_, i) => i * 2),
    );
    assert.equal(server.connectionCount, 1);
    assert.equal(server.inflightCount, 0);
  });

  it("rethrows a handler's TalariaError with its code, details and retriability", async (t) => {
    const server = await startServer(t);
    server.handle("create", async () => {
      throw new TalariaError("ERR_OBJECT_EXIST", "table temp exists", {
        details: { table: "temp", id: 3n },
      });
    });
    const client = newClient(t);
    await assert.rejects(client.call(server.address, "create", null), (error: unknown) => {
      assert.ok(isTalariaError(error, "ERR_OBJECT_EXIST"));
      assert.equal(error.message, "ERR_OBJECT_EXIST: table temp exists");
      assert.deepEqual(error.details, { table: "temp", id: 3n });
      assert.equal(error.retriable, false);
      return true;
    });
  });

  it("answers an unexpected handler failure as internal ERR_INVALID_STATE and logs the stack", async (t) => {
    const { log, entries } = captureLog();
    const server = await startServer(t, {}, { log });
    server.handle("buggy", async () => {
      throw new TypeError("cannot read properties of undefined (secret detail)");
    });
    server.handle("sync-buggy", (() => {
      throw new RangeError("thrown before any promise");
    }) as never);
    server.handle("unencodable", async () => 2n ** 70n);
    const client = newClient(t);
    for (const method of ["buggy", "sync-buggy", "unencodable"]) {
      await assert.rejects(client.call(server.address, method, null), (error: unknown) => {
        assert.ok(isTalariaError(error, "ERR_INVALID_STATE"));
        assert.equal(error.message, "ERR_INVALID_STATE: internal error");
        assert.doesNotMatch(JSON.stringify(error.details), /secret/);
        return true;
      });
    }
    const logged = entries.filter((e) => e.level === 50);
    assert.equal(logged.length, 3);
    assert.equal(logged[0]?.method, "buggy");
    const err = logged[0]?.err as { stack?: string } | undefined;
    assert.match(String(err?.stack), /secret detail/);
  });

  it("answers an unknown method with ERR_HANDLER_NOT_FOUND", async (t) => {
    const server = await startServer(t);
    const client = newClient(t);
    await assert.rejects(client.call(server.address, "no_such_method", 1), (error: unknown) => {
      assert.ok(isTalariaError(error, "ERR_HANDLER_NOT_FOUND"));
      assert.deepEqual(error.details, { method: "no_such_method" });
      return true;
    });
  });

  it("times out a call whose handler never answers, and cleans up the server side", async (t) => {
    const server = await startServer(t);
    const aborted = deferred<unknown>();
    server.handle("hang", (_payload, context) => {
      context.signal.addEventListener("abort", () => aborted.resolve(context.signal.reason));
      return new Promise(() => {});
    });
    const client = newClient(t);
    const started = performance.now();
    await assert.rejects(
      client.call(server.address, "hang", null, { timeoutMs: 100 }),
      rejectsWith("ERR_TIMEOUT"),
    );
    assert.ok(performance.now() - started >= 99);
    const reason = await within(aborted.promise, 2000, "handler signal aborted");
    assert.ok(isTalariaError(reason, "ERR_TIMEOUT"));
    await turn();
    assert.equal(server.inflightCount, 0);
    // The connection is still good.
    server.handle("ping", async () => "pong");
    assert.equal(await client.call(server.address, "ping", null), "pong");
  });

  it("drops a request without reply when the handler throws DropRequest", async (t) => {
    const registry = new Registry();
    const metrics = new RpcMetrics(registry);
    const server = await startServer(t, {}, { metrics });
    server.handle("deny", async () => {
      throw new DropRequest("deny in timeout mode");
    });
    const client = newClient(t, {}, { metrics });
    await assert.rejects(
      client.call(server.address, "deny", null, { timeoutMs: 100 }),
      rejectsWith("ERR_TIMEOUT"),
    );
    const text = await registry.metrics();
    assert.equal(
      sample(text, 'talaria_rpc_server_requests_total{method="deny",code="DROPPED"}'),
      1,
    );
    assert.equal(
      sample(text, 'talaria_rpc_client_calls_total{method="deny",code="ERR_TIMEOUT"}'),
      1,
    );
    assert.equal(server.inflightCount, 0);
  });

  it("answers ERR_BUSY past inflightPerConnectionMax, and serves again once requests finish", async (t) => {
    const server = await startServer(t, { inflightPerConnectionMax: 2 });
    const release = deferred();
    server.handle("slow", async (payload) => {
      await release.promise;
      return payload;
    });
    const client = newClient(t);
    const first = client.call(server.address, "slow", 1);
    const second = client.call(server.address, "slow", 2);
    await assert.rejects(client.call(server.address, "slow", 3), (error: unknown) => {
      assert.ok(isTalariaError(error, "ERR_BUSY"));
      assert.equal(error.retriable, true);
      assert.deepEqual(error.details, { limit: "inflightPerConnectionMax", max: 2 });
      return true;
    });
    release.resolve();
    assert.deepEqual(await Promise.all([first, second]), [1, 2]);
    assert.equal(await client.call(server.address, "slow", 4), 4);
  });

  it("refuses calls past pendingCallsPerConnectionMax on the client", async (t) => {
    const server = await startServer(t);
    const release = deferred();
    server.handle("slow", async () => release.promise);
    const client = newClient(t, { pendingCallsPerConnectionMax: 1 });
    const first = client.call(server.address, "slow", null);
    await assert.rejects(client.call(server.address, "slow", null), rejectsWith("ERR_BUSY"));
    release.resolve();
    await first;
  });

  it("refuses frames over frameBytesMax on both sides with ERR_LIMIT_EXCEEDED", async (t) => {
    const server = await startServer(t, { frameBytesMax: 4096 });
    server.handle("big-reply", async () => Buffer.alloc(8192));
    server.handle("echo", async (payload) => payload);
    const client = newClient(t, { frameBytesMax: 4096 });
    await assert.rejects(
      client.call(server.address, "echo", Buffer.alloc(8192)),
      (error: unknown) => {
        assert.ok(isTalariaError(error, "ERR_LIMIT_EXCEEDED"));
        assert.equal(error.details.limit, "frameBytesMax");
        return true;
      },
    );
    await assert.rejects(client.call(server.address, "big-reply", null), (error: unknown) => {
      assert.ok(isTalariaError(error, "ERR_LIMIT_EXCEEDED"));
      assert.equal(error.details.limit, "frameBytesMax");
      return true;
    });
    assert.deepEqual(await client.call(server.address, "echo", Buffer.alloc(10)), Buffer.alloc(10));
  });

  it("refuses bad call arguments before touching the network", async (t) => {
    const client = newClient(t);
    await assert.rejects(client.call("nohost", "m", null), rejectsWith("ERR_INVALID_PARAMETERS"));
    await assert.rejects(client.call("h:0", "m", null), rejectsWith("ERR_INVALID_PARAMETERS"));
    await assert.rejects(
      client.call("127.0.0.1:1", "m", null, { timeoutMs: 0 }),
      rejectsWith("ERR_INVALID_PARAMETERS"),
    );
    await assert.rejects(
      client.call("127.0.0.1:1", "m", null, { timeoutMs: 2 ** 31 }),
      rejectsWith("ERR_INVALID_PARAMETERS"),
    );
    assert.equal(client.connectionCount, 0);
  });

  it("counts requests, outcomes, latency, bytes and connections", async (t) => {
    const registry = new Registry();
    const metrics = new RpcMetrics(registry);
    const server = await startServer(t, {}, { metrics });
    server.handle("ok", async () => "fine");
    server.handle("fail", async () => {
      throw new TalariaError("ERR_BUSY", "later");
    });
    const client = newClient(t, {}, { metrics });
    await client.call(server.address, "ok", null);
    await client.call(server.address, "ok", null);
    await assert.rejects(client.call(server.address, "fail", null));
    await assert.rejects(client.call(server.address, "nope", null));
    const text = await registry.metrics();
    const s = (series: string) => sample(text, series);
    assert.equal(s('talaria_rpc_server_requests_total{method="ok",code="OK"}'), 2);
    assert.equal(s('talaria_rpc_server_requests_total{method="fail",code="ERR_BUSY"}'), 1);
    assert.equal(
      s('talaria_rpc_server_requests_total{method="<unknown>",code="ERR_HANDLER_NOT_FOUND"}'),
      1,
    );
    assert.equal(s('talaria_rpc_client_calls_total{method="ok",code="OK"}'), 2);
    assert.equal(
      s('talaria_rpc_client_calls_total{method="nope",code="ERR_HANDLER_NOT_FOUND"}'),
      1,
    );
    assert.equal(s('talaria_rpc_server_request_duration_seconds_count{method="ok"}'), 2);
    assert.equal(s('talaria_rpc_client_call_duration_seconds_count{method="ok"}'), 2);
    assert.equal(s('talaria_rpc_open_connections{side="server"}'), 1);
    assert.equal(s('talaria_rpc_open_connections{side="client"}'), 1);
    const clientSent = s('talaria_rpc_sent_bytes_total{side="client"}') ?? 0;
    assert.ok(clientSent > 0);
    assert.equal(s('talaria_rpc_received_bytes_total{side="server"}'), clientSent);
    await client.close();
    await server.close();
    const after = await registry.metrics();
    assert.equal(sample(after, 'talaria_rpc_open_connections{side="server"}'), 0);
    assert.equal(sample(after, 'talaria_rpc_open_connections{side="client"}'), 0);
  });
});
