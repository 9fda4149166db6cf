import assert from "node:assert/strict";
import { isTalariaError, type TalariaError } from "../../src/common/errors.ts";
import type { ConfigProblem } from "../../src/config/index.ts";

/** The smallest valid file: a cluster name, and its id since duplication is on by default. */
export const MINIMAL = "[replication]\ncluster_name = dc1\n\n[duplication-group]\ndc1 = 1\n";

/** MINIMAL plus `extra` lines in a section (the section is re-opened, which is allowed). */
export function withLines(section: string, ...lines: string[]): string {
  return `${MINIMAL}\n[${section}]\n${lines.join("\n")}\n`;
}

/** Runs `fn`, asserts it throws ERR_INVALID_CONFIG, and returns the error and its problems. */
export function configErrorOf(fn: () => unknown): {
  error: TalariaError;
  problems: ConfigProblem[];
} {
  try {
    fn();
  } catch (error) {
    assert.ok(
      isTalariaError(error, "ERR_INVALID_CONFIG"),
      `expected ERR_INVALID_CONFIG, got ${String(error)}`,
    );
    return { error, problems: error.details.problems as ConfigProblem[] };
  }
  assert.fail("expected ERR_INVALID_CONFIG, nothing was thrown");
}

/** Asserts `fn` fails with exactly one problem at `[section] key` whose message matches. */
export function assertOneProblem(
  fn: () => unknown,
  expected: { section?: string; key?: string; line?: number; message: RegExp },
): TalariaError {
  const { error, problems } = configErrorOf(fn);
  assert.equal(problems.length, 1, error.message);
  const [problem] = problems;
  assert.equal(problem?.section, expected.section, error.message);
  assert.equal(problem?.key, expected.key, error.message);
  if (expected.line !== undefined) assert.equal(problem?.line, expected.line, error.message);
  assert.match(problem?.message ?? "", expected.message);
  assert.equal(error.details.section, expected.section);
  assert.equal(error.details.key, expected.key);
  return error;
}
