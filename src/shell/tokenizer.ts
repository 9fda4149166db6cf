/**
 * Splits shell input into commands and each command into tokens. Keys and values are bytes, so a
 * token is bytes first: text as UTF-8, plus escapes for anything else.
 *
 *  - Whitespace separates tokens; `;` and newlines separate commands.
 *  - `"..."` quotes with escapes; `'...'` quotes literally (no escapes, like a POSIX shell).
 *    Quoted and unquoted parts join into one token (`a"b c"` is `ab c`); `""` is the empty token.
 *  - Escapes, in and out of double quotes: `\xHH` (one byte), `\n`, `\r`, `\t`, `\0`, `\\`,
 *    `\"`, `\'`, and outside quotes also `\ `, `\;` and `\-`.
 *  - A token with any quoting or escape is `quoted`: it is never taken for a flag, so `"-a"` is a
 *    value.
 * Invariant: a line that does not tokenize (unterminated quote, unknown escape) yields no command,
 * so nothing of a half-understood line runs.
 */

export interface Token {
  /** The token's bytes: what keys and values are made of. */
  readonly bytes: Buffer;
  /** The bytes as UTF-8 (lossy for invalid UTF-8): verbs, flags, numbers, names. */
  readonly text: string;
  /** Whether any part was quoted or escaped. */
  readonly quoted: boolean;
}

export class TokenizeError extends Error {
  override readonly name = "TokenizeError";
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  "0": 0x00,
  "\\": 0x5c,
  '"': 0x22,
  "'": 0x27,
};
/** Escapes that only mean something outside quotes (inside they are literal anyway). */
const BARE_ESCAPES: Readonly<Record<string, number>> = { " ": 0x20, ";": 0x3b, "-": 0x2d };

const HEX_BYTE = /^[0-9a-fA-F]{2}$/;

export function tokenFromText(text: string, quoted = false): Token {
  return { bytes: Buffer.from(text, "utf8"), text, quoted };
}

class TokenBuilder {
  private readonly parts: Buffer[] = [];
  private started = false;
  private quoted = false;

  text(chars: string): void {
    this.parts.push(Buffer.from(chars, "utf8"));
    this.started = true;
  }

  byte(value: number): void {
    this.parts.push(Buffer.of(value));
    this.started = true;
    this.quoted = true;
  }

  markQuoted(): void {
    this.started = true;
    this.quoted = true;
  }

  /** The finished token, or undefined when nothing (not even `""`) was read. */
  take(): Token | undefined {
    if (!this.started) return undefined;
    const bytes = Buffer.concat(this.parts);
    const token = { bytes, text: bytes.toString("utf8"), quoted: this.quoted };
    this.parts.length = 0;
    this.started = false;
    this.quoted = false;
    return token;
  }
}

/** Reads the escape starting at `input[at]` (just after the backslash); returns its byte. */
function readEscape(input: string, at: number, bare: boolean): { byte: number; length: number } {
  const c = input[at];
  if (c === undefined) throw new TokenizeError("a backslash ends the input");
  if (c === "x") {
    const hex = input.slice(at + 1, at + 3);
    if (!HEX_BYTE.test(hex))
      throw new TokenizeError(`\\x must be followed by two hex digits, got "\\x${hex}"`);
    return { byte: Number.parseInt(hex, 16), length: 3 };
  }
  const simple = SIMPLE_ESCAPES[c] ?? (bare ? BARE_ESCAPES[c] : undefined);
  if (simple === undefined) throw new TokenizeError(`unknown escape "\\${c}"`);
  return { byte: simple, length: 1 };
}

/** The whole code point at `i` (two UTF-16 units for a surrogate pair), so UTF-8 stays whole. */
function codePointAt(input: string, i: number): string {
  return String.fromCodePoint(input.codePointAt(i) ?? 0);
}

/**
 * Splits `input` into commands of tokens; empty commands are dropped. Throws TokenizeError on an
 * unterminated quote or an unknown escape.
 */
export function tokenize(input: string): Token[][] {
  const commands: Token[][] = [];
  let command: Token[] = [];
  const token = new TokenBuilder();
  const endToken = () => {
    const done = token.take();
    if (done !== undefined) command.push(done);
  };
  const endCommand = () => {
    endToken();
    if (command.length > 0) commands.push(command);
    command = [];
  };
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (c === "\n" || c === ";") {
      endCommand();
      i++;
    } else if (/\s/.test(c)) {
      endToken();
      i++;
    } else if (c === "\\") {
      const escaped = readEscape(input, i + 1, true);
      token.byte(escaped.byte);
      i += 1 + escaped.length;
    } else if (c === "'") {
      const close = input.indexOf("'", i + 1);
      if (close < 0) throw new TokenizeError("unterminated ' quote");
      token.markQuoted();
      token.text(input.slice(i + 1, close));
      i = close + 1;
    } else if (c === '"') {
      token.markQuoted();
      i++;
      for (;;) {
        const d = input[i];
        if (d === undefined) throw new TokenizeError('unterminated " quote');
        if (d === '"') {
          i++;
          break;
        }
        if (d === "\\") {
          const escaped = readEscape(input, i + 1, false);
          token.byte(escaped.byte);
          i += 1 + escaped.length;
        } else {
          const chars = codePointAt(input, i);
          token.text(chars);
          i += chars.length;
        }
      }
    } else {
      const chars = codePointAt(input, i);
      token.text(chars);
      i += chars.length;
    }
  }
  endCommand();
  return commands;
}

/** Characters that make a text need quotes to come back as one token. */
const NEEDS_QUOTES = /[\s"'\\;]/;

/** `text` as the tokenizer would read it back: bare when safe, else double-quoted with escapes. */
export function quoteText(text: string): string {
  if (text.length > 0 && !NEEDS_QUOTES.test(text)) return text;
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}
