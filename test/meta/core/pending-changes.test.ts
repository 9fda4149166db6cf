/**
 * PendingChanges' parts: runs of at most `persistWritesPerOpMax` sets, and every deleteTree a part
 * of its own (the runtime cannot make it atomic with anything), in the change's order.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, it } from "node:test";
import type { MetaAction, MetaStoreWrite } from "../../../src/meta/core/index.ts";
import { PendingChanges } from "../../../src/meta/core/pending-changes.ts";

const set = (path: string): MetaStoreWrite => ({ op: "set", path, data: Buffer.from("x") });
const del = (path: string): MetaStoreWrite => ({ op: "deleteTree", path });

/** The paths of each part, persisting every part in turn. */
function parts(writes: readonly MetaStoreWrite[], perPart: number): string[][] {
  const pending = new PendingChanges({
    persistRetryDelayMs: 100,
    persistRetryDelayMaxMs: 1_000,
    persistWritesPerOpMax: perPart,
  });
  let action: MetaAction = pending.start({
    kind: "REMOVE_DUPLICATION",
    writes,
    partitionKey: "1.dup7",
    ddl: false,
    commit: () => [],
    abandon: () => [],
  });
  const seen: string[][] = [];
  for (;;) {
    assert.equal(action.type, "persist");
    if (action.type !== "persist") break;
    seen.push(action.writes.map((w) => `${w.op === "set" ? "set" : "del"} ${w.path}`));
    assert.equal(action.part, seen.length);
    const outcome = pending.persisted(action.opId);
    if ("committed" in outcome) break;
    action = outcome.nextPart;
  }
  assert.equal(pending.size, 0);
  return seen;
}

describe("PendingChanges parts", () => {
  it("keeps a lone deleteTree as one part", () => {
    assert.deepEqual(parts([del("/a")], 4), [["del /a"]]);
  });

  it("puts a deleteTree in a part of its own, between runs of sets, in order", () => {
    assert.deepEqual(parts([set("/m"), del("/a")], 4), [["set /m"], ["del /a"]]);
    assert.deepEqual(
      parts([set("/1"), set("/2"), set("/3"), del("/a"), set("/4"), del("/b"), del("/c")], 2),
      [["set /1", "set /2"], ["set /3"], ["del /a"], ["set /4"], ["del /b"], ["del /c"]],
    );
  });

  it("splits sets alone as before", () => {
    assert.deepEqual(parts([set("/1"), set("/2"), set("/3")], 2), [
      ["set /1", "set /2"],
      ["set /3"],
    ]);
  });
});
