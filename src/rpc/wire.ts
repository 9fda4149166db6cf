/**
 * The RPC wire format (protocol version 2). docs/rpc.md describes it for other implementations.
 *
 *   frame   = u32be bodyBytes ‖ body          bodyBytes ≤ frameBytesMax (16 MiB by default)
 *   body    = one MessagePack array (plain msgpack: no record extension), first element = kind
 *
 *   kind 0 HELLO     client → server, first frame   [0, magic "TALARIA", protocolVersion, clientName]
 *   kind 1 WELCOME   server → client                [1, protocolVersion, serverName]
 *   kind 2 REJECT    server → client, then close    [2, code, message]
 *   kind 3 REQUEST   client → server                [3, id, method, payload, timeoutMs]
 *   kind 4 REPLY     server → client, success       [4, id, payload]
 *   kind 5 FAILURE   server → client, error         [5, id, { code, message, details, retriable }]
 *   kind 6 NOTIFY    client → server, no answer     [6, method, payload]        (version 2 on)
 *
 * - Versions: a server speaks every version from PROTOCOL_VERSION_MIN to PROTOCOL_VERSION and
 *   answers a HELLO with the client's version; that version holds for the connection. Version 2
 *   adds NOTIFY: a one-way message the server hands to the method's handler and never answers
 *   (replica-to-replica messages, which their sender resends when it matters).
 * - `id` is a u32 chosen by the client, unique among its calls in flight on that connection; a
 *   reply echoes it. Replies may arrive in any order.
 * - `timeoutMs` is the caller's remaining budget when the request was written (a relative time, so
 *   the two clocks need not agree). The server's deadline is arrival + timeoutMs; 0 means already
 *   expired.
 * - `payload` is any msgpack value. Byte strings decode as Buffer (bin), 64-bit integers (int64 /
 *   uint64) decode as bigint and a bigint always encodes as int64/uint64, so bigints round-trip;
 *   other numbers stay numbers. `undefined` uses msgpackr's fixext 0 — other languages should use
 *   nil instead.
 * - `code` is a stable Talaria error code (docs/errors.md); a peer with a newer catalogue may send
 *   codes this build does not know (see remote-error.ts).
 *
 * Decoding never throws on a peer's bytes: decodeMessage returns a rejection reason instead.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from "msgpackr";

/** The newest protocol version this build speaks (and sends in its HELLO). */
export const PROTOCOL_VERSION = 2;
/** The oldest protocol version this build's servers still accept. */
export const PROTOCOL_VERSION_MIN = 1;
/** The first version with NOTIFY. */
export const NOTIFY_VERSION_MIN = 2;
/** First element of a HELLO: tells a Talaria peer from anything else that connects. */
export const PROTOCOL_MAGIC = "TALARIA";
/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** Largest u32 (ids and timeoutMs are u32). */
const U32_MAX = 0xffff_ffff;

export const MessageKind = {
  hello: 0,
  welcome: 1,
  reject: 2,
  request: 3,
  reply: 4,
  failure: 5,
  notify: 6,
} as const;

export interface HelloMessage {
  readonly kind: "hello";
  readonly magic: string;
  readonly version: number;
  readonly name: string;
}
export interface WelcomeMessage {
  readonly kind: "welcome";
  readonly version: number;
  readonly name: string;
}
export interface RejectMessage {
  readonly kind: "reject";
  readonly code: string;
  readonly message: string;
}
export interface RequestMessage {
  readonly kind: "request";
  readonly id: number;
  readonly method: string;
  readonly payload: unknown;
  readonly timeoutMs: number;
}
export interface ReplyMessage {
  readonly kind: "reply";
  readonly id: number;
  readonly payload: unknown;
}
export interface NotifyMessage {
  readonly kind: "notify";
  readonly method: string;
  readonly payload: unknown;
}
/** The error object of a FAILURE; `code` is a string because the peer's catalogue may be newer. */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly retriable?: boolean;
}
export interface FailureMessage {
  readonly kind: "failure";
  readonly id: number;
  readonly error: WireError;
}

export type WireMessage =
  | HelloMessage
  | WelcomeMessage
  | RejectMessage
  | RequestMessage
  | ReplyMessage
  | FailureMessage
  | NotifyMessage;

/** Why a frame was refused; also the `reason` label of the frames-rejected metric. */
export type FrameRejectReason =
  | "oversized"
  | "bad_msgpack"
  | "bad_shape"
  | "unknown_kind"
  | "unexpected_kind"
  | "handshake"
  | "handshake_timeout"
  | "slow_consumer";

export interface DecodeRejection {
  readonly kind: "rejected";
  readonly reason: FrameRejectReason;
  readonly detail: string;
}

// Objects encode as map16 or map32 (not variableMapSize: measured ~1.5x slower to pack), which any
// msgpack decoder reads; an object with more than 65,535 keys cannot be encoded.
const packr = new Packr({ useRecords: false });
/**
 * Byte strings decode either as views of the received bytes (no copy; a view kept alive pins the
 * whole socket read it arrived in, up to 64 KiB) or as copies (about a quarter more CPU per round
 * trip with a few Buffers each way, in a noisy in-process measurement). Servers take views: handlers are ours and keep payloads only
 * for the request. Clients take copies: replies go to applications that may cache them.
 */
const viewUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: false });
const copyUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/**
 * Encodes one message as a whole frame, header included (msgpackr leaves room for the header, so
 * there is no second buffer). Throws whatever msgpackr throws for an unencodable value (a bigint
 * wider than 64 bits, an object with more than 65,535 keys); the caller maps that to an error.
 */
export function encodeFrame(message: WireMessage): Buffer {
  const frame = packr.pack(toTuple(message), RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

function toTuple(message: WireMessage): unknown[] {
  switch (message.kind) {
    case "hello":
      return [MessageKind.hello, message.magic, message.version, message.name];
    case "welcome":
      return [MessageKind.welcome, message.version, message.name];
    case "reject":
      return [MessageKind.reject, message.code, message.message];
    case "request":
      return [MessageKind.request, message.id, message.method, message.payload, message.timeoutMs];
    case "reply":
      return [MessageKind.reply, message.id, message.payload];
    case "notify":
      return [MessageKind.notify, message.method, message.payload];
    case "failure": {
      const { code, message: text, details, retriable } = message.error;
      const error: Record<string, unknown> = { code, message: text, details };
      if (retriable !== undefined) error.retriable = retriable;
      return [MessageKind.failure, message.id, error];
    }
  }
}

/**
 * Decodes one frame body. Never throws: bad bytes give a rejection naming what was wrong. With
 * `copyBuffers` false, Buffers in the message are views of `body`.
 */
export function decodeMessage(body: Buffer, copyBuffers = true): WireMessage | DecodeRejection {
  let value: unknown;
  try {
    value = (copyBuffers ? copyUnpackr : viewUnpackr).unpack(body);
  } catch (error) {
    return rejected("bad_msgpack", error instanceof Error ? error.message : String(error));
  }
  if (!Array.isArray(value) || value.length === 0) {
    return rejected("bad_shape", "body is not a non-empty array");
  }
  const t: unknown[] = value;
  switch (t[0]) {
    case MessageKind.hello: {
      const version = u32(t[2]);
      if (t.length !== 4 || !isString(t[1]) || version === undefined || !isString(t[3])) {
        return rejected("bad_shape", "HELLO must be [0, magic, version, name]");
      }
      return { kind: "hello", magic: t[1], version, name: t[3] };
    }
    case MessageKind.welcome: {
      const version = u32(t[1]);
      if (t.length !== 3 || version === undefined || !isString(t[2])) {
        return rejected("bad_shape", "WELCOME must be [1, version, name]");
      }
      return { kind: "welcome", version, name: t[2] };
    }
    case MessageKind.reject:
      if (t.length !== 3 || !isString(t[1]) || !isString(t[2])) {
        return rejected("bad_shape", "REJECT must be [2, code, message]");
      }
      return { kind: "reject", code: t[1], message: t[2] };
    case MessageKind.request: {
      const id = u32(t[1]);
      const timeoutMs = u32(t[4]);
      if (t.length !== 5 || id === undefined || !isString(t[2]) || timeoutMs === undefined) {
        return rejected("bad_shape", "REQUEST must be [3, id, method, payload, timeoutMs]");
      }
      return { kind: "request", id, method: t[2], payload: t[3], timeoutMs };
    }
    case MessageKind.reply: {
      const id = u32(t[1]);
      if (t.length !== 3 || id === undefined) {
        return rejected("bad_shape", "REPLY must be [4, id, payload]");
      }
      return { kind: "reply", id, payload: t[2] };
    }
    case MessageKind.failure: {
      const id = u32(t[1]);
      const error = parseWireError(t[2]);
      if (t.length !== 3 || id === undefined || error === undefined) {
        return rejected("bad_shape", "FAILURE must be [5, id, { code, message, details? }]");
      }
      return { kind: "failure", id, error };
    }
    case MessageKind.notify:
      if (t.length !== 3 || !isString(t[1])) {
        return rejected("bad_shape", "NOTIFY must be [6, method, payload]");
      }
      return { kind: "notify", method: t[1], payload: t[2] };
    default:
      return rejected("unknown_kind", `unknown message kind ${describe(t[0])}`);
  }
}

function parseWireError(value: unknown): WireError | undefined {
  if (!isPlainObject(value)) return undefined;
  const { code, message, details, retriable } = value;
  if (!isString(code) || !isString(message)) return undefined;
  if (details !== undefined && details !== null && !isPlainObject(details)) return undefined;
  if (retriable !== undefined && typeof retriable !== "boolean") return undefined;
  const error = { code, message, details: isPlainObject(details) ? details : {} };
  return retriable === undefined ? error : { ...error, retriable };
}

function rejected(reason: FrameRejectReason, detail: string): DecodeRejection {
  return { kind: "rejected", reason, detail };
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

/** A u32 as a number; other encoders may send small integers as (u)int64, which decode as bigint. */
function u32(value: unknown): number | undefined {
  if (typeof value === "bigint")
    return value >= 0n && value <= BigInt(U32_MAX) ? Number(value) : undefined;
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= U32_MAX
    ? value
    : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  return typeof value === "number" ? String(value) : typeof value;
}
