/**
 * Argument parsing against a verb spec (pure): flags anywhere among positionals, as Pegasus's
 * getopt-based shell accepts them; `-a value`, `--start_inclusive value` and
 * `--start_inclusive=value`; `--` ends flags. A quoted token and a negative number (`-5`) are
 * always positional. Every value is checked here, so `parse` and `run` see well-formed input.
 */
import { suggest } from "./suggest.ts";
import type { Token } from "./tokenizer.ts";
import { type AnyVerbSpec, Args, type FlagSpec, type FlagValue, UsageError } from "./verb-spec.ts";

const NEGATIVE_NUMBER = /^-\d/;
const INTEGER = /^-?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function flagLabel(flag: FlagSpec): string {
  return flag.short === undefined ? `--${flag.name}` : `-${flag.short}|--${flag.name}`;
}

function valueName(flag: FlagSpec): string | undefined {
  if (flag.valueName !== undefined) return flag.valueName;
  switch (flag.kind) {
    case "switch":
      return undefined;
    case "string":
      return "str";
    case "int":
      return "num";
    case "bool":
      return "true|false";
    case "enum":
      return (flag.values ?? []).join("|");
  }
}

/** `-a|--start_inclusive true|false`. */
export function flagSynopsis(flag: FlagSpec): string {
  const value = valueName(flag);
  return value === undefined ? flagLabel(flag) : `${flagLabel(flag)} ${value}`;
}

/** The verb's one-line usage: `get <hash_key> <sort_key>`, flags in brackets unless required. */
export function usageLine(spec: AnyVerbSpec): string {
  const parts = [spec.name];
  for (const positional of spec.positionals) {
    const name = positional.variadic ? `${positional.name} ...` : positional.name;
    parts.push(positional.optional ? `[${name}]` : `<${name}>`);
  }
  for (const flag of spec.flags) {
    const synopsis = flagSynopsis(flag);
    const repeat = flag.repeatable ? " ..." : "";
    parts.push(flag.required ? `${synopsis}${repeat}` : `[${synopsis}]${repeat}`);
  }
  return parts.join(" ");
}

function usageError(spec: AnyVerbSpec, message: string): UsageError {
  return new UsageError(message, spec.name);
}

function findFlag(spec: AnyVerbSpec, text: string): FlagSpec {
  const long = text.startsWith("--");
  const name = long ? text.slice(2) : text.slice(1);
  const flag = spec.flags.find((f) => (long ? f.name === name : f.short === name));
  if (flag !== undefined) return flag;
  const names = spec.flags.flatMap((f) =>
    f.short === undefined ? [`--${f.name}`] : [`-${f.short}`, `--${f.name}`],
  );
  if (names.length === 0) throw usageError(spec, `unknown flag ${text}; it takes no flags`);
  // One letter is within a typo of every other letter: suggest only for long names.
  const hint = long ? suggest(text, names) : undefined;
  throw usageError(
    spec,
    hint === undefined
      ? `unknown flag ${text} (flags: ${names.join(" ")})`
      : `unknown flag ${text}; did you mean ${hint}?`,
  );
}

export function parseIntText(
  text: string,
  what: string,
  min: number,
  max: number,
  verb: string,
): number {
  const value = INTEGER.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${what} must be an integer in [${min}, ${max}], got "${text}"`, verb);
  }
  return value;
}

/** A signed 64-bit decimal integer (incr's increment). */
export function parseInt64Text(text: string, what: string, verb: string): bigint {
  const value = INTEGER.test(text) ? BigInt(text) : undefined;
  if (value === undefined || value < INT64_MIN || value > INT64_MAX) {
    throw new UsageError(`${what} must be a signed 64-bit integer, got "${text}"`, verb);
  }
  return value;
}

/** The token as UTF-8 text; names (tables, env keys) must be valid UTF-8. */
export function tokenText(token: Token, what: string, verb: string): string {
  if (!Buffer.from(token.text, "utf8").equals(token.bytes)) {
    throw new UsageError(`${what} must be UTF-8 text`, verb);
  }
  return token.text;
}

function flagValue(spec: AnyVerbSpec, flag: FlagSpec, token: Token): FlagValue {
  const label = flagLabel(flag);
  switch (flag.kind) {
    case "switch":
      return true;
    case "string":
      return token;
    case "int":
      return parseIntText(
        token.text,
        label,
        flag.min ?? Number.MIN_SAFE_INTEGER,
        flag.max ?? Number.MAX_SAFE_INTEGER,
        spec.name,
      );
    case "bool":
      if (token.text === "true") return true;
      if (token.text === "false") return false;
      throw usageError(spec, `${label} must be true or false, got "${token.text}"`);
    case "enum": {
      const values = flag.values ?? [];
      if (values.includes(token.text)) return token.text;
      const hint = suggest(token.text, values);
      throw usageError(
        spec,
        `${label} must be one of ${values.join(", ")}, got "${token.text}"` +
          (hint === undefined ? "" : `; did you mean ${hint}?`),
      );
    }
  }
}

function checkPositionals(spec: AnyVerbSpec, count: number): void {
  const required = spec.positionals.filter((p) => !p.optional).length;
  const variadic = spec.positionals.some((p) => p.variadic);
  if (count < required) {
    const missing = spec.positionals[count];
    throw usageError(spec, `missing <${missing?.name ?? "argument"}>`);
  }
  if (!variadic && count > spec.positionals.length) {
    throw usageError(
      spec,
      spec.positionals.length === 0
        ? "takes no arguments"
        : `too many arguments (at most ${spec.positionals.length})`,
    );
  }
}

/** Parses `tokens` (the verb's arguments, without the verb) against `spec`. */
export function parseArgs(spec: AnyVerbSpec, tokens: readonly Token[]): Args {
  const positionals: Token[] = [];
  const flags = new Map<string, FlagValue[]>();
  let flagsEnded = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    const text = token.text;
    const isFlag =
      !flagsEnded &&
      !token.quoted &&
      text.startsWith("-") &&
      text.length > 1 &&
      !NEGATIVE_NUMBER.test(text);
    if (!isFlag) {
      positionals.push(token);
      continue;
    }
    if (text === "--") {
      flagsEnded = true;
      continue;
    }
    const equals = text.startsWith("--") ? text.indexOf("=") : -1;
    const flag = findFlag(spec, equals < 0 ? text : text.slice(0, equals));
    let valueToken: Token;
    if (flag.kind === "switch") {
      if (equals >= 0) throw usageError(spec, `${flagLabel(flag)} takes no value`);
      valueToken = token;
    } else if (equals >= 0) {
      const rest = token.bytes.subarray(Buffer.byteLength(text.slice(0, equals + 1), "utf8"));
      valueToken = { bytes: rest, text: rest.toString("utf8"), quoted: true };
    } else {
      const next = tokens[i + 1];
      if (next === undefined) throw usageError(spec, `${flagLabel(flag)} needs a value`);
      valueToken = next;
      i++;
    }
    const values = flags.get(flag.name) ?? [];
    if (values.length > 0 && !flag.repeatable)
      throw usageError(spec, `${flagLabel(flag)} given twice`);
    values.push(flagValue(spec, flag, valueToken));
    flags.set(flag.name, values);
  }
  for (const flag of spec.flags) {
    if (flag.required && !flags.has(flag.name))
      throw usageError(spec, `missing ${flagSynopsis(flag)}`);
  }
  checkPositionals(spec, positionals.length);
  return new Args(spec.name, positionals, flags, new Set(spec.flags.map((f) => f.name)));
}
