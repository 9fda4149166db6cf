#!/usr/bin/env node
// Runs every test file under test/ with node:test + tsx. Node 20 neither expands globs nor
// discovers .ts files, so the list is built here and an empty list is a failure, not a pass.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = findTests("test").filter(
  (file) => filter.length === 0 || filter.some((f) => file.includes(f)),
);
if (files.length === 0) {
  console.error(
    `run-tests: no test files found${filter.length ? ` matching ${filter.join(" ")}` : ""}`,
  );
  process.exit(1);
}
console.log(`run-tests: ${files.length} test files`);
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--import",
    "./test/support/deterministic.ts",
    "--test",
    "--test-reporter=spec",
    ...files,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
