/**
 * The client of a checkpoint HTTP bulk path: the follower's of the master's
 * (DUP_CHECKPOINT_HTTP_PATH, the default) and a learner's of its primary's
 * (LEARNER_CHECKPOINT_HTTP_PATH, checkpoint-transfer.ts). One `GET … Range: bytes=<start>-` per
 * file over its own TCP connection — for a follower through the master cluster's
 * `[duplication-proxy]` (HTTP CONNECT, as every other call to that cluster) when one is
 * configured.
 *
 * Why not node:http: its parser copies every body chunk into a fresh Buffer (≈ 64 KiB each), and
 * that copy, its garbage and the stream machinery cost the follower 1.3–2.7 CPU-s per GiB on the
 * bench VM; reading the socket straight into the caller's reused write buffers (`onread`) costs
 * ≈ 0.5 (docs/benchmarks.md, bench:fullsync). The protocol spoken is plain HTTP/1.1: one request,
 * a response head (≤ RESPONSE_HEAD_BYTES_MAX) that must be 206 with exactly the `content-range`
 * and `content-length` asked for (no chunked encoding), then the body, read to its length.
 *
 * Every failure of the transfer — connection, proxy refusal, another status, bad head, stall,
 * early end — rejects with CheckpointHttpError, which the copy reads as "use CHUNK instead",
 * never as data. An abort of the signal rejects with its reason.
 */
import { connect, type Socket } from "node:net";
import { TalariaError } from "../../common/errors.ts";
import { DUP_CHECKPOINT_HTTP_PATH, type Gpid } from "../../protocol/index.ts";
import { formatAddress, type HostPort, parseAddress } from "../../rpc/index.ts";

/** Longest response head (and proxy answer head) read before giving up. */
export const RESPONSE_HEAD_BYTES_MAX = 16 * 1024;

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

/** A failure of the HTTP path itself (not of the local disk): the copy falls back to CHUNK. */
export class CheckpointHttpError extends TalariaError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super("ERR_NETWORK_FAILURE", message, { retriable: true, details, cause });
  }
}

export interface CheckpointHttpOptions {
  /** "host:port" of the HTTP CONNECT proxy to go through; absent: connect directly. */
  readonly connectProxy?: string;
  /** The route GET-ed (same query and Range rules); absent: DUP_CHECKPOINT_HTTP_PATH. */
  readonly path?: string;
}

export interface CheckpointFileRef {
  readonly gpid: Gpid;
  readonly id: string;
  readonly file: string;
  /** The file's size as listed (OPEN, learner FILES). */
  readonly bytes: number;
}

/**
 * Where the body goes: socket reads land in `view()`, then `landed` says how many. `view()` is
 * asked after every `landed` (and before the first read); that view is where the next read lands,
 * even after a stop and `resume()`, so it must stay valid and unread-into until then.
 */
export interface BodySink {
  /** A non-empty view (at least RESPONSE_HEAD_BYTES_MAX long when empty of data). */
  view(): Buffer;
  /** `bytes` landed in the last view; false stops reading until `resume()`. */
  landed(bytes: number): boolean;
}

export interface BodyTransfer {
  /** Resolves once the whole body landed; rejects as described in the header. */
  readonly done: Promise<void>;
  /** Reads again after `landed` returned false. */
  resume(): void;
  /** Stops the transfer; `done` rejects with `error`. */
  destroy(error: unknown): void;
}

interface Head {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
}

function parseHead(text: string): Head | undefined {
  const lines = text.split("\r\n");
  const status = Number(STATUS_LINE.exec(lines[0] ?? "")?.[1]);
  if (Number.isNaN(status)) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (headers.has(name)) return undefined; // a repeated header: ambiguous, refuse
    headers.set(name, line.slice(colon + 1).trim());
  }
  return { status, headers };
}

export class CheckpointHttpClient {
  private readonly proxy: HostPort | undefined;
  private readonly path: string;

  constructor(options: CheckpointHttpOptions = {}) {
    this.proxy =
      options.connectProxy === undefined ? undefined : parseAddress(options.connectProxy);
    this.path = options.path ?? DUP_CHECKPOINT_HTTP_PATH;
  }

  /**
   * GET `ref` from `start` (< ref.bytes) on the HTTP server `address`, body into `sink`.
   * No bytes for `stallMs` (head or body, reading not paused by the sink) fails it.
   */
  get(
    address: string,
    ref: CheckpointFileRef,
    start: number,
    options: { stallMs: number; signal: AbortSignal },
    sink: BodySink,
  ): BodyTransfer {
    const target = parseAddress(address);
    const targetAddress = formatAddress(target.host, target.port);
    const query = new URLSearchParams({
      app_id: String(ref.gpid.appId),
      partition_index: String(ref.gpid.partitionIndex),
      id: ref.id,
      file: ref.file,
    });
    const request =
      `GET ${this.path}?${query.toString()} HTTP/1.1\r\n` +
      `Host: ${targetAddress}\r\nRange: bytes=${start}-\r\nConnection: close\r\n\r\n`;
    const details = { address, file: ref.file, start };
    const expectedRange = `bytes ${start}-${ref.bytes - 1}/${ref.bytes}`;
    const bodyBytes = ref.bytes - start;

    let phase: "tunnel" | "head" | "body" | "over" = this.proxy === undefined ? "head" : "tunnel";
    const head = Buffer.allocUnsafe(RESPONSE_HEAD_BYTES_MAX);
    let headFilled = 0;
    let received = 0;
    let socket: Socket | undefined;
    let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });

    const finish = (error?: unknown) => {
      if (phase === "over") return;
      phase = "over";
      options.signal.removeEventListener("abort", onAbort);
      socket?.destroy();
      if (error === undefined) settle?.resolve();
      else settle?.reject(error);
    };
    const fail = (reason: string, extra: Record<string, unknown> = {}, cause?: unknown) =>
      finish(
        new CheckpointHttpError(
          `HTTP GET of ${ref.file} from ${address}: ${reason}`,
          { ...details, ...extra },
          cause,
        ),
      );
    const onAbort = () => finish(options.signal.reason);

    /**
     * Hands the body bytes that came with the head to the sink, all of them (fewer than a head:
     * the sink's buffers are larger); false when the sink asked to stop reading.
     */
    const deliver = (bytes: Buffer): boolean => {
      let goOn = true;
      let offset = 0;
      while (offset < bytes.length && phase === "body") {
        const n = bytes.copy(sink.view(), 0, offset);
        offset += n;
        goOn = bodyLanded(n) && goOn;
      }
      return goOn && phase === "body";
    };

    const bodyLanded = (n: number): boolean => {
      received += n;
      if (received > bodyBytes) {
        fail("body longer than the file");
        return false;
      }
      const goOn = sink.landed(n);
      if (received === bodyBytes) finish();
      // The stall clock does not run while the sink holds reading.
      if (!goOn) socket?.setTimeout(0);
      return goOn && phase === "body";
    };

    /** A complete head is in `head[0, end)`; what follows it is `rest`. */
    const onHead = (text: string, rest: Buffer): boolean => {
      const parsed = parseHead(text);
      if (phase === "tunnel") {
        if (parsed === undefined || parsed.status < 200 || parsed.status >= 300) {
          fail(`proxy refused the tunnel (${text.split("\r\n")[0]?.slice(0, 80)})`);
          return false;
        }
        phase = "head";
        socket?.write(request);
        headFilled = rest.copy(head, 0);
        return scanHead();
      }
      if (parsed === undefined) {
        fail("malformed response head");
        return false;
      }
      const h = parsed.headers;
      const problem =
        parsed.status !== 206
          ? `status ${parsed.status}`
          : h.get("content-range") !== expectedRange
            ? `content-range ${h.get("content-range")}, expected ${expectedRange}`
            : h.get("content-length") !== String(bodyBytes)
              ? `content-length ${h.get("content-length")}, expected ${bodyBytes}`
              : h.has("transfer-encoding")
                ? `transfer-encoding ${h.get("transfer-encoding")}`
                : undefined;
      if (problem !== undefined) {
        fail(problem, { status: parsed.status });
        return false;
      }
      phase = "body";
      return deliver(rest);
    };

    /** Looks for the end of the head in `head[0, headFilled)`. */
    const scanHead = (): boolean => {
      const end = head.subarray(0, headFilled).indexOf("\r\n\r\n");
      if (end < 0) {
        if (headFilled >= head.length) fail("response head too long");
        return phase !== "over";
      }
      const text = head.subarray(0, end).toString("latin1");
      // `rest` may be overwritten by the next head read: onHead copies what it keeps.
      return onHead(text, Buffer.from(head.subarray(end + 4, headFilled)));
    };

    if (options.signal.aborted) {
      finish(options.signal.reason);
    } else {
      options.signal.addEventListener("abort", onAbort, { once: true });
      const via = this.proxy ?? target;
      const s = connect({
        host: via.host,
        port: via.port,
        onread: {
          // Asked right after each callback: the view the NEXT read lands in, kept while reading
          // is stopped (so the sink must not move it before that read).
          buffer: () =>
            phase === "body"
              ? sink.view()
              : headFilled < head.length
                ? head.subarray(headFilled)
                : head,
          callback: (n: number) => {
            if (phase === "body") return bodyLanded(n);
            if (phase === "over") return false;
            headFilled += n;
            return scanHead();
          },
        },
      });
      socket = s;
      s.setNoDelay(true);
      s.setTimeout(options.stallMs);
      s.on("timeout", () => fail(`no bytes for ${options.stallMs} ms`));
      s.on("connect", () => {
        s.write(
          phase === "tunnel"
            ? `CONNECT ${targetAddress} HTTP/1.1\r\nHost: ${targetAddress}\r\n\r\n`
            : request,
        );
      });
      s.on("error", (error) => fail(error.message, {}, error));
      s.on("close", () => fail("connection closed early", { received }));
    }

    return {
      done,
      resume: () => {
        if (phase !== "body") return;
        socket?.setTimeout(options.stallMs);
        socket?.resume();
      },
      destroy: (error) => finish(error),
    };
  }

  /** Nothing pooled: each GET has its own connection. */
  close(): void {}
}
