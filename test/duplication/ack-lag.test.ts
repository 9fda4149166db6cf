/** AckLagMarks: each decree seen committed is reported once, never shorter than it waited. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACK_LAG_MARKS_MAX, AckLagMarks } from "../../src/duplication/index.ts";

/** Runs `acknowledged` and returns what it reported as [lagMs, count] pairs. */
function ack(marks: AckLagMarks, decree: number, nowMs: number): [number, number][] {
  const out: [number, number][] = [];
  marks.acknowledged(decree, nowMs, (lagMs, count) => out.push([lagMs, count]));
  return out;
}

describe("AckLagMarks", () => {
  it("does not measure what was committed before its first look", () => {
    const marks = new AckLagMarks();
    marks.committed(10, 0);
    assert.deepEqual(ack(marks, 10, 50), []);
    marks.committed(12, 100);
    assert.deepEqual(ack(marks, 12, 130), [[30, 2]]);
  });

  it("reports each group of decrees with the time it was first seen, across partial progress", () => {
    const marks = new AckLagMarks();
    marks.committed(0, 0);
    marks.committed(3, 10); // decrees 1..3 seen at 10
    marks.committed(3, 15); // nothing new
    marks.committed(5, 20); // 4..5 seen at 20
    marks.committed(9, 40); // 6..9 seen at 40
    assert.deepEqual(ack(marks, 2, 50), [[40, 2]]);
    assert.deepEqual(ack(marks, 7, 60), [
      [50, 1],
      [40, 2],
      [20, 2],
    ]);
    assert.deepEqual(ack(marks, 7, 70), [], "nothing twice");
    assert.deepEqual(ack(marks, 9, 80), [[40, 2]]);
    assert.equal(marks.size, 0);
  });

  it("skips what another primary shipped, and what it never saw committed", () => {
    const marks = new AckLagMarks();
    marks.committed(0, 0);
    marks.committed(4, 10);
    marks.committed(8, 20);
    marks.skipThrough(6); // meta confirmed up to 6 from elsewhere
    assert.deepEqual(ack(marks, 8, 30), [[10, 2]]);
    assert.deepEqual(ack(marks, 12, 40), [], "9..12 acknowledged before they were seen");
    marks.committed(12, 45);
    marks.committed(13, 50);
    assert.deepEqual(ack(marks, 13, 60), [[10, 1]]);
  });

  it("keeps at most ACK_LAG_MARKS_MAX marks; later decrees share the newest, reported longer", () => {
    const marks = new AckLagMarks();
    marks.committed(0, 0);
    for (let d = 1; d <= ACK_LAG_MARKS_MAX + 100; d++) marks.committed(d, d);
    assert.equal(marks.size, ACK_LAG_MARKS_MAX);
    let total = 0;
    let last: [number, number] | undefined;
    marks.acknowledged(ACK_LAG_MARKS_MAX + 100, 10_000, (lagMs, count) => {
      total += count;
      last = [lagMs, count];
    });
    assert.equal(total, ACK_LAG_MARKS_MAX + 100, "every decree once");
    // The newest mark was taken at ACK_LAG_MARKS_MAX and holds the 100 decrees seen after it.
    assert.deepEqual(last, [10_000 - ACK_LAG_MARKS_MAX, 101]);
  });
});
