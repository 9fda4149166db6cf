/**
 * The shape of the configuration schema (schema.ts holds the data) and the mechanical mapping from
 * ini names to the names of the typed Config object: `[pegasus.server] ttl_sweep_interval_ms` is
 * `config.pegasusServer.ttlSweepIntervalMs`. The same mapping exists once as a type (CamelCase) and
 * once as a function (camelCase); test/config/schema.test.ts checks they agree on every name.
 */
import type { ValueConstraints, ValueTypeName } from "./value-types.ts";

/** Which processes read a key. */
export type Role = "meta" | "replica" | "client";

/** Reads the ini text of an already resolved (non-derived) key while deriving a default. */
export type DerivedLookup = (section: string, key: string) => string;

export interface KeySpec extends ValueConstraints {
  readonly type: ValueTypeName;
  /**
   * The default as ini text, parsed like a value from the file (so a bad default fails the schema
   * test, not a user). Exactly one of `default`, `required` and `derived` is set.
   */
  readonly default?: string;
  /** The file must set this key. */
  readonly required?: true;
  /** The default is computed from other keys. */
  readonly derived?: {
    readonly doc: string;
    readonly from: (lookup: DerivedLookup) => string;
  };
  /** One or two sentences for docs/config.md: what it does, the unit, what 0 means if special. */
  readonly doc: string;
  readonly usedBy: readonly Role[];
  /**
   * How the key relates to Apache Pegasus: "same" (same name, section and default), a note on what
   * differs, or absent when the key is Talaria's own.
   */
  readonly pegasus?: string;
}

export interface SectionSpec {
  readonly doc: string;
  readonly keys: Readonly<Record<string, KeySpec>>;
}

/** A section whose keys are names chosen by the user (clusters), all with one value type. */
export interface MapSectionSpec {
  readonly doc: string;
  /** What a key of this section names. */
  readonly keyDoc: string;
  readonly value: ValueConstraints & { readonly type: ValueTypeName; readonly doc: string };
  readonly usedBy: readonly Role[];
  readonly pegasus?: string;
}

type DotDashToUnderscore<S extends string> = S extends `${infer A}.${infer B}`
  ? DotDashToUnderscore<`${A}_${B}`>
  : S extends `${infer A}-${infer B}`
    ? DotDashToUnderscore<`${A}_${B}`>
    : S;

type SnakeToCamel<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<SnakeToCamel<Tail>>}`
  : S;

/** `pegasus.server` → `pegasusServer`, `fd_lease_seconds` → `fdLeaseSeconds`. */
export type CamelCase<S extends string> = SnakeToCamel<DotDashToUnderscore<S>>;

export function camelCase(name: string): string {
  return name.replace(/[._-]([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
}
