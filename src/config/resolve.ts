/**
 * Turns scanned ini sections into a Config: unknown sections and keys are refused (with the
 * closest known name when it looks like a typo), every value parses by its key's type, defaults
 * and derived defaults fill the gaps, then the cross-field rules run. All problems are collected
 * and thrown together as one ERR_INVALID_CONFIG. The result is deeply frozen.
 */
import type { Config } from "./config-type.ts";
import { crossChecks } from "./cross-checks.ts";
import { closestName } from "./edit-distance.ts";
import type { RawSection } from "./ini-scanner.ts";
import { type ConfigProblem, configError } from "./problems.ts";
import { mapSections, sectionOrder, sections } from "./schema.ts";
import { camelCase, type KeySpec, type MapSectionSpec } from "./schema-types.ts";
import { CLUSTER_NAME_PATTERN, formatValue, parseValue, type ValueTypeMap } from "./value-types.ts";

type Value = ValueTypeMap[keyof ValueTypeMap];

const fixedSections: Readonly<
  Record<string, { readonly keys: Readonly<Record<string, KeySpec>> }>
> = sections;
const dynamicSections: Readonly<Record<string, MapSectionSpec>> = mapSections;

/** Names come from the file: "constructor" must not find Object.prototype members. */
const fixedSection = (name: string) =>
  Object.hasOwn(fixedSections, name) ? fixedSections[name] : undefined;

const at = (line: number | undefined): { line?: number } => (line === undefined ? {} : { line });

function unknownSection(name: string, raw: RawSection): ConfigProblem {
  const suggestion = closestName(name, sectionOrder);
  const hint =
    suggestion === undefined
      ? `known sections: ${sectionOrder.join(", ")}`
      : `did you mean [${suggestion}]?`;
  return { section: name, ...at(raw.line), message: `unknown section (${hint})` };
}

function unknownKey(section: string, key: string, line: number | undefined): ConfigProblem {
  const keys = Object.keys(fixedSection(section)?.keys ?? {});
  const suggestion = closestName(key, keys);
  const home = Object.keys(fixedSections).find((name) =>
    Object.hasOwn(fixedSection(name)?.keys ?? {}, key),
  );
  const hint =
    suggestion !== undefined
      ? ` (did you mean ${suggestion}?)`
      : home !== undefined
        ? ` (it belongs in [${home}])`
        : "";
  return { section, key, ...at(line), message: `unknown key${hint}` };
}

/** The values of the fixed sections by ini section and key name; problems go to `problems`. */
function resolveFixed(
  raw: ReadonlyMap<string, RawSection>,
  problems: ConfigProblem[],
): Map<string, Map<string, Value>> {
  const values = new Map<string, Map<string, Value>>();
  const texts = new Map<string, string>();
  const setValue = (
    section: string,
    key: string,
    spec: KeySpec,
    text: string,
    line: number | undefined,
  ): void => {
    const parsed = parseValue(spec.type, text, spec);
    if (!parsed.ok) {
      problems.push({ section, key, ...at(line), message: parsed.error });
      return;
    }
    values.get(section)?.set(key, parsed.value);
    texts.set(`${section}\0${key}`, formatValue(spec.type, parsed.value));
  };
  const derivedKeys: { section: string; key: string; spec: KeySpec }[] = [];
  for (const [section, { keys }] of Object.entries(fixedSections)) {
    values.set(section, new Map());
    const entries = raw.get(section)?.entries;
    for (const [key, entry] of entries ?? []) {
      if (!Object.hasOwn(keys, key)) problems.push(unknownKey(section, key, entry.line));
    }
    for (const [key, spec] of Object.entries(keys)) {
      const entry = entries?.get(key);
      if (entry !== undefined) setValue(section, key, spec, entry.text, entry.line);
      else if (spec.default !== undefined) setValue(section, key, spec, spec.default, undefined);
      else if (spec.derived !== undefined) derivedKeys.push({ section, key, spec });
      else problems.push({ section, key, message: "is required" });
    }
  }
  for (const { section, key, spec } of derivedKeys) {
    let missing = false;
    const text = spec.derived?.from((fromSection, fromKey) => {
      const value = texts.get(`${fromSection}\0${fromKey}`);
      missing ||= value === undefined;
      return value ?? "";
    });
    // A derived default whose inputs failed is not reported again.
    if (text !== undefined && !missing) setValue(section, key, spec, text, undefined);
  }
  return values;
}

function resolveMap(
  name: string,
  spec: MapSectionSpec,
  raw: RawSection | undefined,
  problems: ConfigProblem[],
): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [key, entry] of raw?.entries ?? []) {
    if (!CLUSTER_NAME_PATTERN.test(key)) {
      problems.push({
        section: name,
        key,
        ...at(entry.line),
        message: "is not a cluster name (a letter, then up to 63 letters, digits, _ or -)",
      });
      continue;
    }
    const parsed = parseValue(spec.value.type, entry.text, spec.value);
    if (parsed.ok) out[key] = parsed.value;
    else problems.push({ section: name, key, ...at(entry.line), message: parsed.error });
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Builds and validates a Config from scanned sections; `problems` are the scanner's, if any. */
export function resolveConfig(
  raw: ReadonlyMap<string, RawSection>,
  source: string,
  scanProblems: readonly ConfigProblem[] = [],
): Config {
  const problems: ConfigProblem[] = [...scanProblems];
  for (const [name, section] of raw) {
    if (!Object.hasOwn(fixedSections, name) && !Object.hasOwn(dynamicSections, name)) {
      problems.push(unknownSection(name, section));
    }
  }
  const values = resolveFixed(raw, problems);
  const out: Record<string, unknown> = {};
  for (const [section, { keys }] of Object.entries(fixedSections)) {
    // Schema order, whatever order defaults and derived defaults were resolved in.
    const object: Record<string, Value> = {};
    for (const key of Object.keys(keys)) {
      const value = values.get(section)?.get(key);
      if (value !== undefined) object[camelCase(key)] = value;
    }
    out[camelCase(section)] = object;
  }
  for (const [name, spec] of Object.entries(dynamicSections)) {
    out[camelCase(name)] = resolveMap(name, spec, raw.get(name), problems);
  }
  if (problems.length > 0) throw configError(source, problems);
  // Every key resolved, so `out` has the shape Config describes.
  const config = out as Config;
  for (const rule of crossChecks) {
    for (const problem of rule.check(config)) {
      const section = problem.section ?? rule.section;
      const key = problem.key ?? rule.key;
      const line = raw.get(section)?.entries.get(key)?.line;
      problems.push({ section, key, ...at(line), message: problem.message });
    }
  }
  if (problems.length > 0) throw configError(source, problems);
  return deepFreeze(config);
}
