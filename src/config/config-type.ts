/**
 * The typed, read-only Config object, derived from the schema: one property per section (camelCase)
 * holding one property per key (camelCase) of the key's parsed type; map sections are records from
 * cluster name to value. Adding a key to schema.ts adds it here.
 */

import type { mapSections, sections } from "./schema.ts";
import type { CamelCase, KeySpec, SectionSpec } from "./schema-types.ts";
import type { ValueTypeMap } from "./value-types.ts";

type ValueOf<K extends KeySpec> = K extends {
  readonly type: "enum";
  readonly values: readonly (infer V)[];
}
  ? V
  : ValueTypeMap[K["type"]];

export type SectionValues<S extends SectionSpec> = {
  readonly [K in keyof S["keys"] & string as CamelCase<K>]: ValueOf<S["keys"][K]>;
};

type Sections = typeof sections;
type MapSections = typeof mapSections;

export type Config = {
  readonly [S in keyof Sections as CamelCase<S>]: SectionValues<Sections[S]>;
} & {
  readonly [S in keyof MapSections as CamelCase<S>]: Readonly<
    Record<string, ValueTypeMap[MapSections[S]["value"]["type"]]>
  >;
};

export type ConfigSectionName = keyof Config;

/** What defaultConfig accepts: any keys of any section; a map section is replaced whole. */
export type ConfigOverrides = {
  readonly [S in keyof Config]?: Partial<Config[S]>;
};
