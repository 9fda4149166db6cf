/**
 * One shell session: the current table, the verb table and where output goes. `runInput` runs a
 * line or script of commands in order and stops at the first one that does not succeed; the
 * caller (REPL or one-shot mode) decides what an error means for it.
 *
 * Output: a succeeding command prints its human lines, or under --json exactly one JSON document
 * per command on one line: `{"command":…,"ok":true,"result":…}`. A failing command prints, under
 * --json, `{"command":…,"ok":false,"error":{"code":…,"message":…}}`; the `error: …` line for
 * stderr comes from `errorLine`.
 */
import type { Writable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { isTalariaError, type TalariaError } from "../common/index.ts";
import { usageLine } from "./args.ts";
import type { ShellBackend } from "./backend.ts";
import type { PhaseProgressFactory, ProgressFactory } from "./progress.ts";
import { type Token, TokenizeError, tokenize } from "./tokenizer.ts";
import {
  type AnyVerbSpec,
  InterruptedError,
  UsageError,
  type VerbContext,
  type VerbResult,
} from "./verb-spec.ts";
import { allVerbs, findVerb, parseCommand } from "./verbs.ts";

/** Stable code of usage errors in JSON documents. */
export const USAGE_ERROR_CODE = "ERR_INVALID_PARAMETERS";
/** Table names remembered for completion. */
export const KNOWN_TABLES_MAX = 1000;

export type CommandOutcome =
  | { readonly kind: "ok" }
  | { readonly kind: "exit" }
  | { readonly kind: "usage"; readonly error: UsageError }
  | { readonly kind: "failed"; readonly error: TalariaError }
  | { readonly kind: "interrupted" };

export interface ShellSessionOptions {
  readonly backend: ShellBackend;
  readonly stdout: Writable;
  readonly json: boolean;
  /** The cluster's name in the prompt (`-c`), or its first meta server. */
  readonly clusterLabel: string;
  readonly progress?: ProgressFactory;
  readonly phaseProgress?: PhaseProgressFactory;
  /** How polling verbs wait (tests step time through it); default: a timer. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A timer that ends early with InterruptedError when `signal` aborts. */
async function timerSleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal.aborted) throw new InterruptedError("interrupted");
    throw error;
  }
}

/** The one-line error for stderr: `error: CODE: message`, or the usage error with the usage line. */
export function errorLine(outcome: CommandOutcome): string | undefined {
  switch (outcome.kind) {
    case "ok":
    case "exit":
      return undefined;
    case "interrupted":
      return "interrupted";
    case "failed":
      return `error: ${outcome.error.message}`;
    case "usage":
      return `error: ${usageMessage(outcome.error)}`;
  }
}

function usageMessage(error: UsageError): string {
  const verb = error.verb === undefined ? undefined : findVerb(error.verb);
  return verb === undefined
    ? error.message
    : `${verb.name}: ${error.message} (usage: ${usageLine(verb)})`;
}

export class ShellSession {
  private readonly options: ShellSessionOptions;
  private currentTable: string | undefined;
  private readonly knownTables = new Set<string>();

  constructor(options: ShellSessionOptions) {
    this.options = options;
  }

  get table(): string | undefined {
    return this.currentTable;
  }

  get verbs(): readonly AnyVerbSpec[] {
    return allVerbs;
  }

  tableNames(): string[] {
    return [...this.knownTables].sort();
  }

  prompt(): string {
    const table = this.currentTable === undefined ? "" : `[${this.currentTable}]`;
    return `talaria(${this.options.clusterLabel})${table}> `;
  }

  /**
   * Runs the commands of `input` (separated by `;` or newlines) in order; stops at the first that
   * does not succeed, and at `exit`. Resolves to that command's outcome, else ok.
   */
  async runInput(
    input: string,
    signal: AbortSignal = new AbortController().signal,
  ): Promise<CommandOutcome> {
    let commands: Token[][];
    try {
      commands = tokenize(input);
    } catch (error) {
      if (!(error instanceof TokenizeError)) throw error;
      return this.fail("", { kind: "usage", error: new UsageError(error.message) });
    }
    for (const tokens of commands) {
      const outcome = await this.runCommand(tokens, signal);
      if (outcome.kind !== "ok") return outcome;
    }
    return { kind: "ok" };
  }

  private async runCommand(tokens: readonly Token[], signal: AbortSignal): Promise<CommandOutcome> {
    const name = tokens[0]?.text ?? "";
    // The verb's name once parsed: sub-commands are named in full (`dup add`).
    let command = findVerb(name)?.name ?? name;
    let result: VerbResult;
    try {
      const { verb, request } = parseCommand(tokens);
      command = verb.name;
      const context = this.context(verb, signal);
      // Fails before any call when the verb needs a table and none is selected.
      if (verb.needsTable) context.table();
      result = await verb.run(context, request);
    } catch (error) {
      if (error instanceof UsageError)
        return this.fail(error.verb ?? command, { kind: "usage", error });
      if (isTalariaError(error)) return this.fail(command, { kind: "failed", error });
      if (error instanceof InterruptedError) return { kind: "interrupted" };
      throw error;
    }
    await this.print(
      this.options.json
        ? [JSON.stringify({ command, ok: true, result: result.json }, jsonReplacer)]
        : result.lines,
    );
    return result.exit === true ? { kind: "exit" } : { kind: "ok" };
  }

  /** `name`: the command as the JSON document names it. */
  private async fail(
    name: string,
    outcome: CommandOutcome & { kind: "usage" | "failed" },
  ): Promise<CommandOutcome> {
    if (this.options.json) {
      const error =
        outcome.kind === "failed"
          ? {
              code: outcome.error.code,
              message: outcome.error.message,
              details: outcome.error.details,
            }
          : { code: USAGE_ERROR_CODE, message: usageMessage(outcome.error) };
      await this.print([JSON.stringify({ command: name, ok: false, error }, jsonReplacer)]);
    }
    return outcome;
  }

  private context(verb: AnyVerbSpec, signal: AbortSignal): VerbContext {
    const { backend } = this.options;
    return {
      backend,
      signal,
      progress: this.options.json ? undefined : this.options.progress,
      phaseProgress: this.options.json ? undefined : this.options.phaseProgress,
      sleep: (ms) => (this.options.sleep ?? timerSleep)(ms, signal),
      verbs: allVerbs,
      table: () => {
        if (this.currentTable === undefined)
          throw new UsageError("no table selected; run use <app_name> first", verb.name);
        return { name: this.currentTable, table: backend.table(this.currentTable) };
      },
      useTable: (name) => {
        this.currentTable = name;
      },
      rememberTables: (names, forget = []) => {
        for (const name of forget) this.knownTables.delete(name);
        for (const name of names) {
          if (this.knownTables.size >= KNOWN_TABLES_MAX) break;
          this.knownTables.add(name);
        }
      },
    };
  }

  private async print(lines: readonly string[]): Promise<void> {
    const { stdout } = this.options;
    for (const line of lines) {
      if (!stdout.write(`${line}\n`)) await new Promise((resolve) => stdout.once("drain", resolve));
    }
  }
}

/** Error details may hold Buffers (a check value) and bigints. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (
    value !== null &&
    typeof value === "object" &&
    (value as { type?: unknown }).type === "Buffer" &&
    Array.isArray((value as { data?: unknown }).data)
  ) {
    return `0x${Buffer.from((value as { data: number[] }).data).toString("hex")}`;
  }
  return value;
}
