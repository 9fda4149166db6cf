import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../../src/common/errors.ts";
import {
  checkAlteration,
  duplicationStatuses,
  isValidTransition,
} from "../../../src/meta/core/duplication/index.ts";
import { DuplicationFailMode, DuplicationStatus } from "../../../src/protocol/index.ts";

const { FAIL_SLOW, FAIL_SKIP } = DuplicationFailMode;

/**
 * Pegasus's `is_valid_alteration` table (notes §2.2), written out independently of the code, plus
 * Talaria's re-sync ("r": DS_LOG / DS_PAUSE → DS_PREPARE, resync_duplication).
 */
const pegasusTable = `
from\\to   INIT PREPARE APP LOG PAUSE REMOVED
INIT      =    y       n   y   n     y
PREPARE   n    =       y   n   n     y
APP       n    n       =   y   n     y
LOG       n    r       n   =   y     y
PAUSE     n    r       n   y   =     y
REMOVED   n    n       n   n   n     n
`;

function expectedTable(): Map<string, boolean> {
  const rows = pegasusTable.trim().split("\n").slice(1);
  const order = ["INIT", "PREPARE", "APP", "LOG", "PAUSE", "REMOVED"];
  const table = new Map<string, boolean>();
  for (const row of rows) {
    const [from, ...cells] = row.trim().split(/\s+/);
    cells.forEach((cell, index) => {
      table.set(`DS_${from}->DS_${order[index]}`, cell === "=" || cell === "y" || cell === "r");
    });
  }
  return table;
}

describe("duplication statuses", () => {
  it("allows exactly Pegasus's transitions plus the re-sync (every pair, same-to-same included)", () => {
    const table = expectedTable();
    assert.equal(table.size, 36);
    for (const from of duplicationStatuses)
      for (const to of duplicationStatuses)
        assert.equal(isValidTransition(from, to), table.get(`${from}->${to}`), `${from} → ${to}`);
  });

  it("checks an alteration like alter_status: busy first, removed, invalid, then no-op or change", () => {
    const log = { status: DuplicationStatus.DS_LOG, failMode: FAIL_SLOW };
    assert.throws(
      () => checkAlteration(log, true, DuplicationStatus.DS_PAUSE, FAIL_SLOW),
      (e) => isTalariaError(e, "ERR_BUSY"),
    );
    assert.throws(
      () =>
        checkAlteration(
          { status: DuplicationStatus.DS_REMOVED, failMode: FAIL_SLOW },
          false,
          DuplicationStatus.DS_LOG,
          FAIL_SLOW,
        ),
      (e) => isTalariaError(e, "ERR_OBJECT_NOT_FOUND"),
    );
    assert.throws(
      () => checkAlteration(log, false, DuplicationStatus.DS_APP, FAIL_SLOW),
      (e) => isTalariaError(e, "ERR_INVALID_PARAMETERS"),
    );
    assert.deepEqual(checkAlteration(log, false, DuplicationStatus.DS_LOG, FAIL_SLOW), {
      change: false,
    });
    assert.deepEqual(checkAlteration(log, false, DuplicationStatus.DS_LOG, FAIL_SKIP), {
      change: true,
    });
    assert.deepEqual(checkAlteration(log, false, DuplicationStatus.DS_PAUSE, FAIL_SLOW), {
      change: true,
    });
  });
});
