/**
 * The REPL's command history: a text file, one command per line, oldest first (like a shell's
 * history file), bounded to HISTORY_LINES_MAX lines. A history that cannot be read or written is
 * not an error: the shell works without it.
 */
import { readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

/** Commands kept in the history file and in memory. */
export const HISTORY_LINES_MAX = 1000;
export const HISTORY_FILE_NAME = ".talaria_history";

/** TALARIA_HISTORY, else ~/.talaria_history. */
export function historyPath(env: Readonly<Record<string, string | undefined>>): string {
  const override = env.TALARIA_HISTORY;
  return override !== undefined && override !== "" ? override : join(homedir(), HISTORY_FILE_NAME);
}

/** The stored commands, newest first (readline's order); empty when there is no file. */
export async function loadHistory(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .slice(-HISTORY_LINES_MAX)
    .reverse();
}

/** Stores `newestFirst` (readline's order), keeping the last HISTORY_LINES_MAX; false on failure. */
export async function saveHistory(path: string, newestFirst: readonly string[]): Promise<boolean> {
  const lines = newestFirst.slice(0, HISTORY_LINES_MAX).reverse();
  try {
    await writeFile(path, lines.length === 0 ? "" : `${lines.join("\n")}\n`, { mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}
