/**
 * The HTTP server's file bodies: streamed through a pair of reused read buffers, so the bytes must
 * come out identical across many buffer turns, from a range start, and a file that is short,
 * missing or abandoned by its client must cut the response without hurting the server.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { silentLogger } from "../../src/common/logger.ts";
import { HTTP_FILE_READ_BYTES, HttpServer, Router } from "../../src/http/index.ts";

interface Fetched {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly body: Buffer;
  /** The response ended short of its content-length (connection cut). */
  readonly cut: boolean;
}

function fetchRaw(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<Fetched>((resolve, reject) => {
    const request = get({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let cut = false;
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("aborted", () => {
        cut = true;
      });
      res.on("error", () => {
        cut = true;
      });
      res.on("close", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          cut: cut || !res.complete,
        }),
      );
    });
    request.on("error", (error) => {
      // Cut before any of the response arrived (headers are sent with the first body bytes).
      if ((error as NodeJS.ErrnoException).code === "ECONNRESET")
        resolve({ status: 0, headers: {}, body: Buffer.alloc(0), cut: true });
      else reject(error);
    });
  });
}

describe("HTTP file bodies", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "talaria-http-file-"));
  // Several turns of both read buffers, and a last read shorter than a buffer.
  const content = randomBytes(HTTP_FILE_READ_BYTES * 5 + 12_345);
  const bigPath = join(dir, "big.bin");
  const smallPath = join(dir, "small.bin");
  const sent: { name: string; bytes: number }[] = [];
  const waiters: { name: string; resolve: (bytes: number) => void }[] = [];
  const onSent = (name: string, bytes: number) => {
    sent.push({ name, bytes });
    for (const waiter of waiters.splice(0)) {
      if (waiter.name === name) waiter.resolve(bytes);
      else waiters.push(waiter);
    }
  };
  let listed = new Map<string, { path: string; bytes: number }>();
  let server: HttpServer;
  let port = 0;

  before(async () => {
    writeFileSync(bigPath, content);
    writeFileSync(smallPath, Buffer.from("hello"));
    listed = new Map([
      ["big", { path: bigPath, bytes: content.length }],
      // The same file under its own name for the client that goes away (its own onSent report).
      ["abandoned", { path: bigPath, bytes: content.length }],
      ["small", { path: smallPath, bytes: 5 }],
      // Listed longer than the file is: the body must be cut, never padded.
      ["short", { path: smallPath, bytes: 4096 }],
      ["missing", { path: join(dir, "gone.bin"), bytes: 100 }],
    ]);
    server = new HttpServer(
      new Router([
        {
          path: "/file",
          description: "a file",
          handler: async (query) => {
            const name = query.get("name") ?? "";
            const file = listed.get(name);
            if (file === undefined) throw new Error(`no file ${name}`);
            return {
              kind: "file",
              ...file,
              onSent: (bytes) => onSent(name, bytes),
            };
          },
        },
      ]),
      silentLogger,
    );
    port = await server.listen("127.0.0.1", 0);
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The bytes onSent reported for `name`, waiting for the report (the test's timeout bounds it). */
  const sentFor = (name: string): Promise<number> => {
    const found = sent.find((s) => s.name === name);
    if (found !== undefined) return Promise.resolve(found.bytes);
    return new Promise((resolve) => waiters.push({ name, resolve }));
  };

  it("streams a file of many read buffers byte for byte, and reports it all sent", async () => {
    const whole = await fetchRaw(port, "/file?name=big");
    assert.equal(whole.status, 200);
    assert.equal(whole.cut, false);
    assert.equal(whole.body.length, content.length);
    assert.ok(whole.body.equals(content), "the body differs from the file");
    assert.equal(await sentFor("big"), content.length);
    const small = await fetchRaw(port, "/file?name=small");
    assert.equal(small.body.toString(), "hello");
  });

  it("streams from a range start that is not buffer-aligned", async () => {
    const start = HTTP_FILE_READ_BYTES + 777;
    const tail = await fetchRaw(port, "/file?name=big", { range: `bytes=${start}-` });
    assert.equal(tail.status, 206);
    assert.equal(tail.cut, false);
    assert.ok(tail.body.equals(content.subarray(start)), "the ranged body differs from the file");
  });

  it("cuts the body of a file shorter than listed, and of a missing file, and keeps serving", async () => {
    const short = await fetchRaw(port, "/file?name=short");
    assert.equal(short.cut, true);
    assert.ok(short.body.length < 4096);
    assert.ok(short.body.equals(Buffer.from("hello").subarray(0, short.body.length)));
    const missing = await fetchRaw(port, "/file?name=missing");
    assert.equal(missing.cut, true);
    assert.equal(missing.body.length, 0);
    const again = await fetchRaw(port, "/file?name=small");
    assert.equal(again.body.toString(), "hello");
  });

  it("stops reading when the client goes away, reports what was sent, and keeps serving", async () => {
    await new Promise<void>((resolve, reject) => {
      const request = get(
        { host: "127.0.0.1", port, path: "/file?name=abandoned", agent: false },
        (res) => {
          res.once("data", () => {
            request.destroy();
            resolve();
          });
        },
      );
      request.on("error", (error) => {
        if ((error as NodeJS.ErrnoException).code !== "ECONNRESET") reject(error);
      });
    });
    const bytes = await sentFor("abandoned");
    assert.ok(bytes < content.length, `sent ${bytes} of ${content.length}`);
    const whole = await fetchRaw(port, "/file?name=big");
    assert.ok(whole.body.equals(content));
  });
});
