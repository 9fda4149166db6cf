/**
 * Generates docs/config.md from the schema, the cross-field rules and the app env catalogue, so the
 * document cannot drift from the code: scripts/gen-config-doc.ts writes it and
 * test/config/doc.test.ts fails when the file differs from what this returns.
 */
import { appEnvCatalogue, appEnvFamilies, RESERVED_APP_ENV_PREFIXES } from "./app-envs.ts";
import { crossChecks } from "./cross-checks.ts";
import { defaultConfig } from "./default-config.ts";
import { renderConfig } from "./render-config.ts";
import { mapSections, sections } from "./schema.ts";
import type { KeySpec, MapSectionSpec } from "./schema-types.ts";
import {
  formatValue,
  type ValueConstraints,
  type ValueTypeName,
  valueTypes,
} from "./value-types.ts";

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function bound(type: ValueTypeName, value: number): string {
  return type === "bytes" ? formatValue("bytes", value) : String(value);
}

function typeCell(spec: ValueConstraints & { readonly type: ValueTypeName }): string {
  if (spec.type === "enum") return `enum: ${(spec.values ?? []).map((v) => `\`${v}\``).join(", ")}`;
  const counted = spec.type === "host-port-list" || spec.type === "list";
  if (spec.min === undefined && spec.max === undefined) return spec.type;
  const range = `${spec.min === undefined ? "" : bound(spec.type, spec.min)}..${spec.max === undefined ? "" : bound(spec.type, spec.max)}`;
  return `${spec.type}, ${range}${counted ? " items" : ""}`;
}

function defaultCell(spec: KeySpec): string {
  if (spec.required) return "**required**";
  if (spec.derived !== undefined) return spec.derived.doc;
  return spec.default === "" ? "(empty)" : `\`${spec.default}\``;
}

function pegasusCell(note: string | undefined): string {
  return note === undefined ? "Talaria only" : note;
}

function sectionTable(keys: Readonly<Record<string, KeySpec>>): string[] {
  const rows = [
    "| key | type | default | used by | meaning | Pegasus |",
    "|---|---|---|---|---|---|",
  ];
  for (const [key, spec] of Object.entries(keys)) {
    rows.push(
      `| \`${key}\` | ${cell(typeCell(spec))} | ${cell(defaultCell(spec))} | ${spec.usedBy.join(", ")} | ${cell(spec.doc)} | ${cell(pegasusCell(spec.pegasus))} |`,
    );
  }
  return rows;
}

function mapSectionText(name: string, spec: MapSectionSpec): string[] {
  return [
    `### \`[${name}]\``,
    "",
    spec.doc,
    "",
    `Each key is a ${spec.keyDoc} (a letter, then up to 63 letters, digits, \`_\` or \`-\`); each value is ${spec.value.doc} (${typeCell(spec.value)}). Used by: ${spec.usedBy.join(", ")}. Pegasus: ${pegasusCell(spec.pegasus)}.`,
    "",
  ];
}

/** The example file in the doc: cluster dc1 duplicating with dc2. */
export function exampleConfigText(): string {
  return renderConfig(
    defaultConfig({
      replication: { clusterName: "dc1" },
      pegasusClusters: {
        dc2: [
          { host: "10.1.0.1", port: 34601 },
          { host: "10.1.0.2", port: 34601 },
        ],
      },
      duplicationGroup: { dc1: 1, dc2: 2 },
    }),
  );
}

export function renderConfigDoc(): string {
  const out: string[] = [
    "# Configuration",
    "",
    "<!-- Generated from src/config (schema.ts, cross-checks.ts, app-envs.ts) by",
    "     `node --import tsx scripts/gen-config-doc.ts`. Edit those files, not this one;",
    "     test/config/doc.test.ts fails when this file is out of date. -->",
    "",
    "Every Talaria process (meta server, replica server, onebox) reads one ini file. Section and key",
    "names follow Apache Pegasus where Pegasus has the setting; the Pegasus column says how each key",
    "relates to it.",
    "",
    "## File format",
    "",
    "- `[section]` opens a section (it may be opened again later); every other line is `key = value`.",
    "  Lines starting with `;` or `#` are comments, and so is the rest of a value after an unescaped",
    '  `;` or `#`. Quote a value (`"…"`) to keep leading or trailing spaces, `;` or `#` in it.',
    "- Every section and key below is known; anything else is refused, with the closest known name",
    "  when it looks like a typo (`[replication] fd_lease_second: unknown key (did you mean",
    "  fd_lease_seconds?)`), or the section a key belongs in. A key set twice in a section, a line",
    "  without `=` and a key outside any section are refused too.",
    "- A key that is not set takes its default; a **required** key has none.",
    "- Problems are collected and reported together in one `ERR_INVALID_CONFIG` error whose message",
    "  has one line per problem (`file:line: [section] key: what is wrong`) and whose `details` hold",
    "  `source`, `section`, `key` and `line` of the first problem and the list of all `problems`.",
    "",
    "## Value types",
    "",
    "| type | syntax |",
    "|---|---|",
    ...Object.entries(valueTypes).map(([name, type]) => `| \`${name}\` | ${cell(type.syntax)} |`),
    "",
    "Ranges in the tables below are inclusive; durations are in the unit of the key's name.",
    "",
    "## Sections",
    "",
  ];
  for (const [name, spec] of Object.entries(sections)) {
    out.push(`### \`[${name}]\``, "", spec.doc, "", ...sectionTable(spec.keys), "");
  }
  for (const [name, spec] of Object.entries(mapSections)) out.push(...mapSectionText(name, spec));
  out.push(
    "## Rules across keys",
    "",
    "Checked after every key has parsed on its own:",
    "",
    ...crossChecks.map((rule) => `- ${rule.doc}`),
    "",
    "## In code",
    "",
    "`src/config/index.ts`:",
    "",
    "- `loadConfig(path): Promise<Config>` reads and validates a file; `parseConfig(text, { source })`",
    "  does the same for text. Both throw `ERR_INVALID_CONFIG`.",
    "- `Config` is derived from the schema and deeply read-only (frozen): one property per section",
    "  and key, named in camelCase (`[pegasus.server] ttl_sweep_interval_ms` is",
    "  `config.pegasusServer.ttlSweepIntervalMs`). Map sections are records:",
    "  `config.pegasusClusters.dc2` is a list of `{ host, port }`, `config.duplicationGroup.dc2` a number.",
    "- `defaultConfig(overrides)` builds a valid Config for tests and the onebox (cluster `onebox`,",
    "  `[duplication-group] onebox = 1` unless overridden); overrides are validated like a file.",
    "- `renderConfig(config)` writes an ini file that parses back to an equal Config.",
    "- `writeLimitsOf`, `readLimitsOf` and `plogSegmentBytesMaxOf` turn a Config into the storage and",
    "  private-log settings (`docs/limits.md`).",
    "",
    "## Example",
    "",
    "Cluster `dc1`, duplicating with `dc2`; every other key at its default (`renderConfig` output):",
    "",
    "```ini",
    exampleConfigText().trimEnd(),
    "```",
    "",
    "## App envs",
    "",
    "Table-level settings, set on a table through the meta server (Pegasus shell: `set_app_envs`),",
    "which validates each one before storing it (`validateAppEnv`; `ERR_INVALID_PARAMETERS`):",
    "",
    "| key | format | example | meaning |",
    "|---|---|---|---|",
    ...Object.entries(appEnvCatalogue).map(
      ([key, spec]) =>
        `| \`${key}\` | ${cell(spec.format)} | \`${cell(spec.example)}\` | ${cell(spec.doc)} |`,
    ),
    ...Object.entries(appEnvFamilies).map(
      ([prefix, spec]) =>
        `| \`${prefix}<${spec.suffix}>\` | ${cell(spec.format)} | \`${cell(spec.example)}\` | ${cell(spec.doc)} |`,
    ),
    "",
    `- A key under a reserved prefix (${RESERVED_APP_ENV_PREFIXES.map((p) => `\`${p}\``).join(", ")}) must be one of the above.`,
    "- A key one typo away from a known key is refused with a suggestion (`default_tll`).",
    "- Any other key (1..256 characters of letters, digits, `_ . : -`; value up to 64 KiB) is stored",
    "  as given and has no effect in Talaria: operators' annotations, Pegasus envs such as",
    "  `rocksdb.usage_scenario` or `manual_compact.*`.",
    "- Throttling thresholds are per second for the whole table; each partition allows",
    "  `units / partition_count + 1`. `K` and `M` mean 1000 and 1000000, as in Pegasus's parser.",
    "  Delay and reject rules are each optional, at most one of each, in either order.",
    "",
  );
  return out.join("\n");
}
