/** The process entry of the `talaria` command (bin/talaria): binds the CLI to the process. */
import { EXIT_FAILURE, EXIT_OK, runCli } from "./program.ts";

// A reader that goes away (`talaria log dump … | head`) is not a failure.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(EXIT_OK);
  process.stderr.write(`error: stdout: ${error.message}\n`);
  process.exit(EXIT_FAILURE);
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
