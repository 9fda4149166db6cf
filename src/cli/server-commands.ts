/**
 * `talaria meta` and `talaria replica`: run one server process from a config file until SIGINT or
 * SIGTERM, then stop cleanly. Logs are JSON lines on stdout (pino).
 */
import type { Command } from "commander";
import { createLogger, type Logger } from "../common/logger.ts";
import { type Config, loadConfig } from "../config/index.ts";
import type { CliIo } from "./output.ts";

export interface RunningServer {
  close(): Promise<void>;
}

export type ServerStarter = (
  config: Config,
  logger: Logger,
  onFatal: (reason: string) => void,
) => Promise<RunningServer>;

/** Resolves when the process is asked to stop (or a fatal error is reported). */
function stopSignal(): { promise: Promise<string>; fatal(reason: string): void } {
  let resolve: (reason: string) => void = () => {};
  const promise = new Promise<string>((r) => {
    resolve = r;
  });
  const onSignal = (signal: NodeJS.Signals) => resolve(signal);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return { promise, fatal: (reason) => resolve(`fatal: ${reason}`) };
}

export function registerServerCommand(
  program: Command,
  io: CliIo,
  role: string,
  description: string,
  start: ServerStarter,
): void {
  program
    .command(role)
    .description(description)
    .requiredOption("--config <file>", "the ini configuration file (see docs/config.md)")
    .action(async (options: { config: string }) => {
      const config = await loadConfig(options.config);
      const logger = createLogger({ name: `talaria-${role}` });
      const stop = stopSignal();
      const server = await start(config, logger, stop.fatal);
      io.stdout.write("");
      const reason = await stop.promise;
      logger.info({ reason }, `${role} server stopping`);
      await server.close();
      logger.info(`${role} server stopped`);
      if (reason.startsWith("fatal")) process.exitCode = 1;
    });
}
