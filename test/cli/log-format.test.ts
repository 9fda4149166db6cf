import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bytesToDisplay,
  bytesToJson,
  DISPLAY_VALUE_CHARS_MAX,
  formatTimestampUs,
} from "../../src/cli/log-format.ts";

describe("log formatting", () => {
  test("bytes are text when printable UTF-8, 0x-hex otherwise", () => {
    const cases: [Buffer, string][] = [
      [Buffer.from("user1"), "user1"],
      [Buffer.from("héllo wörld ✓"), "héllo wörld ✓"],
      [Buffer.alloc(0), ""],
      [Buffer.from([0xff, 0xfe]), "0xfffe"], // not UTF-8
      [Buffer.from("a\nb"), "0x610a62"], // control character
      [Buffer.from("\u200bx"), "0xe2808b78"], // zero-width space (format character)
      [Buffer.from("\ufeffx"), "0xefbbbf78"], // byte-order mark is kept, not stripped
      [Buffer.from("0x12"), "0x30783132"], // text starting with 0x would read as hex
    ];
    for (const [bytes, expected] of cases) assert.equal(bytesToJson(bytes), expected);
  });

  test("human form quotes text, cuts by characters, never splits one", () => {
    assert.equal(bytesToDisplay(Buffer.from('say "hi"'), 64), '"say \\"hi\\""');
    const emoji = "😀".repeat(DISPLAY_VALUE_CHARS_MAX + 1);
    assert.equal(
      bytesToDisplay(Buffer.from(emoji), DISPLAY_VALUE_CHARS_MAX),
      `"${"😀".repeat(DISPLAY_VALUE_CHARS_MAX)}"…`,
    );
    assert.equal(bytesToDisplay(Buffer.from([1, 2, 3]), 4), "0x0102…");
    assert.equal(bytesToDisplay(Buffer.from([1, 2]), 4), "0x0102");
  });

  test("timestamps print as UTC with microseconds", () => {
    assert.equal(formatTimestampUs(0), "1970-01-01T00:00:00.000000Z");
    assert.equal(
      formatTimestampUs(Date.UTC(2026, 10, 21, 14) * 1000 + 123_456),
      "2026-11-21T14:00:00.123456Z",
    );
    assert.equal(formatTimestampUs(Number.MAX_SAFE_INTEGER), "2255-06-05T23:47:34.740991Z");
  });
});
