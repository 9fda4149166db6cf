import assert from "node:assert/strict";
import { it } from "node:test";
import { Registry } from "prom-client";
import { TalariaError } from "../../src/common/errors.ts";
import { commonRoutes, json, Router } from "../../src/http/index.ts";

const request = (path: string, query = "") => ({
  method: "GET",
  path,
  query: new URLSearchParams(query),
});

it("routes declared as data answer JSON, text, 404 and coded errors — no sockets needed", async () => {
  const registry = new Registry();
  const router = new Router([
    ...commonRoutes(registry, "meta"),
    {
      path: "/meta/app",
      description: "one table",
      handler: async (query) => {
        const name = query.get("name");
        if (name === null) throw new TalariaError("ERR_INVALID_PARAMETERS", "name is required");
        if (name !== "t") throw new TalariaError("ERR_APP_NOT_EXIST", `no table ${name}`);
        return json({ name, key: Buffer.from("k"), binary: Buffer.from([0, 1]), big: 2n ** 70n });
      },
    },
  ]);
  const ok = await router.handle(request("/meta/app", "name=t"));
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), {
    name: "t",
    key: "k",
    binary: "0x0001",
    big: "1180591620717411303424",
  });
  assert.equal((await router.handle(request("/meta/app"))).status, 400);
  const missing = await router.handle(request("/meta/app", "name=x"));
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.body).code, "ERR_APP_NOT_EXIST");
  assert.equal((await router.handle(request("/nope"))).status, 404);
  const version = JSON.parse((await router.handle(request("/version"))).body);
  assert.equal(version.role, "meta");
  const metrics = await router.handle(request("/metrics"));
  assert.match(metrics.contentType, /text\/plain/);
  const index = JSON.parse((await router.handle(request("/"))).body);
  assert.deepEqual(
    index.routes.map((r: { path: string }) => r.path),
    ["/metrics", "/version", "/meta/app"],
  );
});
