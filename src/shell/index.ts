/** The Pegasus-style shell: `talaria shell` (REPL and one-shot mode) and its parts for tests. */
export { parseArgs, usageLine } from "./args.ts";
export {
  type ClientBackendOptions,
  clientBackend,
  connectBackend,
  SHELL_ADD_DUPLICATION_TIMEOUT_MS_DEFAULT,
  SHELL_ADMIN_TIMEOUT_MS_DEFAULT,
  type ShellBackend,
  type ShellTable,
} from "./backend.ts";
export {
  clusterFromConfig,
  configPathFor,
  DEFAULT_META_SERVER,
  directTarget,
  parseMetaList,
  type ShellTarget,
  TargetError,
} from "./cluster.ts";
export { type Completion, complete } from "./completion.ts";
export { HISTORY_LINES_MAX, historyPath, loadHistory, saveHistory } from "./history.ts";
export type {
  PhaseProgressFactory,
  PhaseProgressReporter,
  ProgressFactory,
  ProgressReporter,
} from "./progress.ts";
export { bytesToDisplay, bytesToJson } from "./render.ts";
export { type ReplOptions, runRepl } from "./repl.ts";
export {
  type CommandOutcome,
  errorLine,
  ShellSession,
  type ShellSessionOptions,
} from "./session.ts";
export { registerShellCommand, type ShellCommandDeps, type ShellIo } from "./shell-command.ts";
export { quoteText, type Token, TokenizeError, tokenize } from "./tokenizer.ts";
export { type AnyVerbSpec, Args, InterruptedError, UsageError } from "./verb-spec.ts";
export { allVerbs, everyVerbSpec, parseCommand } from "./verbs.ts";
