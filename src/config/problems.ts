/**
 * Configuration problems are collected, not thrown one by one, so a user fixes a file in one pass.
 * They become a single ERR_INVALID_CONFIG whose message lists each problem as
 * `source:line: [section] key: what is wrong`, and whose details name the first one.
 */
import { TalariaError } from "../common/errors.ts";

export interface ConfigProblem {
  readonly section?: string;
  readonly key?: string;
  /** 1-based line in the source file, when the problem comes from one. */
  readonly line?: number;
  readonly message: string;
}

export function describeProblem(source: string, problem: ConfigProblem): string {
  const where = problem.line === undefined ? source : `${source}:${problem.line}`;
  const section = problem.section === undefined ? "" : `[${problem.section}] `;
  // "fd_lease_seconds = 12 must be …" reads better than "fd_lease_seconds: = 12 must be …".
  const separator = problem.message.startsWith("= ") ? " " : ": ";
  const key = problem.key === undefined ? "" : `${problem.key}${separator}`;
  return `${where}: ${section}${key}${problem.message}`;
}

/** Problems in file order; those without a line (defaults, missing keys) after the rest. */
function byLine(a: ConfigProblem, b: ConfigProblem): number {
  return (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY) || 0;
}

export function configError(source: string, unsorted: readonly ConfigProblem[]): TalariaError {
  const problems = [...unsorted].sort(byLine);
  const first = problems[0];
  const lines = problems.map((problem) => describeProblem(source, problem));
  const message =
    lines.length === 1 ? (lines[0] ?? "") : `${lines.length} problems:\n  ${lines.join("\n  ")}`;
  return new TalariaError("ERR_INVALID_CONFIG", message, {
    details: {
      source,
      section: first?.section,
      key: first?.key,
      line: first?.line,
      problems,
    },
  });
}
