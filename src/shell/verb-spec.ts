/**
 * Shell commands are data: a verb spec names the verb, its positional arguments and flags, its
 * help text, a pure `parse` from parsed arguments to a request, and `run`, which performs the
 * request. Help, usage lines, argument checking and tab completion all read the same specs.
 */
import { assert } from "../common/index.ts";
import type { ShellBackend, ShellTable } from "./backend.ts";
import type { PhaseProgressFactory, ProgressFactory } from "./progress.ts";
import type { Token } from "./tokenizer.ts";

export type FlagKind =
  /** Present or not; takes no value. */
  | "switch"
  /** One token, kept as bytes (keys, values, patterns). */
  | "string"
  /** A decimal integer within [min, max]. */
  | "int"
  /** `true` or `false`. */
  | "bool"
  /** One of `values`. */
  | "enum";

export interface FlagSpec {
  /** Long name, Pegasus's spelling (`start_inclusive`); `--start_inclusive` on the command line. */
  readonly name: string;
  /** One-letter alias (`a` for `-a`). */
  readonly short?: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** How the value shows in usage lines (`num`, `str`); derived from the kind when absent. */
  readonly valueName?: string;
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly required?: boolean;
  /** May be given several times (`-e k=v -e k2=v2`). */
  readonly repeatable?: boolean;
}

export interface PositionalSpec {
  readonly name: string;
  readonly optional?: boolean;
  /** Takes every remaining argument; only the last positional may be variadic. */
  readonly variadic?: boolean;
}

export type VerbGroup = "cluster" | "tables" | "data" | "scan" | "envs" | "duplication" | "shell";

export interface VerbResult {
  /** The `result` of the command's JSON document. */
  readonly json: unknown;
  /** Human output, one entry per line. */
  readonly lines: readonly string[];
  /** Set by `exit`: stop reading commands. */
  readonly exit?: boolean;
}

/** What a verb may use while it runs. */
export interface VerbContext {
  readonly backend: ShellBackend;
  /** The current table (`use`); throws a usage error naming the verb when none is selected. */
  table(): { readonly name: string; readonly table: ShellTable };
  /** Selects the current table (`use`). */
  useTable(name: string): void;
  /** Table names seen in answers, for tab completion. */
  rememberTables(names: Iterable<string>, forget?: Iterable<string>): void;
  /** Aborted when the user interrupts the command (Ctrl-C in the REPL). */
  readonly signal: AbortSignal;
  /** A progress bar for long commands; undefined when output is not a terminal or is JSON. */
  readonly progress: ProgressFactory | undefined;
  /** The same over bytes (wait_dup). */
  readonly phaseProgress: PhaseProgressFactory | undefined;
  /** Resolves after `ms`; rejects with InterruptedError once `signal` aborts (polling verbs). */
  sleep(ms: number): Promise<void>;
  /** The verb table, for `help`. */
  readonly verbs: readonly AnyVerbSpec[];
}

export interface VerbSpec<R> {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly group: VerbGroup;
  /** One line for the command list. */
  readonly summary: string;
  /** Further lines for `help <verb>`. */
  readonly details?: readonly string[];
  readonly positionals: readonly PositionalSpec[];
  readonly flags: readonly FlagSpec[];
  /** Whether the verb works on the current table (`use <table>` first). */
  readonly needsTable?: boolean;
  /**
   * Sub-commands (`dup add`, `dup list`): the first argument names one, which parses the rest.
   * Each is a full spec whose name is the whole command (`"dup add"`); the parent's own `parse`
   * and `run` are never called.
   */
  readonly subcommands?: readonly AnyVerbSpec[];
  /** Checks and converts arguments; pure; throws UsageError. */
  parse(args: Args): R;
  run(context: VerbContext, request: R): Promise<VerbResult>;
}

export type AnyVerbSpec = VerbSpec<unknown>;

export function defineVerb<R>(spec: VerbSpec<R>): AnyVerbSpec {
  return spec as AnyVerbSpec;
}

/**
 * Wrong usage of the shell (unknown verb or flag, missing or malformed argument, no table
 * selected): exit code 2, and the REPL keeps going. `verb` names the verb when one was recognized.
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly verb: string | undefined;

  constructor(message: string, verb?: string) {
    super(message);
    this.verb = verb;
  }
}

/** The command stopped because the user interrupted it. */
export class InterruptedError extends Error {
  override readonly name = "InterruptedError";
}

export type FlagValue = true | Token | number | boolean | string;

/** A command's arguments after flag parsing: positional tokens and flag values by long name. */
export class Args {
  readonly verb: string;
  readonly positionals: readonly Token[];
  private readonly flags: ReadonlyMap<string, readonly FlagValue[]>;
  private readonly known: ReadonlySet<string>;

  constructor(
    verb: string,
    positionals: readonly Token[],
    flags: ReadonlyMap<string, readonly FlagValue[]>,
    known: ReadonlySet<string>,
  ) {
    this.verb = verb;
    this.positionals = positionals;
    this.flags = flags;
    this.known = known;
  }

  /** The positional at `index`; the parser has checked the count, so a missing required one is a bug. */
  positional(index: number): Token {
    const token = this.positionals[index];
    assert(token !== undefined, `${this.verb}: positional ${index} was not checked`);
    return token;
  }

  optionalPositional(index: number): Token | undefined {
    return this.positionals[index];
  }

  has(flag: string): boolean {
    return this.values(flag).length > 0;
  }

  token(flag: string): Token | undefined {
    return this.values(flag).at(-1) as Token | undefined;
  }

  tokens(flag: string): Token[] {
    return this.values(flag) as Token[];
  }

  int(flag: string): number | undefined {
    return this.values(flag).at(-1) as number | undefined;
  }

  bool(flag: string): boolean | undefined {
    return this.values(flag).at(-1) as boolean | undefined;
  }

  choice(flag: string): string | undefined {
    return this.values(flag).at(-1) as string | undefined;
  }

  private values(flag: string): readonly FlagValue[] {
    assert(this.known.has(flag), `${this.verb} has no flag ${flag}`);
    return this.flags.get(flag) ?? [];
  }

  /** A usage error about this verb. */
  error(message: string): UsageError {
    return new UsageError(message, this.verb);
  }
}
