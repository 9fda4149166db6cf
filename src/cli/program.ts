/**
 * The `talaria` command tree and how a run maps to an exit code:
 * - 0: success (and --help, --version);
 * - 1: operating error, a TalariaError (missing directory, corrupt log, decree garbage-collected),
 *   printed as one `error: <CODE>: <message>` line on stderr;
 * - 2: usage error (unknown command or option, missing argument, bad option value), printed by
 *   commander as one `error: ...` line plus a hint on stderr.
 * Anything else is a programmer error and propagates.
 */
import { Command, CommanderError } from "commander";
import { isTalariaError } from "../common/errors.ts";
import { startMetaServer } from "../server/meta-server.ts";
import { startReplicaServer } from "../server/replica-server.ts";
import { registerShellCommand } from "../shell/index.ts";
import { VERSION } from "../version.ts";
import { registerLogCommands } from "./log-command.ts";
import { registerOneboxCommand } from "./onebox-command.ts";
import type { CliIo } from "./output.ts";
import { registerServerCommand } from "./server-commands.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command tree: servers (meta, replica, onebox), tools (shell, log) and version. */
export function buildProgram(io: CliIo): Command {
  // Output settings and exitOverride are copied to sub-commands when they are created, so they
  // come first.
  const program = new Command("talaria")
    .description("Talaria: a geo-replicated key-value store with cross-datacenter duplication")
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .version(VERSION);
  program
    .command("version")
    .description("print the version")
    .action(() => {
      io.stdout.write(`talaria ${VERSION}\n`);
    });
  registerLogCommands(program, io);
  registerServerCommand(program, io, "meta", "run a meta server", (config, logger, onFatal) =>
    startMetaServer(config, logger, { onFatal }),
  );
  registerServerCommand(program, io, "replica", "run a replica server", (config, logger) =>
    startReplicaServer(config, logger),
  );
  registerOneboxCommand(program, io);
  registerShellCommand(program, io);
  return program;
}

/** Runs one command line (without the node and script arguments); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: "user" });
    return EXIT_OK;
  } catch (error) {
    // Commander has already printed the message (or the help / version it was asked for).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (isTalariaError(error)) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}
