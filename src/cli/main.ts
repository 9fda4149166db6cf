import { Command, CommanderError } from "commander";
import { isTalariaError } from "../common/errors.ts";
import { VERSION } from "../version.ts";

/** Sub-commands arrive with later features (meta, replica, onebox, shell, bench). */
export function buildProgram(): Command {
  const program = new Command("talaria")
    .description("Talaria: a geo-replicated key-value store with cross-datacenter duplication")
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  program
    .command("version")
    .description("print the version")
    .action(() => {
      process.stdout.write(`talaria ${VERSION}\n`);
    });
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv as string[], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (isTalariaError(error)) {
      process.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
