/**
 * `talaria shell`: the REPL, or with `-e` one-shot mode. Exit codes of one-shot mode follow the
 * CLI's: 0 when every command succeeded (or `exit` was reached), 2 for wrong usage (the `error:`
 * line and the verb's usage on stderr), 1 for an operating error — thrown on to runCli, which
 * prints it as `error: CODE: message`. Commands after the first failure do not run. The REPL
 * exits 0.
 */
import { existsSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { type Command, CommanderError, InvalidArgumentError } from "commander";
import { assert } from "../common/index.ts";
import { loadConfig } from "../config/index.ts";
import { connectBackend, type ShellBackend } from "./backend.ts";
import {
  clusterFromConfig,
  configPathFor,
  directTarget,
  parseMetaList,
  type ShellTarget,
  TargetError,
} from "./cluster.ts";
import { historyPath } from "./history.ts";
import { isTerminal, terminalPhaseProgress, terminalProgress } from "./progress.ts";
import { runRepl } from "./repl.ts";
import { errorLine, ShellSession } from "./session.ts";

/** The CLI's usage exit code (src/cli/program.ts). */
const EXIT_USAGE = 2;

export interface ShellIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/** What the command takes from the process; tests replace it. */
export interface ShellCommandDeps {
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly exists: (path: string) => boolean;
  readonly createBackend: (metaServers: readonly string[]) => ShellBackend;
}

export interface ShellCommandOptions {
  readonly cluster?: string;
  readonly meta?: string[];
  readonly config?: string;
  readonly execute?: string;
  readonly json?: true;
}

function defaultDeps(): ShellCommandDeps {
  return {
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    exists: existsSync,
    createBackend: (metaServers) => connectBackend(metaServers, { name: "talaria-shell" }),
  };
}

function parseMetaOption(text: string): string[] {
  try {
    return parseMetaList(text);
  } catch (error) {
    if (error instanceof TargetError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

async function resolveTarget(
  options: ShellCommandOptions,
  deps: ShellCommandDeps,
): Promise<ShellTarget> {
  if (options.meta !== undefined || options.cluster === undefined)
    return directTarget(options.cluster, options.meta);
  const path = configPathFor({
    config: options.config,
    env: deps.env,
    cwd: deps.cwd,
    exists: deps.exists,
  });
  if (path === undefined) {
    throw new TargetError(
      `-c ${options.cluster} needs a configuration listing it: --config <file>, TALARIA_CONFIG or ./talaria.ini`,
    );
  }
  return clusterFromConfig(options.cluster, await loadConfig(path), path);
}

export function registerShellCommand(
  program: Command,
  io: ShellIo,
  overrides: Partial<ShellCommandDeps> = {},
): void {
  program
    .command("shell")
    .description("the Pegasus-style shell: tables, data, scans and app envs")
    .option("-c, --cluster <name>", "cluster from the configuration's [pegasus.clusters]")
    .option(
      "--meta <host:port,...>",
      "meta servers of the cluster (overrides -c's list)",
      parseMetaOption,
    )
    .option(
      "--config <file>",
      "configuration for -c (default: $TALARIA_CONFIG, else ./talaria.ini)",
    )
    .option("-e, --execute <commands>", "run the commands (separated by ; or newlines) and exit")
    .option("--json", "print one JSON document per command")
    .action(async function (this: Command, options: ShellCommandOptions) {
      const deps = { ...defaultDeps(), ...overrides };
      let target: ShellTarget;
      try {
        target = await resolveTarget(options, deps);
      } catch (error) {
        if (error instanceof TargetError)
          this.error(`error: ${error.message}`, {
            exitCode: EXIT_USAGE,
            code: "talaria.shell.target",
          });
        throw error;
      }
      await runShell(target, options, io, deps);
    });
}

async function runShell(
  target: ShellTarget,
  options: ShellCommandOptions,
  io: ShellIo,
  deps: ShellCommandDeps,
): Promise<void> {
  const json = options.json === true;
  const backend = deps.createBackend(target.metaServers);
  const session = new ShellSession({
    backend,
    stdout: io.stdout,
    json,
    clusterLabel: target.label,
    ...(isTerminal(io.stderr) && !json
      ? { progress: terminalProgress(io.stderr), phaseProgress: terminalPhaseProgress(io.stderr) }
      : {}),
  });
  try {
    if (options.execute === undefined) {
      const terminal = (deps.stdin as { isTTY?: boolean }).isTTY === true && isTerminal(io.stdout);
      await runRepl({
        session,
        input: deps.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        terminal,
        historyPath: historyPath(deps.env),
      });
      return;
    }
    const outcome = await session.runInput(options.execute);
    switch (outcome.kind) {
      case "ok":
      case "exit":
        return;
      case "failed":
        // runCli prints it as `error: CODE: message` and exits 1.
        throw outcome.error;
      case "usage": {
        const message = errorLine(outcome) ?? "";
        io.stderr.write(`${message}\n`);
        throw new CommanderError(EXIT_USAGE, "talaria.shell.usage", message);
      }
      case "interrupted":
        return assert(false, "one-shot mode passes no abort signal");
    }
  } finally {
    await backend.close();
  }
}
