/**
 * Rendering answers for people and for scripts.
 *
 * Bytes (keys, values) follow the CLI's convention (docs/cli.md): UTF-8 text when the bytes are
 * valid UTF-8 without control, format, private-use or unassigned characters and do not start with
 * `0x`; otherwise `0x` + lowercase hex. In JSON a string starting with `0x` is therefore always
 * hex. Human output quotes text that would not read back as one token (empty, spaces, quotes) and
 * cuts long cells; JSON output is complete.
 */
import { quoteText } from "./tokenizer.ts";

/** Characters of a key or value shown in one table cell before it is cut with "…". */
export const DISPLAY_CELL_CHARS_MAX = 256;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

/** The printable text of `bytes`, or undefined when they render as hex. */
function printableText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return NOT_PRINTABLE.test(text) || text.startsWith("0x") ? undefined : text;
}

/** The JSON form: the text itself, or "0x" + hex. */
export function bytesToJson(bytes: Uint8Array): string {
  return printableText(bytes) ?? `0x${Buffer.from(bytes).toString("hex")}`;
}

/** The human form: text (quoted when needed) or 0x-hex, cut with "…" after `charsMax` characters. */
export function bytesToDisplay(bytes: Uint8Array, charsMax = DISPLAY_CELL_CHARS_MAX): string {
  const text = printableText(bytes);
  if (text === undefined) {
    const hex = Buffer.from(bytes).toString("hex");
    return hex.length > charsMax ? `0x${hex.slice(0, charsMax)}…` : `0x${hex}`;
  }
  const chars = Array.from(text);
  if (chars.length <= charsMax) return quoteText(text);
  return `${quoteText(chars.slice(0, charsMax).join(""))}…`;
}

/** Rows under a header, columns aligned with two spaces; the last column is not padded. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `key  value` lines with the keys aligned. */
export function formatPairs(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${value}`.trimEnd());
}

/** Milliseconds since the epoch as ISO 8601 UTC; "-" when absent. */
export function formatTimeMs(ms: number | undefined): string {
  return ms === undefined ? "-" : new Date(ms).toISOString();
}

/** "1 record" / "3 records" ("1 entry" / "3 entries" with `nouns`). */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}
