/**
 * A complete, valid Config for tests and the onebox: the schema defaults, cluster `onebox`, and
 * whatever `overrides` change. Overrides go through the same validation as a file (each value is
 * written as ini text and parsed back), so an invalid override fails the same way a file would.
 */
import type { Config, ConfigOverrides } from "./config-type.ts";
import type { RawEntry, RawSection } from "./ini-scanner.ts";
import { configError } from "./problems.ts";
import { resolveConfig } from "./resolve.ts";
import { mapSections, sections } from "./schema.ts";
import { camelCase, type KeySpec } from "./schema-types.ts";
import { formatValue, type ValueTypeMap, type ValueTypeName } from "./value-types.ts";

export const DEFAULT_CLUSTER_NAME = "onebox";

const entry = (type: ValueTypeName, value: unknown): RawEntry => ({
  // The override's type comes from Config, which the schema derives; format trusts it.
  text: formatValue(type, value as ValueTypeMap[typeof type]),
  line: undefined,
});

/**
 * Without overrides: cluster `onebox`, `[duplication-group] onebox = 1`, every other key at its
 * default. When `replication.clusterName` is overridden and `duplicationGroup` is not, the group
 * becomes `{ <clusterName>: 1 }`.
 */
export function defaultConfig(overrides: ConfigOverrides = {}): Config {
  const raw = new Map<string, RawSection>();
  const byName: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>> = overrides;
  for (const [section, spec] of Object.entries(sections)) {
    const keys: Readonly<Record<string, KeySpec>> = spec.keys;
    const given = { ...byName[camelCase(section)] };
    const entries = new Map<string, RawEntry>();
    for (const [key, keySpec] of Object.entries(keys)) {
      const value = given[camelCase(key)];
      delete given[camelCase(key)];
      if (value !== undefined) entries.set(key, entry(keySpec.type, value));
    }
    const unknown = Object.keys(given);
    if (unknown.length > 0) {
      throw configError(
        "defaultConfig",
        unknown.map((key) => ({ section, key, message: "unknown override" })),
      );
    }
    raw.set(section, { line: undefined, entries });
  }
  const clusterName = overrides.replication?.clusterName ?? DEFAULT_CLUSTER_NAME;
  raw.get("replication")?.entries.set("cluster_name", entry("cluster-name", clusterName));
  const maps: Record<string, Readonly<Record<string, unknown>>> = {
    "pegasus.clusters": overrides.pegasusClusters ?? {},
    "duplication-group": overrides.duplicationGroup ?? { [clusterName]: 1 },
    "duplication-proxy": overrides.duplicationProxy ?? {},
  };
  for (const [section, spec] of Object.entries(mapSections)) {
    const entries = new Map<string, RawEntry>();
    for (const [name, value] of Object.entries(maps[section] ?? {})) {
      entries.set(name, entry(spec.value.type, value));
    }
    raw.set(section, { line: undefined, entries });
  }
  return resolveConfig(raw, "defaultConfig");
}
