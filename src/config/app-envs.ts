/**
 * Table-level settings ("app envs", ref §8.5): string key → string value, set through the meta
 * server and read by every replica of the table. The meta server calls validateAppEnv before it
 * stores one, so a replica never meets a value it cannot parse; replicas use the parsers below.
 *
 * Formats follow Pegasus (`src/meta/app_env_validator.cpp`, `src/utils/throttling_controller.cpp`).
 * One deliberate difference: a throttling value with an empty item ("100*delay*10,") is refused,
 * since Pegasus's validator accepts it but its replicas then fail to parse it.
 */
import { TalariaError } from "../common/errors.ts";
import { RESYNC_MARK_ENV_PREFIX } from "../protocol/duplication-messages.ts";
import { closestName } from "./edit-distance.ts";
import { CLUSTER_NAME_PATTERN, parseValue } from "./value-types.ts";

export type DenyClientMode = "timeout" | "reconfig";
export type DenyClientOps = "all" | "write" | "read";

export interface DenyClientRequest {
  /** `timeout`: drop the request without a reply; `reconfig`: reply ERR_INVALID_STATE. */
  readonly mode: DenyClientMode;
  readonly ops: DenyClientOps;
}

export interface ThrottlingRule {
  /** Units per second for the whole table (requests, or bytes for `_by_size`). */
  readonly units: number;
  /** How long to hold the request (delay) or the ERR_BUSY reply (reject), in milliseconds. */
  readonly ms: number;
}

export interface Throttling {
  readonly delay?: ThrottlingRule;
  readonly reject?: ThrottlingRule;
}

/**
 * Unit suffixes of throttling thresholds. Pegasus's parser multiplies by 1000 and 1000·1000
 * (throttling_controller.cpp), not 2^10 and 2^20 as ref §8.5 says; we follow the code, so a
 * threshold copied from a Pegasus table means the same here.
 */
export const THROTTLING_UNIT_MULTIPLIERS = { K: 1000, M: 1_000_000 } as const;

/** Longest app env key accepted. */
export const APP_ENV_KEY_CHARS_MAX = 256;
/** Longest app env value accepted (a value is stored in table metadata and sent to replicas). */
export const APP_ENV_VALUE_CHARS_MAX = 64 * 1024;
/** Largest `default_ttl`: a signed 32-bit count of seconds, as in Pegasus. */
export const DEFAULT_TTL_SECONDS_MAX = 2 ** 31 - 1;

/** Key prefixes Talaria owns: an unknown key under one is refused instead of stored. */
export const RESERVED_APP_ENV_PREFIXES = ["replica.", "duplication."] as const;

function invalid(key: string, value: string, reason: string): TalariaError {
  return new TalariaError("ERR_INVALID_PARAMETERS", `app env ${key} = "${value}": ${reason}`, {
    details: { env: key, value },
  });
}

/** Splits on `separator`, trimming each part and keeping empty ones (Pegasus `split_args`). */
const splitKeep = (text: string, separator: string): string[] =>
  text.split(separator).map((part) => part.trim());

const DENY_MODES: readonly DenyClientMode[] = ["timeout", "reconfig"];
const DENY_OPS: readonly DenyClientOps[] = ["all", "write", "read"];

export function parseDenyClientRequest(
  value: string,
  key = "replica.deny_client_request",
): DenyClientRequest {
  const parts = splitKeep(value, "*");
  const [mode, ops] = parts;
  const isMode = (m: string | undefined): m is DenyClientMode => DENY_MODES.some((x) => x === m);
  const isOps = (o: string | undefined): o is DenyClientOps => DENY_OPS.some((x) => x === o);
  if (parts.length !== 2 || !isMode(mode) || !isOps(ops)) {
    throw invalid(
      key,
      value,
      `expected <${DENY_MODES.join("|")}>*<${DENY_OPS.join("|")}>, e.g. timeout*write`,
    );
  }
  return { mode, ops };
}

function parseThrottlingRule(item: string, value: string, key: string): [string, ThrottlingRule] {
  const fields = splitKeep(item, "*");
  const [unitsText = "", kind = "", msText = ""] = fields;
  if (fields.length !== 3) {
    throw invalid(key, value, `"${item}" should have 3 fields: <units>[K|M]*<delay|reject>*<ms>`);
  }
  const match = /^([0-9]+)([KM]?)$/.exec(unitsText);
  const suffix = match?.[2] ?? "";
  const multiplier = suffix === "K" || suffix === "M" ? THROTTLING_UNIT_MULTIPLIERS[suffix] : 1;
  const units = Number(match?.[1]) * multiplier;
  if (match === null || !Number.isSafeInteger(units)) {
    throw invalid(
      key,
      value,
      `units "${unitsText}" should be a non-negative integer, optionally followed by K or M`,
    );
  }
  if (kind !== "delay" && kind !== "reject") {
    throw invalid(key, value, `"${kind}" should be "delay" or "reject"`);
  }
  const ms = Number(msText);
  if (!/^[0-9]+$/.test(msText) || !Number.isSafeInteger(ms)) {
    throw invalid(key, value, `milliseconds "${msText}" should be a non-negative integer`);
  }
  return [kind, { units, ms }];
}

/**
 * `<units>[K|M]*delay*<ms>` and/or `<units>[K|M]*reject*<ms>`, comma-separated, each at most once,
 * in either order. `units` is per second for the whole table; see perPartitionUnits.
 */
export function parseThrottling(value: string, key = "replica.write_throttling"): Throttling {
  if (value.trim() === "") throw invalid(key, value, "should not be empty");
  let delay: ThrottlingRule | undefined;
  let reject: ThrottlingRule | undefined;
  for (const item of splitKeep(value, ",")) {
    if (item === "") throw invalid(key, value, "has an empty item");
    const [kind, rule] = parseThrottlingRule(item, value, key);
    if (kind === "delay") {
      if (delay !== undefined) throw invalid(key, value, "has two delay rules");
      delay = rule;
    } else {
      if (reject !== undefined) throw invalid(key, value, "has two reject rules");
      reject = rule;
    }
  }
  return { ...(delay === undefined ? {} : { delay }), ...(reject === undefined ? {} : { reject }) };
}

/** A table-wide threshold split over partitions, as Pegasus does: `units / count + 1`. */
export function perPartitionUnits(units: number, partitionCount: number): number {
  return Math.floor(units / partitionCount) + 1;
}

/** Seconds; 0 means no table-level default TTL. */
export function parseDefaultTtl(value: string, key = "default_ttl"): number {
  const seconds = Number(value);
  if (!/^[0-9]+$/.test(value) || seconds > DEFAULT_TTL_SECONDS_MAX) {
    throw invalid(
      key,
      value,
      `should be an integer number of seconds in 0..${DEFAULT_TTL_SECONDS_MAX}`,
    );
  }
  return seconds;
}

export interface AppEnvSpec {
  /** The value's syntax for docs/config.md. */
  readonly format: string;
  readonly doc: string;
  readonly example: string;
  /** Throws ERR_INVALID_PARAMETERS naming the key when the value is invalid. */
  parse(value: string, key: string): unknown;
}

const throttling = (what: string): AppEnvSpec => ({
  format: "`<units>[K|M]*delay*<ms>` and/or `<units>[K|M]*reject*<ms>`, comma-separated",
  doc: `Throttles ${what} per second for the whole table (each partition gets units / partition count + 1). Above the delay threshold a request waits <ms> (at most half the client's timeout); above the reject threshold it gets ERR_BUSY after <ms>; reject wins. K = 1000, M = 1000000.`,
  example: "30000*delay*100,40000*reject*200",
  parse: parseThrottling,
});

export const appEnvCatalogue: Readonly<Record<string, AppEnvSpec>> = {
  "replica.deny_client_request": {
    format: "`<timeout|reconfig>*<all|write|read>`",
    doc: "Refuses client requests of the given kind (DUPLICATE writes too). `timeout` drops them without a reply (clients time out; no retry storm); `reconfig` answers ERR_INVALID_STATE so clients re-resolve the partition (used to re-route through a proxy during migration).",
    example: "timeout*write",
    parse: parseDenyClientRequest,
  },
  "replica.write_throttling": throttling("write requests"),
  "replica.write_throttling_by_size": throttling("write bytes"),
  "replica.read_throttling": throttling("read requests"),
  default_ttl: {
    format: "seconds, `0`..`2147483647`",
    doc: "TTL given to writes that carry none (0: none). Duplicated writes keep their source expiry.",
    example: "86400",
    parse: parseDefaultTtl,
  },
  "duplication.master_cluster": {
    format: "cluster name",
    doc: "Set by the meta server on a follower table created by full duplication: the source cluster.",
    example: "dc1",
    parse: (value, key) => {
      if (!CLUSTER_NAME_PATTERN.test(value)) throw invalid(key, value, "is not a cluster name");
      return value;
    },
  },
  "duplication.master_metas": {
    format: "comma-separated `host:port`",
    doc: "Set with `duplication.master_cluster`: the source cluster's meta servers.",
    example: "10.0.0.1:34601,10.0.0.2:34601",
    parse: (value, key) => {
      const parsed = parseValue("host-port-list", value, { min: 1 });
      if (!parsed.ok) throw invalid(key, value, parsed.error);
      return parsed.value;
    },
  },
  "duplication.master_app_name": {
    format: "table name",
    doc: "Set with `duplication.master_cluster`: the source table's name.",
    example: "orders",
    parse: (value, key) => {
      if (value === "") throw invalid(key, value, "should not be empty");
      return value;
    },
  },
  "duplication.follower_app_status": {
    format: "`creating` or `created`",
    doc: "Set with `duplication.master_cluster`: makes follower-table creation idempotent (ref §2.5).",
    example: "creating",
    parse: (value, key) => {
      if (value !== "creating" && value !== "created") {
        throw invalid(key, value, 'should be "creating" or "created"');
      }
      return value;
    },
  },
};

export { RESYNC_MARK_ENV_PREFIX };

/**
 * App envs named by a prefix and a suffix (the suffix's syntax in `suffix`), each validated like
 * a catalogue entry.
 */
export const appEnvFamilies: Readonly<
  Record<string, AppEnvSpec & { readonly suffix: string; readonly suffixPattern: RegExp }>
> = {
  [RESYNC_MARK_ENV_PREFIX]: {
    suffix: "cluster",
    suffixPattern: CLUSTER_NAME_PATTERN,
    format: "duplication id",
    doc: "Set by the source cluster's meta server while its duplication `<value>` re-syncs into this table (`resync_dup`), and removed when the re-sync is over: every replica of the table keeps its tombstones meanwhile, so the re-sync's older records cannot outlive a delete here, however long the re-sync stalls. A duplication removed mid-re-sync leaves its removal behind on the source (retried until it goes through, across meta leader changes); if the source cluster is gone for good, delete it here (`del_app_envs`).",
    example: "1767323045",
    parse: (value, key) => {
      if (!/^[1-9][0-9]{0,9}$/.test(value) || Number(value) > 2 ** 31 - 1)
        throw invalid(key, value, "is not a duplication id");
      return Number(value);
    },
  },
};

/** The source clusters whose re-syncs mark `envs` (RESYNC_MARK_ENV_PREFIX), sorted. */
export function resyncMarks(envs: Readonly<Record<string, string>>): string[] {
  return Object.keys(envs)
    .filter((key) => key.startsWith(RESYNC_MARK_ENV_PREFIX))
    .map((key) => key.slice(RESYNC_MARK_ENV_PREFIX.length))
    .sort();
}

/**
 * Validates an app env before the meta server stores it. Known keys (and families) must parse. An unknown key is
 * refused when it is under a reserved prefix (`replica.`, `duplication.`) or one typo away from a
 * known key; any other key is stored as an opaque string that Talaria does not read (operators'
 * annotations, Pegasus envs with no Talaria meaning). Throws ERR_INVALID_PARAMETERS.
 */
export function validateAppEnv(key: string, value: string): void {
  if (key.length === 0 || key.length > APP_ENV_KEY_CHARS_MAX || !/^[A-Za-z0-9_.:-]+$/.test(key)) {
    throw invalid(
      key,
      value,
      `the key must be 1..${APP_ENV_KEY_CHARS_MAX} letters, digits, _ . : or -`,
    );
  }
  if (value.length > APP_ENV_VALUE_CHARS_MAX) {
    throw invalid(
      key,
      value.slice(0, 32),
      `the value is longer than ${APP_ENV_VALUE_CHARS_MAX} characters`,
    );
  }
  // hasOwn: a key such as "constructor" must not find Object.prototype members.
  const spec = Object.hasOwn(appEnvCatalogue, key) ? appEnvCatalogue[key] : undefined;
  if (spec !== undefined) {
    spec.parse(value, key);
    return;
  }
  for (const [prefix, family] of Object.entries(appEnvFamilies)) {
    if (!key.startsWith(prefix)) continue;
    if (!family.suffixPattern.test(key.slice(prefix.length)))
      throw invalid(key, value, `the key must be ${prefix}<${family.suffix}>`);
    family.parse(value, key);
    return;
  }
  const suggestion = closestName(key, Object.keys(appEnvCatalogue));
  if (suggestion !== undefined)
    throw invalid(key, value, `unknown app env (did you mean ${suggestion}?)`);
  const prefix = RESERVED_APP_ENV_PREFIXES.find((p) => key.startsWith(p));
  if (prefix !== undefined) {
    const known = Object.keys(appEnvCatalogue).filter((k) => k.startsWith(prefix));
    throw invalid(key, value, `unknown app env; the known ${prefix}* envs are ${known.join(", ")}`);
  }
}
