/**
 * Tab completion (pure): the word under the cursor, completed from the verb table — verb names
 * first, then a sub-command (`dup add`), the verb's flags, a flag's values (check types, filter
 * types, true|false) and table names for the verbs that take one. Works on the text after the
 * last `;`.
 */
import type { AnyVerbSpec } from "./verb-spec.ts";

/** Verbs whose first argument is a table name. */
const TABLE_VERBS = new Set([
  "use",
  "app",
  "drop",
  "add_dup",
  "query_dup",
  "start_dup",
  "pause_dup",
  "remove_dup",
  "set_dup_fail_mode",
  "resync_dup",
  "dup_dead_letters",
  "replay_dead_letters",
]);

export interface CompletionSource {
  readonly verbs: readonly AnyVerbSpec[];
  readonly tables: readonly string[];
}

/** readline's completer result: candidates and the text they replace. */
export type Completion = [string[], string];

function findVerb(verbs: readonly AnyVerbSpec[], name: string): AnyVerbSpec | undefined {
  return verbs.find((v) => v.name === name || (v.aliases ?? []).includes(name));
}

/** Sub-command words and aliases (`add`, `ls` of `dup add`, `dup list`). */
function subNames(subs: readonly AnyVerbSpec[]): string[] {
  return subs.flatMap((s) => [s.name.slice(s.name.lastIndexOf(" ") + 1), ...(s.aliases ?? [])]);
}

function matching(candidates: readonly string[], word: string): string[] {
  return [...new Set(candidates.filter((c) => c.startsWith(word)))].sort();
}

export function complete(line: string, source: CompletionSource): Completion {
  const command = line.slice(line.lastIndexOf(";") + 1);
  const words = command.trimStart().split(/\s+/);
  const word = words.at(-1) ?? "";
  const before = words.slice(0, -1);
  const verbName = before[0];
  const allNames = source.verbs.flatMap((v) => [v.name, ...(v.aliases ?? [])]);
  if (verbName === undefined) return [matching(allNames, word), word];
  if (verbName === "help") {
    if (before.length === 1) return [matching(allNames, word), word];
    const subs = findVerb(source.verbs, before[1] ?? "")?.subcommands;
    return [before.length === 2 && subs !== undefined ? matching(subNames(subs), word) : [], word];
  }
  let verb = findVerb(source.verbs, verbName);
  if (verb?.subcommands !== undefined) {
    if (before.length === 1) return [matching(subNames(verb.subcommands), word), word];
    verb = verb.subcommands.find((s) => subNames([s]).includes(before[1] ?? ""));
  }
  if (verb === undefined) return [[], word];
  const previous = before.at(-1) ?? "";
  const flag = verb.flags.find((f) => previous === `--${f.name}` || previous === `-${f.short}`);
  if (flag !== undefined && before.length > 1) {
    if (flag.kind === "bool") return [matching(["true", "false"], word), word];
    if (flag.kind === "enum") return [matching(flag.values ?? [], word), word];
    if (flag.name === "sort_key_filter_type")
      return [matching(["anywhere", "prefix", "postfix"], word), word];
    if (flag.kind !== "switch") return [[], word];
  }
  if (word.startsWith("-")) {
    const names = verb.flags.flatMap((f) =>
      word.startsWith("--") || f.short === undefined
        ? [`--${f.name}`]
        : [`-${f.short}`, `--${f.name}`],
    );
    return [matching(names, word), word];
  }
  if (TABLE_VERBS.has(verb.name) && before.length === 1)
    return [matching(source.tables, word), word];
  return [[], word];
}
