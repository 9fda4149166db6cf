import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { exampleConfigText } from "../../src/config/config-doc.ts";
import {
  appEnvCatalogue,
  mapSections,
  parseConfig,
  renderConfigDoc,
  sections,
} from "../../src/config/index.ts";

const doc = readFileSync(new URL("../../docs/config.md", import.meta.url), "utf8");

it("docs/config.md is what scripts/gen-config-doc.ts generates from the schema", () => {
  assert.ok(
    doc === renderConfigDoc(),
    "docs/config.md is out of date: run `node --import tsx scripts/gen-config-doc.ts`",
  );
});

it("docs/config.md documents every section, key and app env", () => {
  for (const [section, spec] of Object.entries(sections)) {
    assert.ok(doc.includes(`### \`[${section}]\``), section);
    for (const key of Object.keys(spec.keys))
      assert.ok(doc.includes(`| \`${key}\` |`), `[${section}] ${key}`);
  }
  for (const section of Object.keys(mapSections))
    assert.ok(doc.includes(`### \`[${section}]\``), section);
  for (const key of Object.keys(appEnvCatalogue)) assert.ok(doc.includes(`| \`${key}\` |`), key);
});

it("the example in the doc is a valid configuration", () => {
  const config = parseConfig(exampleConfigText(), { source: "docs/config.md example" });
  assert.deepEqual(config.duplicationGroup, { dc1: 1, dc2: 2 });
  assert.ok(doc.includes(exampleConfigText().trimEnd()));
});
