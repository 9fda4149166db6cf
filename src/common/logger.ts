import { pino } from "pino";

/** Structured logger: `log.info({ gpid, decree }, "message")`. */
export type Logger = pino.Logger;

export function createLogger(options: { name: string; level?: string }): Logger {
  return pino({
    name: options.name,
    level: options.level ?? process.env.TALARIA_LOG_LEVEL ?? "info",
  });
}

/** A logger that drops everything: the default in tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
