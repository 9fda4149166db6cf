/**
 * The interactive loop: node:readline with a prompt naming the cluster and table, persistent
 * history and tab completion. Commands run one at a time in input order; an error prints its line
 * and the loop goes on. Ctrl-C interrupts a running scan or clears the line; Ctrl-D or `exit`
 * leaves.
 */
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { complete } from "./completion.ts";
import { HISTORY_LINES_MAX, loadHistory, saveHistory } from "./history.ts";
import { errorLine, type ShellSession } from "./session.ts";

export interface ReplOptions {
  readonly session: ShellSession;
  readonly input: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Whether input and output are a terminal: line editing, completion, history. */
  readonly terminal: boolean;
  /** Print the prompt (default: when `terminal`). */
  readonly prompt?: boolean;
  /** Where history persists; none when undefined. Used only on a terminal. */
  readonly historyPath?: string;
}

export async function runRepl(options: ReplOptions): Promise<void> {
  const { session, terminal } = options;
  const showPrompt = options.prompt ?? terminal;
  const historyFile = terminal ? options.historyPath : undefined;
  let history = historyFile === undefined ? [] : await loadHistory(historyFile);
  const rl = createInterface({
    input: options.input,
    output: options.stdout,
    terminal,
    history,
    historySize: HISTORY_LINES_MAX,
    removeHistoryDuplicates: true,
    prompt: session.prompt(),
    completer: (line: string) =>
      complete(line, { verbs: session.verbs, tables: session.tableNames() }),
  });
  rl.on("history", (lines: string[]) => {
    history = lines;
  });
  let running: AbortController | undefined;
  rl.on("SIGINT", () => {
    if (running !== undefined) {
      running.abort();
      return;
    }
    // Idle: drop the line being typed, as a shell does.
    rl.write(null, { ctrl: true, name: "u" });
    options.stdout.write("^C\n");
    rl.prompt();
  });
  if (showPrompt) rl.prompt();
  let exited = false;
  try {
    for await (const line of rl) {
      running = new AbortController();
      const outcome = await session.runInput(line, running.signal);
      running = undefined;
      const message = errorLine(outcome);
      if (message !== undefined) options.stderr.write(`${message}\n`);
      if (outcome.kind === "exit") {
        exited = true;
        break;
      }
      rl.setPrompt(session.prompt());
      if (showPrompt) rl.prompt();
    }
  } finally {
    rl.close();
    // Ctrl-D leaves the cursor after the prompt.
    if (terminal && !exited) options.stdout.write("\n");
    if (historyFile !== undefined) await saveHistory(historyFile, history);
  }
}
