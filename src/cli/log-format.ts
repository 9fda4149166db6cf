/**
 * Rendering plog records for people (`talaria log dump`) and for programs (`--json`).
 *
 * Bytes (keys, values) render as UTF-8 text when they are valid UTF-8 with no control, format,
 * private-use or unassigned characters and do not start with "0x"; otherwise as `0x` + lowercase
 * hex. The "0x" rule keeps the two forms apart: a JSON string starting with "0x" is always hex.
 * JSON output is complete; human output is bounded per line by the display limits below (the
 * byte counts it prints, like `value(300B)`, are always the full sizes).
 */

import {
  type DuplicableUpdate,
  type Mutation,
  type Update,
  UpdateKind,
} from "../codec/mutation.ts";
import { decodeMutation } from "../codec/mutation-codec.ts";
import { unreachable } from "../common/assert.ts";
import { isTalariaError } from "../common/errors.ts";
import type { LogRecord } from "../plog/index.ts";

/** Characters of a value shown in human output before it is cut with "…" (hex digits for hex). */
export const DISPLAY_VALUE_CHARS_MAX = 64;
/** Characters of a hash key or sort key shown in human output before it is cut with "…". */
export const DISPLAY_KEY_CHARS_MAX = 128;
/** Items of one list (updates, multi-put pairs, sort keys, duplicate entries) shown per record. */
export const DISPLAY_ITEMS_MAX = 16;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

export type RenderedBytes = { readonly text: string } | { readonly hex: string };

/** Text when `bytes` is printable UTF-8 (and does not start with "0x"), hex otherwise. */
export function classifyBytes(bytes: Uint8Array): RenderedBytes {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { hex: Buffer.from(bytes).toString("hex") };
  }
  if (NOT_PRINTABLE.test(text) || text.startsWith("0x")) {
    return { hex: Buffer.from(bytes).toString("hex") };
  }
  return { text };
}

/** The JSON form: the text itself, or "0x" + hex. */
export function bytesToJson(bytes: Uint8Array): string {
  const rendered = classifyBytes(bytes);
  return "text" in rendered ? rendered.text : `0x${rendered.hex}`;
}

/** The human form: a quoted string or bare 0x-hex, cut with "…" after `charsMax` characters. */
export function bytesToDisplay(bytes: Uint8Array, charsMax: number): string {
  const rendered = classifyBytes(bytes);
  if ("hex" in rendered) {
    const cut = rendered.hex.length > charsMax;
    return `0x${cut ? `${rendered.hex.slice(0, charsMax)}…` : rendered.hex}`;
  }
  const chars = Array.from(rendered.text);
  if (chars.length <= charsMax) return JSON.stringify(rendered.text);
  return `${JSON.stringify(chars.slice(0, charsMax).join(""))}…`;
}

/** ISO 8601 UTC with microseconds: 2026-11-21T14:00:00.000000Z. */
export function formatTimestampUs(timestampUs: number): string {
  const ms = Math.floor(timestampUs / 1000);
  const micros = String(timestampUs - ms * 1000).padStart(3, "0");
  return new Date(ms).toISOString().replace(/Z$/, `${micros}Z`);
}

export function updateKindName(kind: Update["kind"]): string {
  switch (kind) {
    case UpdateKind.PUT:
      return "PUT";
    case UpdateKind.REMOVE:
      return "REMOVE";
    case UpdateKind.MULTI_PUT:
      return "MULTI_PUT";
    case UpdateKind.MULTI_REMOVE:
      return "MULTI_REMOVE";
    case UpdateKind.DUPLICATE:
      return "DUPLICATE";
    case UpdateKind.EMPTY:
      return "EMPTY";
    default:
      return unreachable(kind, "update kind");
  }
}

/** A record's payload decoded, or why it could not be (the error's stable code and message). */
export type DecodedRecord =
  | { readonly decree: number; readonly mutation: Mutation }
  | {
      readonly decree: number;
      readonly payloadBytes: number;
      readonly error: { readonly code: string; readonly message: string };
    };

/** Decodes a plog record's payload; a payload that is not a mutation is reported, not thrown. */
export function decodeRecord(record: LogRecord): DecodedRecord {
  try {
    return { decree: record.decree, mutation: decodeMutation(record.payload) };
  } catch (error) {
    if (!isTalariaError(error)) throw error;
    return {
      decree: record.decree,
      payloadBytes: record.payload.length,
      error: { code: error.code, message: error.message },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// JSON

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function updateToJson(update: Update): Json {
  const kind = updateKindName(update.kind);
  switch (update.kind) {
    case UpdateKind.PUT:
      return {
        kind,
        hashKey: bytesToJson(update.hashKey),
        sortKey: bytesToJson(update.sortKey),
        value: bytesToJson(update.value),
        expireTs: update.expireTs,
      };
    case UpdateKind.REMOVE:
      return { kind, hashKey: bytesToJson(update.hashKey), sortKey: bytesToJson(update.sortKey) };
    case UpdateKind.MULTI_PUT:
      return {
        kind,
        hashKey: bytesToJson(update.hashKey),
        expireTs: update.expireTs,
        kvs: update.kvs.map((kv) => ({
          sortKey: bytesToJson(kv.sortKey),
          value: bytesToJson(kv.value),
        })),
      };
    case UpdateKind.MULTI_REMOVE:
      return {
        kind,
        hashKey: bytesToJson(update.hashKey),
        sortKeys: update.sortKeys.map(bytesToJson),
      };
    case UpdateKind.DUPLICATE:
      return {
        kind,
        ...(update.resync === true ? { resync: true } : {}),
        entries: update.entries.map((entry) => ({
          timestampUs: entry.timestampUs,
          time: formatTimestampUs(entry.timestampUs),
          clusterId: entry.clusterId,
          update: updateToJson(entry.update),
        })),
      };
    case UpdateKind.EMPTY:
      return { kind };
    default:
      return unreachable(update, "update kind");
  }
}

/** One `--json` line (without the newline). */
export function recordToJsonLine(record: DecodedRecord): string {
  if ("error" in record) {
    return JSON.stringify({
      decree: record.decree,
      payloadBytes: record.payloadBytes,
      error: record.error,
    });
  }
  const { mutation } = record;
  return JSON.stringify({
    decree: record.decree,
    ...(mutation.decree === record.decree ? {} : { payloadDecree: mutation.decree }),
    ballot: mutation.ballot,
    timestampUs: mutation.timestampUs,
    time: formatTimestampUs(mutation.timestampUs),
    updates: mutation.updates.map(updateToJson),
  });
}

// ---------------------------------------------------------------------------------------------
// Human

const key = (bytes: Uint8Array) => bytesToDisplay(bytes, DISPLAY_KEY_CHARS_MAX);
const value = (bytes: Uint8Array) =>
  `value(${bytes.length}B)=${bytesToDisplay(bytes, DISPLAY_VALUE_CHARS_MAX)}`;

/** The first DISPLAY_ITEMS_MAX items rendered, then "… N more" if any were left out. */
function boundedList<T>(items: readonly T[], render: (item: T) => string): string {
  const shown = items.slice(0, DISPLAY_ITEMS_MAX).map(render);
  const left = items.length - shown.length;
  return left > 0 ? [...shown, `… ${left} more`].join(", ") : shown.join(", ");
}

function duplicableToText(update: DuplicableUpdate): string {
  switch (update.kind) {
    case UpdateKind.PUT:
      return `PUT h=${key(update.hashKey)} s=${key(update.sortKey)} ${value(update.value)} expireTs=${update.expireTs}`;
    case UpdateKind.REMOVE:
      return `REMOVE h=${key(update.hashKey)} s=${key(update.sortKey)}`;
    case UpdateKind.MULTI_PUT: {
      const kvs = boundedList(update.kvs, (kv) => `s=${key(kv.sortKey)} ${value(kv.value)}`);
      return `MULTI_PUT h=${key(update.hashKey)} expireTs=${update.expireTs} kvs=${update.kvs.length}: ${kvs}`;
    }
    case UpdateKind.MULTI_REMOVE: {
      const sortKeys = boundedList(update.sortKeys, key);
      return `MULTI_REMOVE h=${key(update.hashKey)} sortKeys=${update.sortKeys.length}: ${sortKeys}`;
    }
    default:
      return unreachable(update, "duplicable update kind");
  }
}

/** An update as its first line plus indented continuation lines (DUPLICATE entries). */
function updateToLines(update: Update): string[] {
  switch (update.kind) {
    case UpdateKind.PUT:
    case UpdateKind.REMOVE:
    case UpdateKind.MULTI_PUT:
    case UpdateKind.MULTI_REMOVE:
      return [duplicableToText(update)];
    case UpdateKind.DUPLICATE: {
      const shown = update.entries.slice(0, DISPLAY_ITEMS_MAX).map((entry) => {
        const time = formatTimestampUs(entry.timestampUs);
        return `  cluster=${entry.clusterId} ${time} ${duplicableToText(entry.update)}`;
      });
      const left = update.entries.length - shown.length;
      return [
        `DUPLICATE${update.resync === true ? " resync" : ""} entries=${update.entries.length}`,
        ...shown,
        ...(left > 0 ? [`  … ${left} more entries`] : []),
      ];
    }
    case UpdateKind.EMPTY:
      return ["EMPTY"];
    default:
      return unreachable(update, "update kind");
  }
}

/**
 * A record as human lines: `#12 ballot=1 <time> PUT h="user1" s="name" value(5B)="alice"
 * expireTs=0`. A mutation of several updates prints `updates=N` and one indented line each.
 */
export function recordToLines(record: DecodedRecord): string[] {
  if ("error" in record) {
    return [
      `#${record.decree} undecodable payload(${record.payloadBytes}B): ${record.error.message}`,
    ];
  }
  const { mutation } = record;
  const mismatch = mutation.decree === record.decree ? "" : ` payloadDecree=${mutation.decree}`;
  const head = `#${record.decree}${mismatch} ballot=${mutation.ballot} ${formatTimestampUs(mutation.timestampUs)}`;
  const [only, ...others] = mutation.updates;
  if (only !== undefined && others.length === 0) {
    const [first = "", ...rest] = updateToLines(only);
    return [`${head} ${first}`, ...rest];
  }
  const lines = [`${head} updates=${mutation.updates.length}`];
  for (const update of mutation.updates.slice(0, DISPLAY_ITEMS_MAX)) {
    lines.push(...updateToLines(update).map((line) => `  ${line}`));
  }
  const left = mutation.updates.length - DISPLAY_ITEMS_MAX;
  if (left > 0) lines.push(`  … ${left} more updates`);
  return lines;
}
