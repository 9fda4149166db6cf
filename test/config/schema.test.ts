import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Config, defaultConfig, mapSections, sections } from "../../src/config/index.ts";
import { type CamelCase, camelCase, type KeySpec } from "../../src/config/schema-types.ts";
import { parseValue } from "../../src/config/value-types.ts";

const allKeys = (): [string, string, KeySpec][] =>
  Object.entries(sections).flatMap(([section, spec]) =>
    Object.entries(spec.keys as Readonly<Record<string, KeySpec>>).map(
      ([key, keySpec]): [string, string, KeySpec] => [section, key, keySpec],
    ),
  );

describe("config schema", () => {
  it("gives every key exactly one of default, required or derived, and a doc", () => {
    for (const [section, key, spec] of allKeys()) {
      const kinds = [
        spec.default !== undefined,
        spec.required === true,
        spec.derived !== undefined,
      ];
      assert.equal(kinds.filter(Boolean).length, 1, `[${section}] ${key}`);
      assert.ok(spec.doc.length > 10 && spec.usedBy.length > 0, `[${section}] ${key}`);
      if (spec.type === "enum") assert.ok((spec.values ?? []).length > 0, `[${section}] ${key}`);
    }
  });

  it("every default parses under its own type and bounds", () => {
    for (const [section, key, spec] of allKeys()) {
      if (spec.default === undefined) continue;
      const parsed = parseValue(spec.type, spec.default, spec);
      assert.ok(
        parsed.ok,
        `[${section}] ${key} = ${spec.default}: ${parsed.ok ? "" : parsed.error}`,
      );
    }
  });

  it("names are lower snake case (with . or - in section names), where CamelCase and camelCase agree", () => {
    for (const [section, key] of allKeys()) {
      assert.match(section, /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/);
      assert.match(key, /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/);
    }
    for (const section of Object.keys(mapSections))
      assert.match(section, /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/);
    // Each of these compiles only if the type-level mapping yields the same literal.
    const typed: [string, string][] = [
      ["pegasus.server", "pegasusServer" satisfies CamelCase<"pegasus.server">],
      ["duplication-group", "duplicationGroup" satisfies CamelCase<"duplication-group">],
      ["fd_lease_seconds", "fdLeaseSeconds" satisfies CamelCase<"fd_lease_seconds">],
      [
        "log_private_file_size_mb",
        "logPrivateFileSizeMb" satisfies CamelCase<"log_private_file_size_mb">,
      ],
      ["a_1_b", "a1B" satisfies CamelCase<"a_1_b">],
    ];
    for (const [name, expected] of typed) assert.equal(camelCase(name), expected);
  });

  it("the Config object has exactly the schema's sections and keys, camelCased", () => {
    const config: Config = defaultConfig();
    assert.deepEqual(
      Object.keys(config),
      [...Object.keys(sections), ...Object.keys(mapSections)].map(camelCase),
    );
    for (const [section, spec] of Object.entries(sections)) {
      const values = (config as unknown as Record<string, object>)[camelCase(section)] ?? {};
      assert.deepEqual(Object.keys(values), Object.keys(spec.keys).map(camelCase), section);
    }
    // The derived types: these lines fail type-checking if the schema and Config disagree.
    const mode: "embedded" | "zookeeper" = config.metaServer.metaStateServiceType;
    const lease: number = config.replication.fdLeaseSeconds;
    const enabled: boolean = config.replication.duplicationEnabled;
    const port: number | undefined = config.metaServer.serverList[0]?.port;
    const id: number | undefined = config.duplicationGroup.onebox;
    assert.deepEqual([mode, lease, enabled, port, id], ["embedded", 9, true, 34_601, 1]);
  });
});
