/**
 * One accepted connection: handshake, then requests dispatched to handlers and answered by id.
 *
 * Invariants:
 * - The first frame must be a HELLO with our magic and a version we speak (PROTOCOL_VERSION_MIN
 *   to PROTOCOL_VERSION); anything else closes the connection (a wrong version is answered with a
 *   REJECT naming both first). The WELCOME repeats the client's version, which then holds.
 * - A NOTIFY (version 2 on) goes to its method's handler and is never answered: not even an
 *   unknown method or a failed handler, which are only counted and logged at debug. It does not
 *   count against inflightPerConnectionMax and has no deadline of its own.
 * - Every request gets at most one answer. It gets exactly one unless its handler throws
 *   DropRequest or the connection closes first.
 * - A request counts against inflightPerConnectionMax from arrival until it is answered, dropped
 *   or its deadline passes. At the deadline it is answered ERR_TIMEOUT and its signal aborted; a
 *   handler's later result is discarded. (We answer rather than drop so every outcome is visible
 *   to the caller and to metrics; a reply after the caller gave up costs a few bytes and is ignored.)
 */
import type { Socket } from "node:net";
import type { Clock } from "../common/clock.ts";
import { isTalariaError, TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { formatAddress } from "./address.ts";
import { FrameSocket } from "./frame-socket.ts";
import type { RequestContext, RpcHandler } from "./handler.ts";
import { DropRequest, internalWireError, toWireError } from "./remote-error.ts";
import { type RpcMetrics, UNKNOWN_METHOD_LABEL } from "./rpc-metrics.ts";
import {
  NOTIFY_VERSION_MIN,
  type NotifyMessage,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_MIN,
  type RequestMessage,
  type WireError,
  type WireMessage,
} from "./wire.ts";

export interface ServerShared {
  readonly name: string;
  readonly handlers: ReadonlyMap<string, RpcHandler>;
  readonly frameBytesMax: number;
  readonly inflightPerConnectionMax: number;
  readonly handshakeTimeoutMs: number;
  readonly writeBufferBytesMax: number;
  readonly log: Logger;
  readonly metrics: RpcMetrics | undefined;
  readonly clock: Clock;
}

/** A request between arrival and answer. */
class InflightRequest implements RequestContext {
  readonly remoteAddress: string;
  readonly clientName: string;
  readonly method: string;
  readonly deadlineMs: number;
  readonly id: number;
  readonly timeoutMs: number;
  /** performance.now() at arrival and at the deadline: monotonic, unlike deadlineMs. */
  readonly startedAt = performance.now();
  readonly expiresAt: number;
  timer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;

  constructor(
    id: number,
    method: string,
    timeoutMs: number,
    nowMs: number,
    connection: ServerConnection,
  ) {
    this.id = id;
    this.method = method;
    this.timeoutMs = timeoutMs;
    this.deadlineMs = nowMs + timeoutMs;
    this.expiresAt = this.startedAt + timeoutMs;
    this.remoteAddress = connection.remoteAddress;
    this.clientName = connection.clientName;
  }

  /** Made on first use: most handlers never look at it, and an AbortController is not free. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** Where a NOTIFY's handler looks for a deadline: none is set, so it is far away. */
const NOTIFY_DEADLINE_MS = 2 ** 31 - 1;
/** The signal of every NOTIFY: a message nobody waits for is never cancelled. */
const NEVER_ABORTED = new AbortController().signal;

type Outcome =
  | { readonly payload: unknown }
  | { readonly error: WireError; readonly cause?: unknown };

export class ServerConnection {
  readonly remoteAddress: string;
  clientName = "";
  /** Resolves when the socket is gone. */
  readonly closed: Promise<void>;
  private readonly shared: ServerShared;
  private readonly frames: FrameSocket;
  private state: "handshake" | "open" | "closing" = "handshake";
  /** The protocol version of this connection (the client's, once the HELLO is accepted). */
  private version = PROTOCOL_VERSION_MIN;
  private readonly inflight = new Set<InflightRequest>();
  private handshakeTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, shared: ServerShared) {
    this.shared = shared;
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    let resolveClosed: () => void = () => {};
    this.closed = new Promise((resolve) => {
      resolveClosed = resolve;
    });
    this.frames = new FrameSocket(
      socket,
      this.remoteAddress,
      {
        side: "server",
        frameBytesMax: shared.frameBytesMax,
        log: shared.log,
        metrics: shared.metrics,
      },
      {
        onMessage: (message) => this.onMessage(message),
        onClose: (reason) => {
          this.onClose(reason);
          resolveClosed();
        },
      },
    );
    this.handshakeTimer = setTimeout(() => {
      this.frames.reject(
        "handshake_timeout",
        `no HELLO within handshakeTimeoutMs = ${shared.handshakeTimeoutMs}`,
      );
    }, shared.handshakeTimeoutMs);
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  close(reason: string): Promise<void> {
    this.frames.destroy(reason);
    return this.closed;
  }

  private onMessage(message: WireMessage): void {
    if (this.state === "closing") return;
    if (this.state === "handshake") {
      this.onHandshake(message);
      return;
    }
    if (message.kind === "notify" && this.version >= NOTIFY_VERSION_MIN) {
      this.onNotify(message);
      return;
    }
    if (message.kind !== "request") {
      this.frames.reject(
        "unexpected_kind",
        `a client may not send ${message.kind} (protocol version ${this.version})`,
      );
      return;
    }
    this.onRequest(message);
  }

  private onHandshake(message: WireMessage): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    if (message.kind !== "hello" || message.magic !== PROTOCOL_MAGIC) {
      this.frames.reject("handshake", `expected HELLO with magic ${PROTOCOL_MAGIC}`);
      return;
    }
    this.clientName = message.name;
    if (message.version < PROTOCOL_VERSION_MIN || message.version > PROTOCOL_VERSION) {
      const text = `protocol version ${message.version} is not supported; this server speaks ${PROTOCOL_VERSION_MIN} to ${PROTOCOL_VERSION}`;
      this.shared.log.warn(
        { remoteAddress: this.remoteAddress, clientName: message.name, reason: "handshake" },
        `rpc handshake rejected: ${text}`,
      );
      this.shared.metrics?.frameRejected("server", "handshake");
      this.state = "closing";
      this.frames.send({ kind: "reject", code: "ERR_HANDLER_NOT_FOUND", message: text });
      this.frames.end(`handshake rejected: ${text}`);
      return;
    }
    this.state = "open";
    this.version = message.version;
    this.frames.send({ kind: "welcome", version: message.version, name: this.shared.name });
  }

  /** A one-way message: its handler runs, its outcome is counted, nothing is sent back. */
  private onNotify(message: NotifyMessage): void {
    const { method } = message;
    const handler = this.shared.handlers.get(method);
    const startedAt = performance.now();
    const done = (code: string): void => {
      this.shared.metrics?.serverRequestDone(
        handler === undefined ? UNKNOWN_METHOD_LABEL : method,
        code,
        (performance.now() - startedAt) / 1e3,
      );
    };
    if (handler === undefined) {
      this.shared.log.debug(
        { method, remoteAddress: this.remoteAddress },
        "rpc notification for an unknown method ignored",
      );
      done("ERR_HANDLER_NOT_FOUND");
      return;
    }
    const context: RequestContext = {
      remoteAddress: this.remoteAddress,
      clientName: this.clientName,
      method,
      deadlineMs: this.shared.clock.nowMs() + NOTIFY_DEADLINE_MS,
      signal: NEVER_ABORTED,
    };
    invoke(handler, message.payload, context).then(
      () => done("OK"),
      (error: unknown) => {
        const outcome = failureOutcome(error);
        if (outcome !== "drop" && "cause" in outcome) {
          this.shared.log.error(
            { err: outcome.cause, method, remoteAddress: this.remoteAddress },
            "rpc handler failed with an error that is not a TalariaError",
          );
        } else {
          this.shared.log.debug(
            { err: error, method, remoteAddress: this.remoteAddress },
            "rpc notification failed",
          );
        }
        done(outcome === "drop" ? "DROPPED" : "error" in outcome ? outcome.error.code : "OK");
      },
    );
  }

  private onRequest(message: RequestMessage): void {
    const { id, method, timeoutMs } = message;
    const handler = this.shared.handlers.get(method);
    const label = handler === undefined ? UNKNOWN_METHOD_LABEL : method;
    const startedAt = performance.now();
    if (handler === undefined) {
      this.answerEarly(id, label, startedAt, {
        code: "ERR_HANDLER_NOT_FOUND",
        message: `no handler for method "${method}"`,
        details: { method },
      });
      return;
    }
    if (timeoutMs === 0) {
      this.answerEarly(id, label, startedAt, timeoutError(method, timeoutMs));
      return;
    }
    const max = this.shared.inflightPerConnectionMax;
    if (this.inflight.size >= max) {
      this.answerEarly(id, label, startedAt, {
        code: "ERR_BUSY",
        message: `${this.inflight.size} requests in flight on this connection`,
        details: { limit: "inflightPerConnectionMax", max },
        retriable: true,
      });
      return;
    }
    const request = new InflightRequest(id, method, timeoutMs, this.shared.clock.nowMs(), this);
    this.inflight.add(request);
    request.timer = setTimeout(() => this.expire(request), timeoutMs);
    invoke(handler, message.payload, request).then(
      (payload) => this.finish(request, { payload }),
      (error: unknown) => this.finish(request, failureOutcome(error)),
    );
  }

  /** Answers a request that never reached its handler. */
  private answerEarly(id: number, label: string, startedAt: number, error: WireError): void {
    this.send(id, label, { error });
    this.shared.metrics?.serverRequestDone(
      label,
      error.code,
      (performance.now() - startedAt) / 1e3,
    );
  }

  private finish(request: InflightRequest, outcome: Outcome | "drop"): void {
    if (!this.inflight.delete(request)) return;
    clearTimeout(request.timer);
    const { method } = request;
    let code = "DROPPED";
    if (outcome !== "drop" && !("error" in outcome && outcome.error.code === "ERR_TIMEOUT")) {
      // Finished after the deadline but before the timer ran: the caller has stopped waiting.
      if (performance.now() > request.expiresAt) {
        outcome = { error: timeoutError(method, request.timeoutMs) };
      }
    }
    if (outcome !== "drop") {
      if ("cause" in outcome) {
        this.shared.log.error(
          { err: outcome.cause, method, remoteAddress: this.remoteAddress },
          "rpc handler failed with an error that is not a TalariaError",
        );
      }
      code = this.send(request.id, method, outcome);
    }
    const { metrics } = this.shared;
    if (metrics !== undefined) {
      metrics.serverRequestDone(method, code, (performance.now() - request.startedAt) / 1e3);
    }
  }

  private expire(request: InflightRequest): void {
    const error = timeoutError(request.method, request.timeoutMs);
    request.abort(new TalariaError("ERR_TIMEOUT", error.message, { details: error.details }));
    this.finish(request, { error });
  }

  /** Sends an answer; returns the outcome code actually sent. */
  private send(id: number, method: string, outcome: Outcome): string {
    if (this.frames.isClosed) return "ERR_NETWORK_FAILURE";
    if (this.frames.unsentBytes > this.shared.writeBufferBytesMax) {
      this.frames.reject(
        "slow_consumer",
        `over writeBufferBytesMax = ${this.shared.writeBufferBytesMax} bytes unread by the peer`,
      );
      return "ERR_NETWORK_FAILURE";
    }
    if ("payload" in outcome) {
      try {
        this.frames.send({ kind: "reply", id, payload: outcome.payload });
        return "OK";
      } catch (error) {
        // Too big (ERR_LIMIT_EXCEEDED, passed on) or not encodable (a bug: internal error).
        this.shared.log.error(
          { err: error, method, remoteAddress: this.remoteAddress },
          "rpc reply could not be sent",
        );
        const wire = isTalariaError(error) ? toWireError(error) : internalWireError();
        return this.send(id, method, { error: wire });
      }
    }
    try {
      this.frames.send({ kind: "failure", id, error: outcome.error });
    } catch {
      // Details that cannot be encoded (or are too big) are not worth losing the answer over.
      this.frames.send({ kind: "failure", id, error: { ...outcome.error, details: {} } });
    }
    return outcome.error.code;
  }

  private onClose(reason: string): void {
    clearTimeout(this.handshakeTimer);
    this.state = "closing";
    const error = new TalariaError("ERR_NETWORK_FAILURE", `connection closed: ${reason}`);
    for (const request of this.inflight) {
      clearTimeout(request.timer);
      request.abort(error);
      const seconds = (performance.now() - request.startedAt) / 1e3;
      this.shared.metrics?.serverRequestDone(request.method, "ERR_NETWORK_FAILURE", seconds);
    }
    this.inflight.clear();
  }
}

/** Runs a handler; a synchronous throw becomes a rejection like an asynchronous one. */
function invoke(handler: RpcHandler, payload: unknown, context: RequestContext): Promise<unknown> {
  try {
    return Promise.resolve(handler(payload, context));
  } catch (error) {
    return Promise.reject(error);
  }
}

function timeoutError(method: string, timeoutMs: number): WireError {
  return {
    code: "ERR_TIMEOUT",
    message: `deadline of ${timeoutMs} ms passed before "${method}" was answered`,
    details: { method, timeoutMs },
    retriable: true,
  };
}

function failureOutcome(error: unknown): Outcome | "drop" {
  if (error instanceof DropRequest) return "drop";
  if (isTalariaError(error)) return { error: toWireError(error) };
  return { error: internalWireError(), cause: error };
}
