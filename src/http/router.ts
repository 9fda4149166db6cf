/**
 * HTTP routes as data: each route names its path, what it returns and its handler. The server,
 * the docs table and tests all read the same list. Handlers get the parsed query and answer a
 * value (JSON) or text (Prometheus); errors become JSON `{ code, message }` with a fitting status.
 */
import { type ErrorCode, isTalariaError } from "../common/errors.ts";

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The `Range` header, when sent (only file bodies read it). */
  readonly range?: string | undefined;
}

/**
 * A file streamed from disk (the server reads it; the router only checks the range): from the
 * `Range: bytes=<start>-` start (206) or whole (200); a start at or past `bytes` is 416.
 */
export interface FileBody {
  readonly kind: "file";
  readonly path: string;
  /** The file's size as listed (what is served; the file must hold at least this much). */
  readonly bytes: number;
  /** Called once the response ended, with the bytes sent (fewer when the client went away). */
  readonly onSent?: (bytes: number) => void;
}

export type HttpBody =
  | { readonly kind: "json"; readonly value: unknown }
  | { readonly kind: "text"; readonly contentType: string; readonly text: string }
  | FileBody;

/** Bytes [start, end) of a FileBody's file. */
export interface FileSlice {
  readonly path: string;
  readonly start: number;
  readonly end: number;
  readonly onSent?: (bytes: number) => void;
}

export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Streamed as the body instead of `body`. */
  readonly file?: FileSlice;
}

export interface Route {
  readonly path: string;
  /** One line for docs/http.md and the index page. */
  readonly description: string;
  readonly handler: (query: URLSearchParams, request: HttpRequest) => Promise<HttpBody>;
}

/** `bytes=<start>-`: one open-ended range, the only form served (resume from an offset). */
const OPEN_RANGE = /^bytes=(\d{1,15})-$/;

/** The response for a file body: 200 whole, 206 from the range's start, 416 a bad range. */
function fileResponse(body: FileBody, range: string | undefined): HttpResponse {
  let start = 0;
  if (range !== undefined) {
    const match = OPEN_RANGE.exec(range.trim());
    start = match?.[1] === undefined ? -1 : Number(match[1]);
    if (start < 0 || start >= body.bytes) {
      return {
        ...jsonResponse(416, {
          code: "ERR_INVALID_PARAMETERS",
          message: `range ${JSON.stringify(range.slice(0, 64))} is not bytes=<start>- inside the file (${body.bytes} bytes)`,
        }),
        headers: { "content-range": `bytes */${body.bytes}` },
      };
    }
  }
  const slice: FileSlice = {
    path: body.path,
    start,
    end: body.bytes,
    ...(body.onSent === undefined ? {} : { onSent: body.onSent }),
  };
  return {
    status: range === undefined ? 200 : 206,
    contentType: "application/octet-stream",
    body: "",
    headers: {
      "accept-ranges": "bytes",
      "content-length": String(body.bytes - start),
      ...(range === undefined
        ? {}
        : { "content-range": `bytes ${start}-${body.bytes - 1}/${body.bytes}` }),
    },
    file: slice,
  };
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  ERR_INVALID_PARAMETERS: 400,
  ERR_APP_NOT_EXIST: 404,
  ERR_OBJECT_NOT_FOUND: 404,
  ERR_OPERATION_DISABLED: 404,
  ERR_NOT_LEADER: 503,
  ERR_BUSY: 503,
};

export function json(value: unknown): HttpBody {
  return { kind: "json", value };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000e-\u001f]/;

/** Bytes as text when they are printable UTF-8, else as `0x…` hex (the CLI's convention). */
export function renderBytes(bytes: Buffer): string {
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes) && !CONTROL.test(text) && !text.startsWith("0x")
    ? text
    : `0x${bytes.toString("hex")}`;
}

/** Serializes what handlers return: Buffers via renderBytes, bigints as strings. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (
    value !== null &&
    typeof value === "object" &&
    (value as { type?: unknown }).type === "Buffer" &&
    Array.isArray((value as { data?: unknown }).data)
  ) {
    return renderBytes(Buffer.from((value as { data: number[] }).data));
  }
  return value;
}

function jsonResponse(status: number, value: unknown): HttpResponse {
  return {
    status,
    contentType: "application/json; charset=utf-8",
    body: `${JSON.stringify(value, replacer, 2)}\n`,
  };
}

export class Router {
  readonly routes: readonly Route[];

  constructor(routes: readonly Route[]) {
    this.routes = routes;
  }

  /** Answers one request; never throws. */
  async handle(request: HttpRequest): Promise<HttpResponse> {
    if (request.method !== "GET")
      return jsonResponse(405, { code: "ERR_INVALID_PARAMETERS", message: "only GET is served" });
    if (request.path === "/") {
      return jsonResponse(200, {
        routes: this.routes.map((r) => ({ path: r.path, description: r.description })),
      });
    }
    const route = this.routes.find((r) => r.path === request.path);
    if (route === undefined)
      return jsonResponse(404, {
        code: "ERR_OBJECT_NOT_FOUND",
        message: `no route ${request.path}`,
      });
    try {
      const body = await route.handler(request.query, request);
      if (body.kind === "file") return fileResponse(body, request.range);
      if (body.kind === "text")
        return { status: 200, contentType: body.contentType, body: body.text };
      return jsonResponse(200, body.value);
    } catch (error) {
      if (isTalariaError(error)) {
        return jsonResponse(STATUS_BY_CODE[error.code] ?? 500, {
          code: error.code,
          message: error.message,
          details: error.details,
        });
      }
      return jsonResponse(500, { code: "ERR_INVALID_STATE", message: "internal error" });
    }
  }
}
