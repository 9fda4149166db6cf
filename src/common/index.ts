export { AssertionError, assert, unreachable } from "./assert.ts";
export { type Clock, ManualClock, systemClock } from "./clock.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export { createLogger, type Logger, silentLogger } from "./logger.ts";
