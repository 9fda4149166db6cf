import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { errorCatalogue, TalariaError } from "../../src/common/errors.ts";

describe("error catalogue", () => {
  it("docs/errors.md documents exactly the codes in the catalogue", () => {
    const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const documented = new Set([...doc.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    assert.deepEqual([...documented].sort(), Object.keys(errorCatalogue).sort());
  });

  it("errors carry their code, default retriability, details and cause", () => {
    const cause = new Error("disk");
    const error = new TalariaError("ERR_FILE_OPERATION_FAILED", "fsync failed", {
      details: { file: "x" },
      cause,
    });
    assert.equal(error.code, "ERR_FILE_OPERATION_FAILED");
    assert.equal(error.retriable, true);
    assert.deepEqual(error.details, { file: "x" });
    assert.equal(error.cause, cause);
    assert.match(error.message, /^ERR_FILE_OPERATION_FAILED: fsync failed/);
  });
});
