/**
 * Writes a Config as ini text that parseConfig reads back to an equal Config (every key is written,
 * derived ones included). Values are quoted and escaped by the `ini` package's rules (`ini.safe`).
 * With comments on, each key is preceded by its doc line and default, so generated onebox files
 * explain themselves.
 */
import ini from "ini";
import type { Config } from "./config-type.ts";
import { mapSections, sections } from "./schema.ts";
import { camelCase, type KeySpec, type MapSectionSpec } from "./schema-types.ts";
import { formatValue, type ValueTypeMap, type ValueTypeName } from "./value-types.ts";

export interface RenderConfigOptions {
  /** Precede sections and keys with `;` comments from the schema (default true). */
  readonly comments?: boolean;
}

const COMMENT_WIDTH = 100;

/** Wraps text into `; ` comment lines of at most COMMENT_WIDTH characters (long words overflow). */
export function commentLines(text: string): string[] {
  const lines: string[] = [];
  let line = ";";
  for (const word of text
    .replace(/`/g, "")
    .split(/\s+/)
    .filter((w) => w !== "")) {
    if (line.length > 1 && line.length + 1 + word.length > COMMENT_WIDTH) {
      lines.push(line);
      line = ";";
    }
    line += ` ${word}`;
  }
  if (line.length > 1) lines.push(line);
  return lines;
}

export function defaultDoc(spec: KeySpec): string {
  if (spec.required) return "Required.";
  if (spec.derived !== undefined) return `Default: ${spec.derived.doc}.`;
  return `Default: ${spec.default === "" ? "empty" : spec.default}.`;
}

/**
 * ini.safe escapes `;` and `#` with a backslash but leaves backslashes alone, so `a\;` would read
 * back as `a\`; text with a backslash is written JSON-quoted instead, which reads back exactly.
 */
function iniValue(text: string): string {
  return text.includes("\\") ? JSON.stringify(text) : ini.safe(text);
}

function keyLine(key: string, type: ValueTypeName, value: unknown): string {
  const text = iniValue(formatValue(type, value as ValueTypeMap[typeof type]));
  return text === "" ? `${key} =` : `${key} = ${text}`;
}

export function renderConfig(config: Config, options: RenderConfigOptions = {}): string {
  const comments = options.comments ?? true;
  const byName: Readonly<Record<string, Readonly<Record<string, unknown>>>> = config;
  const out: string[] = [];
  if (comments) out.push("; Talaria configuration. docs/config.md describes every key.", "");
  for (const [section, spec] of Object.entries(sections)) {
    const keys: Readonly<Record<string, KeySpec>> = spec.keys;
    const values = byName[camelCase(section)] ?? {};
    if (comments) out.push(...commentLines(spec.doc));
    out.push(`[${section}]`);
    for (const [key, keySpec] of Object.entries(keys)) {
      if (comments) out.push(...commentLines(`${keySpec.doc} ${defaultDoc(keySpec)}`));
      out.push(keyLine(key, keySpec.type, values[camelCase(key)]));
    }
    out.push("");
  }
  for (const [section, spec] of Object.entries(mapSections) as [string, MapSectionSpec][]) {
    if (comments) {
      out.push(...commentLines(`${spec.doc} Each line: <${spec.keyDoc}> = <${spec.value.doc}>.`));
    }
    out.push(`[${section}]`);
    for (const [name, value] of Object.entries(byName[camelCase(section)] ?? {})) {
      out.push(keyLine(name, spec.value.type, value));
    }
    out.push("");
  }
  return out.join("\n");
}
