/** Decoding UPDATE_CONFIGURATION: its change, and the optional change number (the fence). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../../src/common/errors.ts";
import { decodeMetaRequest } from "../../../src/meta/service/index.ts";
import { MetaMethod } from "../../../src/protocol/index.ts";

const invalid = (e: unknown) => isTalariaError(e, "ERR_INVALID_PARAMETERS");
const base = {
  gpid: { appId: 1, partitionIndex: 0 },
  node: "10.0.0.1:34801",
  ballot: 4,
  change: { type: "ADD_SECONDARY", node: "10.0.0.2:34801" },
};

describe("decoding meta.update_configuration", () => {
  it("takes a change number of 1 or more, and none from an older replica server", () => {
    assert.deepEqual(decodeMetaRequest(MetaMethod.UPDATE_CONFIGURATION, base), {
      method: MetaMethod.UPDATE_CONFIGURATION,
      body: base,
    });
    assert.deepEqual(
      decodeMetaRequest(MetaMethod.UPDATE_CONFIGURATION, { ...base, changeId: 7 }).body,
      { ...base, changeId: 7 },
    );
    assert.deepEqual(
      decodeMetaRequest(MetaMethod.UPDATE_CONFIGURATION, { ...base, changeId: null }).body,
      base,
    );
  });

  it("refuses a bad change number or change", () => {
    for (const payload of [
      { ...base, changeId: 0 },
      { ...base, changeId: -1 },
      { ...base, changeId: 1.5 },
      { ...base, changeId: "1" },
      { ...base, change: { type: "MOVE_PRIMARY", node: "10.0.0.2:34801" } },
      { ...base, change: { type: "ADD_SECONDARY", node: "nowhere" } },
      { ...base, ballot: -1 },
    ])
      assert.throws(() => decodeMetaRequest(MetaMethod.UPDATE_CONFIGURATION, payload), invalid);
  });
});
