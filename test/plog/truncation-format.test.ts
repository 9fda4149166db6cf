/**
 * The pieces truncation and reset rest on, each alone: the floor flag in the segment header, the
 * intent file's layout and its torn/valid verdict, and the decree bookkeeping (runs and ledger).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { DecreeLedger } from "../../src/plog/decree-ledger.ts";
import { DecreeRuns } from "../../src/plog/decree-runs.ts";
import {
  decodeSegmentHeader,
  encodeBlock,
  encodeSegmentHeader,
  FORMAT_VERSION,
  SEGMENT_FLAG_FLOOR,
} from "../../src/plog/format.ts";
import {
  decodeIntent,
  encodeIntent,
  INTENT_HEADER_BYTES,
  type Intent,
  peekIntentVersion,
} from "../../src/plog/intent-file.ts";

const NONCE = Buffer.from("0102030405060708", "hex");

describe("segment header flags", () => {
  test("golden bytes: a floor segment sets bit 0 of the former reserved field", () => {
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence: 1,
      firstDecree: 5,
      nonce: NONCE,
      flags: SEGMENT_FLAG_FLOOR,
    });
    assert.equal(header.subarray(0, 8).toString("hex"), "54504c5302000100");
    assert.equal(header.readUInt32LE(28), crc32c(header.subarray(0, 28)));
    const decoded = decodeSegmentHeader(header);
    assert.ok(decoded.ok);
    assert.equal(decoded.value.flags, SEGMENT_FLAG_FLOOR);
  });

  test("a header with an unknown flag is refused even with a valid checksum", () => {
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence: 1,
      firstDecree: 5,
      nonce: NONCE,
    });
    header.writeUInt16LE(0x2, 6);
    header.writeUInt32LE(crc32c(header.subarray(0, 28)), 28);
    assert.deepEqual(decodeSegmentHeader(header), { ok: false, reason: "unknown segment flags 2" });
  });
});

describe("intent file", () => {
  const block = encodeBlock([{ decree: 7, payload: Buffer.from("ab") }], {
    nonce: NONCE,
    offset: 100,
  });
  const truncate: Intent = { kind: "truncate", afterDecree: 7, sequence: 3, offset: 100, block };
  const reset: Intent = { kind: "reset", decree: 2 ** 40, sequence: 9 };

  test("golden bytes: the layout is what intent-file.ts documents", () => {
    const bytes = encodeIntent(reset);
    // magic "TPLI" | version 2 | kind 2 | decree 2^40 | sequence 9 | offset 0 | blockBytes 0 | crc
    assert.equal(
      bytes.subarray(0, 32).toString("hex"),
      "54504c49" +
        "0200" +
        "0200" +
        "0000000000010000" +
        "09000000" +
        "0000000000000000" +
        "00000000",
    );
    assert.equal(bytes.readUInt32LE(32), crc32c(bytes.subarray(0, 32)));
    assert.equal(peekIntentVersion(bytes), FORMAT_VERSION);
    const withBlock = encodeIntent(truncate);
    assert.equal(withBlock.length, INTENT_HEADER_BYTES + block.length);
    assert.equal(withBlock.readUInt32LE(28), block.length);
    assert.equal(
      withBlock.readUInt32LE(32),
      crc32c(withBlock.subarray(INTENT_HEADER_BYTES), crc32c(withBlock.subarray(0, 32))),
    );
  });

  test("round-trips both kinds", () => {
    for (const intent of [truncate, reset]) {
      assert.deepEqual(decodeIntent(encodeIntent(intent)), { ok: true, value: intent });
    }
  });

  test("every cut or flipped byte reads as torn, never as a different intent", () => {
    const bytes = encodeIntent(truncate);
    for (let length = 0; length < bytes.length; length++) {
      const decoded = decodeIntent(bytes.subarray(0, length));
      assert.ok(!decoded.ok && decoded.torn, `cut at ${length}`);
    }
    for (let at = 0; at < bytes.length; at++) {
      const damaged = Buffer.from(bytes);
      damaged[at] = (damaged[at] ?? 0) ^ 0x10;
      const decoded = decodeIntent(damaged);
      assert.ok(!decoded.ok && decoded.torn, `flip at ${at}`);
    }
  });

  test("a checksum-valid intent that makes no sense is not torn (it is corruption)", () => {
    const bytes = encodeIntent(reset);
    bytes.writeUInt16LE(9, 6);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 32)), 32);
    assert.deepEqual(decodeIntent(bytes), {
      ok: false,
      torn: false,
      reason: "unknown intent kind 9",
    });
  });
});

describe("decree runs", () => {
  test("answer like the set of decrees they stand for", () => {
    const arbOps = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant("push" as const), gap: fc.integer({ min: 1, max: 3 }) }),
        fc.record({ op: fc.constant("cut" as const), at: fc.integer({ min: 0, max: 60 }) }),
        fc.record({ op: fc.constant("drop" as const), at: fc.integer({ min: 0, max: 60 }) }),
      ),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(arbOps, fc.integer({ min: 0, max: 60 }), (ops, probe) => {
        const runs = new DecreeRuns();
        let model: number[] = [];
        for (const step of ops) {
          if (step.op === "push") {
            const decree = (model.at(-1) ?? 0) + step.gap;
            runs.push(decree);
            model.push(decree);
          } else if (step.op === "cut") {
            runs.cutAfter(step.at);
            model = model.filter((d) => d <= step.at);
          } else {
            runs.dropBelow(step.at);
            model = model.filter((d) => d >= step.at);
          }
          assert.equal(runs.first(), model[0]);
          assert.equal(runs.last(), model.at(-1));
        }
        assert.equal(runs.lastAtOrBelow(probe), model.filter((d) => d <= probe).at(-1));
        let gaps = 0;
        for (let i = 1; i < model.length; i++)
          if ((model[i] ?? 0) > (model[i - 1] ?? 0) + 1) gaps++;
        assert.equal(runs.length, model.length === 0 ? 0 : gaps + 1);
      }),
    );
  });
});

describe("decree ledger", () => {
  test("durableDecree never reaches a record a pending truncation discards", () => {
    const ledger = new DecreeLedger({ floor: null, runs: new DecreeRuns() });
    const tickets = [1, 2, 3, 4, 5].map((d) => ledger.append(d));
    assert.equal(ledger.durableDecree, 0);
    ledger.markDurable(tickets[1] ?? 0);
    assert.equal(ledger.durableDecree, 2);
    assert.equal(ledger.truncateAfter(3), "tail");
    const again = ledger.append(4);
    // 4 and 5 (old) may reach the disk first; they never count.
    ledger.markDurable(tickets[4] ?? 0);
    assert.equal(ledger.durableDecree, 3);
    assert.equal(ledger.lastDecree, 4);
    ledger.markDurable(again);
    assert.equal(ledger.durableDecree, 4);
  });

  test("a truncation into a gap leaves the largest decree held", () => {
    const runs = new DecreeRuns();
    for (const d of [10, 11, 15, 20]) runs.push(d);
    const ledger = new DecreeLedger({ floor: 10, runs });
    assert.equal(ledger.truncateAfter(18), "tail");
    assert.equal(ledger.lastDecree, 15);
    assert.equal(ledger.truncateAfter(9), "everything");
    assert.equal(ledger.lastDecree, 9);
    assert.equal(ledger.firstDecree, 10);
    assert.equal(ledger.truncateAfter(9), "nothing");
  });

  test("reset empties the log and moves its floor anywhere", () => {
    const ledger = new DecreeLedger({ floor: null, runs: new DecreeRuns() });
    ledger.append(3);
    ledger.resetTo(100);
    assert.deepEqual(
      [ledger.firstDecree, ledger.lastDecree, ledger.durableDecree],
      [101, 100, 100],
    );
    ledger.resetTo(0);
    assert.deepEqual([ledger.firstDecree, ledger.lastDecree], [1, 0]);
  });
});
