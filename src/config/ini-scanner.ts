/**
 * Splits ini text into sections and `key = value` entries, keeping line numbers. Values are
 * unquoted and stripped of inline comments by the `ini` package's own rules (`ini.unsafe`), so a
 * file means the same here as to any ini tool. The structure is scanned here rather than with
 * `ini.decode` because decode silently keeps the last of two equal keys, turns `[pegasus.server]`
 * into nested objects, converts `true`/`false`/`null` to non-strings, skips lines it cannot read
 * and forgets line numbers; strict validation needs all of these.
 *
 * Rules: `;` or `#` starts a comment line; `[name]` opens (or re-opens) a section; every other
 * non-blank line is `key = value`. A key outside any section, a line without `=`, an empty key or
 * a key given twice in one section is a problem.
 */
import ini from "ini";
import type { ConfigProblem } from "./problems.ts";

/** Lines are 1-based; undefined when the entry did not come from a file (defaultConfig). */
export interface RawEntry {
  readonly text: string;
  readonly line: number | undefined;
}

export interface RawSection {
  /** Line of the section's first header. */
  readonly line: number | undefined;
  readonly entries: Map<string, RawEntry>;
}

export interface ScanResult {
  readonly sections: Map<string, RawSection>;
  readonly problems: ConfigProblem[];
}

/** ini.unsafe JSON-parses quoted values, which can yield numbers or booleans: keep the text. */
const unquote = (text: string): string => String(ini.unsafe(text));

export function scanIni(text: string): ScanResult {
  const sections = new Map<string, RawSection>();
  const problems: ConfigProblem[] = [];
  let current: { name: string; section: RawSection } | undefined;
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith(";") || trimmed.startsWith("#")) continue;
    if (trimmed.startsWith("[")) {
      const match = /^\[([^\]]*)\]$/.exec(trimmed);
      const name = match?.[1]?.trim() ?? "";
      if (match === null || name === "") {
        problems.push({ line, message: `expected a section header "[name]", got "${trimmed}"` });
        current = undefined;
        continue;
      }
      let section = sections.get(name);
      if (section === undefined) {
        section = { line, entries: new Map() };
        sections.set(name, section);
      }
      current = { name, section };
      continue;
    }
    const equals = trimmed.indexOf("=");
    if (equals < 0) {
      problems.push({
        ...(current === undefined ? {} : { section: current.name }),
        line,
        message: `expected "key = value", got "${trimmed}"`,
      });
      continue;
    }
    const key = unquote(trimmed.slice(0, equals));
    const value = unquote(trimmed.slice(equals + 1));
    if (key === "") {
      problems.push({ line, message: `a line starts with "=" and names no key` });
      continue;
    }
    if (current === undefined) {
      problems.push({
        key,
        line,
        message: "is outside any section; put it under a [section] header",
      });
      continue;
    }
    const previous = current.section.entries.get(key);
    if (previous !== undefined) {
      problems.push({
        section: current.name,
        key,
        line,
        message: `is set twice (first on line ${previous.line})`,
      });
      continue;
    }
    current.section.entries.set(key, { text: value, line });
  }
  return { sections, problems };
}
