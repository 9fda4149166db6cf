/**
 * The verb table: every shell command, plus `help` and `exit`, which read the table itself.
 * `parseCommand` turns one tokenized command into its verb and checked request, without I/O.
 */
import { flagSynopsis, parseArgs, usageLine } from "./args.ts";
import { formatPairs } from "./render.ts";
import { suggest } from "./suggest.ts";
import type { Token } from "./tokenizer.ts";
import { type AnyVerbSpec, defineVerb, UsageError, type VerbGroup } from "./verb-spec.ts";
import { clusterVerbs } from "./verbs-cluster.ts";
import { dataVerbs } from "./verbs-data.ts";
import { deadLetterVerbs } from "./verbs-dead-letters.ts";
import { dupVerbs } from "./verbs-dup.ts";
import { dupAdminVerbs } from "./verbs-dup-admin.ts";
import { dupsVerbs } from "./verbs-dups.ts";
import { envVerbs } from "./verbs-envs.ts";
import { scanVerbs } from "./verbs-scan.ts";

const GROUP_TITLES: Readonly<Record<VerbGroup, string>> = {
  cluster: "cluster",
  tables: "tables",
  data: "data (on the current table)",
  scan: "scans (on the current table)",
  envs: "app envs (on the current table)",
  duplication: "duplication",
  shell: "shell",
};

const INPUT_NOTES = [
  'Arguments are UTF-8 text; quote with "..." (escapes \\xHH \\n \\t \\" \\\\) or \'...\' (literal).',
  "Keys and values print as text when printable, else as 0x-hex. Separate commands with ;.",
];

function named(verbs: readonly AnyVerbSpec[], name: string): AnyVerbSpec | undefined {
  return verbs.find((v) => v.name === name || (v.aliases ?? []).includes(name));
}

/** The last word of a sub-command's name (`add` of `dup add`). */
function lastWord(name: string): string {
  return name.slice(name.lastIndexOf(" ") + 1);
}

/** A verb by name or alias; `"dup add"` (also `"dup ls"`) names a sub-command. */
function findVerb(name: string): AnyVerbSpec | undefined {
  const [first = "", ...rest] = name.split(" ");
  let verb = named(allVerbs, first);
  for (const word of rest) verb = findSubcommand(verb?.subcommands ?? [], word);
  return verb;
}

function findSubcommand(subs: readonly AnyVerbSpec[], word: string): AnyVerbSpec | undefined {
  return subs.find((s) => lastWord(s.name) === word || (s.aliases ?? []).includes(word));
}

function unknownVerb(name: string): UsageError {
  const hint = suggest(
    name,
    allVerbs.flatMap((v) => [v.name, ...(v.aliases ?? [])]),
  );
  return new UsageError(
    `unknown command "${name}"${hint === undefined ? "" : `; did you mean "${hint}"?`} (help lists the commands)`,
  );
}

function subcommandNames(spec: AnyVerbSpec): string[] {
  return (spec.subcommands ?? []).flatMap((s) => [lastWord(s.name), ...(s.aliases ?? [])]);
}

function unknownSubcommand(spec: AnyVerbSpec, word: string): UsageError {
  const names = (spec.subcommands ?? []).map((s) => lastWord(s.name));
  const hint = suggest(word, subcommandNames(spec));
  return new UsageError(
    `unknown sub-command "${word}"${hint === undefined ? "" : `; did you mean "${hint}"?`} (one of ${names.join(", ")})`,
    spec.name,
  );
}

function verbHelp(spec: AnyVerbSpec): string[] {
  const lines = [`usage: ${usageLine(spec)}`, spec.summary, ...(spec.details ?? [])];
  if (spec.subcommands !== undefined) {
    lines.push(
      "sub-commands (help <command> <sub-command> for its flags):",
      ...spec.subcommands.map((s) => `  ${usageLine(s)}`),
    );
  }
  if (spec.needsTable) lines.push("Works on the current table: run use <app_name> first.");
  if (spec.aliases !== undefined) lines.push(`aliases: ${spec.aliases.join(", ")}`);
  if (spec.flags.length > 0) {
    lines.push(
      "flags:",
      ...formatPairs(spec.flags.map((f) => [flagSynopsis(f), f.help])).map((l) => `  ${l}`),
    );
  }
  return lines;
}

function verbJson(spec: AnyVerbSpec): unknown {
  return {
    name: spec.name,
    aliases: spec.aliases ?? [],
    usage: usageLine(spec),
    summary: spec.summary,
    details: spec.details ?? [],
    needsTable: spec.needsTable === true,
    ...(spec.subcommands === undefined
      ? {}
      : { subcommands: spec.subcommands.map((s) => ({ name: s.name, usage: usageLine(s) })) }),
    flags: spec.flags.map((f) => ({
      name: f.name,
      ...(f.short === undefined ? {} : { short: f.short }),
      kind: f.kind,
      ...(f.values === undefined ? {} : { values: f.values }),
      required: f.required === true,
      repeatable: f.repeatable === true,
      help: f.help,
    })),
  };
}

const help = defineVerb<{ verb: AnyVerbSpec | undefined }>({
  name: "help",
  group: "shell",
  summary: "list the commands, or describe one (help <command> [sub-command])",
  positionals: [
    { name: "command", optional: true },
    { name: "sub-command", optional: true },
  ],
  flags: [],
  parse(args) {
    const name = args.optionalPositional(0)?.text;
    if (name === undefined) return { verb: undefined };
    const verb = findVerb(name);
    if (verb === undefined) throw unknownVerb(name);
    const sub = args.optionalPositional(1)?.text;
    if (sub === undefined) return { verb };
    if (verb.subcommands === undefined) throw args.error(`${verb.name} has no sub-commands`);
    const subVerb = findSubcommand(verb.subcommands, sub);
    if (subVerb === undefined) throw unknownSubcommand(verb, sub);
    return { verb: subVerb };
  },
  async run(context, request) {
    if (request.verb !== undefined)
      return { json: verbJson(request.verb), lines: verbHelp(request.verb) };
    const lines = ["Commands (help <command> for its flags):"];
    const width = Math.max(...context.verbs.map((v) => v.name.length));
    for (const [group, title] of Object.entries(GROUP_TITLES)) {
      lines.push(title);
      for (const verb of context.verbs.filter((v) => v.group === group))
        lines.push(`  ${verb.name.padEnd(width)}  ${verb.summary}`);
    }
    lines.push("", ...INPUT_NOTES);
    return {
      json: {
        verbs: context.verbs.map((v) => ({
          name: v.name,
          usage: usageLine(v),
          summary: v.summary,
        })),
      },
      lines,
    };
  },
});

const exit = defineVerb<null>({
  name: "exit",
  aliases: ["quit"],
  group: "shell",
  summary: "leave the shell",
  positionals: [],
  flags: [],
  parse: () => null,
  run: async () => ({ json: {}, lines: [], exit: true }),
});

export const allVerbs: readonly AnyVerbSpec[] = [
  ...clusterVerbs,
  ...dataVerbs,
  ...scanVerbs,
  ...envVerbs,
  ...dupVerbs,
  ...dupsVerbs,
  ...dupAdminVerbs,
  ...deadLetterVerbs,
  help,
  exit,
];

/** Every verb and sub-command spec (`dup add` next to `dup`), for checks over all of them. */
export function everyVerbSpec(): AnyVerbSpec[] {
  return allVerbs.flatMap((v) => [v, ...(v.subcommands ?? [])]);
}

export interface ParsedCommand {
  readonly verb: AnyVerbSpec;
  readonly request: unknown;
}

/**
 * The verb of `tokens` and its checked request; throws UsageError. For a verb with sub-commands
 * the verb is the sub-command's spec (`dup add`).
 */
export function parseCommand(tokens: readonly Token[]): ParsedCommand {
  const [first, ...rest] = tokens;
  if (first === undefined) throw new UsageError("empty command");
  let verb = findVerb(first.text);
  if (verb === undefined) throw unknownVerb(first.text);
  let args = rest;
  if (verb.subcommands !== undefined) {
    const [word, ...subArgs] = rest;
    if (word === undefined || word.quoted || word.text.startsWith("-"))
      throw new UsageError(
        `missing <sub-command> (one of ${verb.subcommands.map((s) => lastWord(s.name)).join(", ")})`,
        verb.name,
      );
    const sub = findSubcommand(verb.subcommands, word.text);
    if (sub === undefined) throw unknownSubcommand(verb, word.text);
    verb = sub;
    args = subArgs;
  }
  return { verb, request: verb.parse(parseArgs(verb, args)) };
}

/** Verb names and aliases, for completion. */
export function verbNames(): string[] {
  return allVerbs.flatMap((v) => [v.name, ...(v.aliases ?? [])]);
}

export { findVerb, usageLine };
