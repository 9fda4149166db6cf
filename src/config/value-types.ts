/**
 * The value types of configuration keys: how each one's ini text parses (strictly: "10x" is not an
 * integer, "yes" is not a bool) and how a value is written back. `format(parse(text))` parses to
 * the same value, which is what makes renderConfig → parseConfig a round trip.
 */
import { isIP } from "node:net";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The TypeScript type each value type parses to. */
export interface ValueTypeMap {
  string: string;
  path: string;
  "cluster-name": string;
  host: string;
  "node-path": string;
  int: number;
  bool: boolean;
  "duration-ms": number;
  "duration-s": number;
  bytes: number;
  list: readonly string[];
  enum: string;
  "host-port-list": readonly HostPort[];
}

export type ValueTypeName = keyof ValueTypeMap;

/** What a type's parser needs from the key's schema entry. */
export interface ValueConstraints {
  /** Numbers: the smallest and largest value; lists: the fewest and most items. */
  readonly min?: number;
  readonly max?: number;
  /** Enums: the accepted values. */
  readonly values?: readonly string[];
}

export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

interface ValueType<T> {
  /** One line for docs/config.md: the accepted syntax. */
  readonly syntax: string;
  parse(text: string, constraints: ValueConstraints): ParseResult<T>;
  format(value: T): string;
}

/** Cluster names appear in ZooKeeper paths, metric labels and file names. */
export const CLUSTER_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const NODE_PATH_PATTERN = /^(?:\/[A-Za-z0-9_.-]+)+$/;
const INT_PATTERN = /^-?[0-9]+$/;
const KiB = 1024;

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const fail = <T>(error: string): ParseResult<T> => ({ ok: false, error });

function inRange(value: number, c: ValueConstraints, unit = ""): ParseResult<number> {
  if (c.min !== undefined && value < c.min) return fail(`must be at least ${c.min}${unit}`);
  if (c.max !== undefined && value > c.max) return fail(`must be at most ${c.max}${unit}`);
  return ok(value);
}

function parseInteger(text: string): number | undefined {
  if (!INT_PATTERN.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** An integer with an optional unit suffix; `units` maps each suffix to its multiplier. */
function parseScaled(
  text: string,
  units: Readonly<Record<string, number>>,
  what: string,
  c: ValueConstraints,
  unitLabel: string,
): ParseResult<number> {
  const match = /^([0-9]+)([A-Za-z]*)$/.exec(text);
  const digits = match?.[1];
  const suffix = match?.[2] ?? "";
  const multiplier = Object.hasOwn(units, suffix) ? units[suffix] : undefined;
  if (digits === undefined || multiplier === undefined) {
    const suffixes = Object.keys(units).filter((s) => s !== "");
    return fail(
      `expected ${what}: a non-negative integer, optionally followed by ${suffixes.join(", ")}`,
    );
  }
  const value = Number(digits) * multiplier;
  if (!Number.isSafeInteger(value)) return fail(`${text} is too large`);
  return inRange(value, c, unitLabel);
}

/** The largest suffix that divides the value exactly, so formatting never rounds. */
function formatScaled(value: number, units: Readonly<Record<string, number>>): string {
  let best = String(value);
  let bestMultiplier = 1;
  for (const [suffix, multiplier] of Object.entries(units)) {
    if (value !== 0 && value % multiplier === 0 && multiplier > bestMultiplier) {
      best = `${value / multiplier}${suffix}`;
      bestMultiplier = multiplier;
    }
  }
  return best;
}

function splitList(text: string): string[] | undefined {
  if (text.trim() === "") return [];
  const items = text.split(",").map((item) => item.trim());
  return items.some((item) => item === "") ? undefined : items;
}

function countInRange(count: number, c: ValueConstraints): string | undefined {
  if (c.min !== undefined && count < c.min) {
    return c.min === 1 ? "must not be empty" : `needs at least ${c.min} items`;
  }
  if (c.max !== undefined && count > c.max) return `takes at most ${c.max} items`;
  return undefined;
}

export function isValidHost(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME_PATTERN.test(host);
}

export function parseHostPort(text: string): ParseResult<HostPort> {
  // IPv6 addresses are bracketed: [::1]:34601.
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]+)$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (match === null || host === undefined) {
    return fail(`"${text}" is not host:port (IPv6 as [addr]:port)`);
  }
  if (match[1] !== undefined ? isIP(host) !== 6 : !isValidHost(host)) {
    return fail(`"${host}" in "${text}" is not a valid host name or IP address`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    return fail(`port ${match[3]} in "${text}" is not in 1..65535`);
  }
  return ok({ host, port });
}

export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const DURATION_MS_UNITS = { "": 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_S_UNITS = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };
const BYTES_UNITS = { "": 1, K: KiB, M: KiB ** 2, G: KiB ** 3 };

export const valueTypes: { readonly [T in ValueTypeName]: ValueType<ValueTypeMap[T]> } = {
  string: {
    syntax: "any text; quote it to keep leading or trailing spaces, `;` or `#`",
    parse: (text) => ok(text),
    format: (value) => value,
  },
  path: {
    syntax: "a file-system path (relative paths resolve against the working directory)",
    parse: (text) => (text === "" ? fail("must not be empty") : ok(text)),
    format: (value) => value,
  },
  "cluster-name": {
    syntax: "a letter, then up to 63 letters, digits, `_` or `-`",
    parse: (text) =>
      CLUSTER_NAME_PATTERN.test(text)
        ? ok(text)
        : fail(`"${text}" is not a cluster name (a letter, then up to 63 letters, digits, _ or -)`),
    format: (value) => value,
  },
  host: {
    syntax: "a host name, IPv4 or IPv6 address",
    parse: (text) =>
      isValidHost(text) ? ok(text) : fail(`"${text}" is not a valid host name or IP address`),
    format: (value) => value,
  },
  "node-path": {
    syntax: "an absolute path `/a/b` of letters, digits, `_`, `-` and `.`; no trailing `/`",
    parse: (text) =>
      NODE_PATH_PATTERN.test(text)
        ? ok(text)
        : fail(
            `"${text}" is not an absolute path like /talaria/cluster (no trailing /, no empty segment)`,
          ),
    format: (value) => value,
  },
  int: {
    syntax: "a decimal integer (`-12`, `3000`); no sign `+`, no exponent, no separators",
    parse: (text, c) => {
      const value = parseInteger(text);
      return value === undefined ? fail(`expected an integer, got "${text}"`) : inRange(value, c);
    },
    format: (value) => String(value),
  },
  bool: {
    syntax: "`true` or `false`",
    parse: (text) =>
      text === "true"
        ? ok(true)
        : text === "false"
          ? ok(false)
          : fail(`expected true or false, got "${text}"`),
    format: (value) => String(value),
  },
  "duration-ms": {
    syntax:
      "milliseconds: an integer, or with a unit `ms`, `s`, `m`, `h`, `d` (`1500`, `10s`, `5m`)",
    parse: (text, c) =>
      parseScaled(text, DURATION_MS_UNITS, "a duration in milliseconds", c, " ms"),
    format: (value) => String(value),
  },
  "duration-s": {
    syntax: "seconds: an integer, or with a unit `s`, `m`, `h`, `d` (`90`, `10m`, `7d`)",
    parse: (text, c) => parseScaled(text, DURATION_S_UNITS, "a duration in seconds", c, " s"),
    format: (value) => String(value),
  },
  bytes: {
    syntax:
      "bytes: an integer, or with a binary unit `K`, `M`, `G` (2^10, 2^20, 2^30): `4096`, `64K`, `1M`",
    parse: (text, c) => parseScaled(text, BYTES_UNITS, "a size in bytes", c, " bytes"),
    format: (value) => formatScaled(value, BYTES_UNITS),
  },
  list: {
    syntax: "comma-separated items (spaces around items are ignored; no empty items)",
    parse: (text, c) => {
      const items = splitList(text);
      if (items === undefined) return fail(`"${text}" has an empty item`);
      const bad = countInRange(items.length, c);
      return bad === undefined ? ok(items) : fail(bad);
    },
    format: (value) => value.join(","),
  },
  enum: {
    syntax: "one of the listed values",
    parse: (text, c) => {
      const values = c.values ?? [];
      return values.includes(text)
        ? ok(text)
        : fail(`expected one of ${values.join(", ")}, got "${text}"`);
    },
    format: (value) => value,
  },
  "host-port-list": {
    syntax: "comma-separated `host:port` (`10.0.0.1:34601,10.0.0.2:34601`; IPv6 as `[::1]:34601`)",
    parse: (text, c) => {
      const items = splitList(text);
      if (items === undefined) return fail(`"${text}" has an empty item`);
      const list: HostPort[] = [];
      const seen = new Set<string>();
      for (const item of items) {
        const parsed = parseHostPort(item);
        if (!parsed.ok) return fail(parsed.error);
        const canonical = formatHostPort(parsed.value);
        if (seen.has(canonical)) return fail(`${canonical} is listed twice`);
        seen.add(canonical);
        list.push(parsed.value);
      }
      const bad = countInRange(list.length, c);
      return bad === undefined ? ok(list) : fail(bad);
    },
    format: (value) => value.map(formatHostPort).join(","),
  },
};

/** Parses `text` as a value of type `type`; the error text names no key (the caller adds it). */
export function parseValue<T extends ValueTypeName>(
  type: T,
  text: string,
  constraints: ValueConstraints = {},
): ParseResult<ValueTypeMap[T]> {
  return valueTypes[type].parse(text, constraints);
}

export function formatValue<T extends ValueTypeName>(type: T, value: ValueTypeMap[T]): string {
  return valueTypes[type].format(value);
}
