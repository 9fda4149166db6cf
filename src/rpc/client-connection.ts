/**
 * One client connection to one address: connect, handshake, then calls matched to replies by id.
 *
 * Invariants:
 * - Every call settles exactly once: with the reply, the peer's error, ERR_TIMEOUT when its
 *   deadline passes (the id is forgotten, so a late reply is ignored), ERR_BUSY / ERR_LIMIT_EXCEEDED
 *   / ERR_INVALID_PARAMETERS before sending, or ERR_NETWORK_FAILURE when the connection is lost
 *   first.
 * - Calls made before the handshake completes wait in `pending` unsent and are written when the
 *   WELCOME arrives, with the time they have left; the connect timeout bounds that wait.
 * - A one-way message (notify) is a NOTIFY frame once the server has answered the HELLO with a
 *   version that has it; before that it is an ordinary call whose answer nobody waits for. It is
 *   never queued: one that cannot be written now (connection closed, too much unsent, not
 *   encodable) is dropped, counted and logged at debug — its sender resends what matters.
 * - Once closed, a connection is never reused; the pool opens a new one on the next call.
 * - A connection on which `silentTimeoutsBeforeClose` sent calls in a row time out while nothing
 *   at all arrives is closed (ERR_NETWORK_FAILURE for the calls still on it): a cut link can
 *   keep a dead TCP connection looking open for minutes.
 * - Through a `connectProxy`, nothing is written to the socket before the proxy opened the tunnel;
 *   the connect timeout covers the tunnel too.
 */
import { connect, type Socket } from "node:net";
import { type ErrorCode, isTalariaError, TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { HostPort } from "./address.ts";
import { FrameSocket } from "./frame-socket.ts";
import { openHttpTunnel } from "./http-tunnel.ts";
import { fromWireError } from "./remote-error.ts";
import type { RpcMetrics } from "./rpc-metrics.ts";
import {
  NOTIFY_VERSION_MIN,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_MIN,
  type WireMessage,
} from "./wire.ts";

export interface ClientShared {
  readonly name: string;
  readonly frameBytesMax: number;
  readonly pendingCallsPerConnectionMax: number;
  readonly connectTimeoutMs: number;
  readonly writeBufferBytesMax: number;
  readonly silentTimeoutsBeforeClose: number;
  /** HTTP CONNECT proxy every connection goes through (undefined: connect directly). */
  readonly connectProxy: HostPort | undefined;
  readonly log: Logger;
  readonly metrics: RpcMetrics | undefined;
}

interface PendingCall {
  readonly id: number;
  readonly method: string;
  readonly payload: unknown;
  readonly timeoutMs: number;
  readonly startedAt: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: TalariaError) => void;
  timer: NodeJS.Timeout | undefined;
  sent: boolean;
}

const ID_MAX = 0xffff_ffff;

export class ClientConnection {
  readonly address: string;
  /** Resolves when the socket is gone. */
  readonly closed: Promise<void>;
  private readonly shared: ClientShared;
  /** Undefined while the tunnel through `connectProxy` is being opened. */
  private frames: FrameSocket | undefined;
  private opening: AbortController | undefined;
  private resolveClosed: () => void = () => {};
  private state: "connecting" | "ready" | "closed" = "connecting";
  /** The protocol version the server's WELCOME named (0 before it). */
  private version = 0;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  /** performance.now() when the last message arrived (or the connection was made). */
  private lastHeardAt = performance.now();
  /** Sent calls in a row that timed out with nothing heard since they were sent. */
  private silentTimeouts = 0;
  /** Why the connection is closing when we know better than the socket (e.g. a REJECT). */
  private failure: TalariaError | undefined;

  constructor(address: string, target: HostPort, shared: ClientShared) {
    this.address = address;
    this.shared = shared;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.connectTimer = setTimeout(() => {
      this.destroy(`no handshake within connectTimeoutMs = ${shared.connectTimeoutMs}`);
    }, shared.connectTimeoutMs);
    const proxy = shared.connectProxy;
    if (proxy === undefined) {
      this.attach(connect({ host: target.host, port: target.port }));
      return;
    }
    const opening = new AbortController();
    this.opening = opening;
    openHttpTunnel(proxy, target, opening.signal).then(
      (socket) => {
        this.opening = undefined;
        if (opening.signal.aborted) {
          socket.destroy();
          this.tunnelFailed(String(opening.signal.reason), undefined);
          return;
        }
        this.attach(socket);
        socket.resume();
      },
      (error: unknown) => {
        this.opening = undefined;
        this.tunnelFailed(error instanceof Error ? error.message : String(error), error);
      },
    );
  }

  /** Speaks the protocol on `socket`: the HELLO is queued now, written once it connects. */
  private attach(socket: Socket): void {
    this.frames = new FrameSocket(
      socket,
      this.address,
      {
        side: "client",
        frameBytesMax: this.shared.frameBytesMax,
        log: this.shared.log,
        metrics: this.shared.metrics,
      },
      {
        onMessage: (message) => this.onMessage(message),
        onClose: (reason, error) => {
          this.onClose(reason, error);
          this.resolveClosed();
        },
      },
    );
    this.frames.send({
      kind: "hello",
      magic: PROTOCOL_MAGIC,
      version: PROTOCOL_VERSION,
      name: this.shared.name,
    });
  }

  /** The proxy did not open the tunnel (or the connection was closed first). */
  private tunnelFailed(reason: string, error: unknown): void {
    if (isTalariaError(error)) this.failure ??= error;
    this.onClose(reason, error instanceof Error ? error : undefined);
    this.resolveClosed();
  }

  /** Closes now: the socket, or the tunnel still being opened. */
  private destroy(reason: string): void {
    if (this.frames !== undefined) this.frames.destroy(reason);
    else this.opening?.abort(reason);
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  call(method: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const startedAt = performance.now();
    const max = this.shared.pendingCallsPerConnectionMax;
    if (this.pending.size >= max) {
      return this.refuse(method, startedAt, "ERR_BUSY", `${this.pending.size} calls pending`, {
        limit: "pendingCallsPerConnectionMax",
        max,
      });
    }
    const unsent = this.frames?.unsentBytes ?? 0;
    if (unsent > this.shared.writeBufferBytesMax) {
      return this.refuse(method, startedAt, "ERR_BUSY", `${unsent} bytes not yet sent`, {
        limit: "writeBufferBytesMax",
        max: this.shared.writeBufferBytesMax,
      });
    }
    return new Promise<unknown>((resolve, reject) => {
      const call: PendingCall = {
        id: this.allocateId(),
        method,
        payload,
        timeoutMs,
        startedAt,
        resolve,
        reject,
        timer: undefined,
        sent: false,
      };
      this.pending.set(call.id, call);
      call.timer = setTimeout(() => this.onCallTimeout(call), timeoutMs);
      if (this.state === "ready") this.sendCall(call, timeoutMs);
    });
  }

  /** Sends a one-way message (see the invariants); never throws. */
  notify(method: string, payload: unknown, timeoutMs: number): void {
    if (this.state !== "ready" || this.version < NOTIFY_VERSION_MIN) {
      this.call(method, payload, timeoutMs).catch((error: unknown) =>
        this.shared.log.debug(
          { err: error, address: this.address, method },
          "rpc notification (sent as a call) failed",
        ),
      );
      return;
    }
    const unsent = this.frames?.unsentBytes ?? 0;
    if (this.frames === undefined || unsent > this.shared.writeBufferBytesMax) {
      this.dropNotification(method, "ERR_BUSY", `${unsent} bytes not yet sent`);
      return;
    }
    try {
      this.frames.send({ kind: "notify", method, payload });
    } catch (error) {
      const code = isTalariaError(error) ? error.code : "ERR_INVALID_PARAMETERS";
      this.dropNotification(method, code, error instanceof Error ? error.message : String(error));
      return;
    }
    this.shared.metrics?.clientNotified(method, "OK");
  }

  close(reason: string): Promise<void> {
    this.destroy(reason);
    return this.closed;
  }

  private dropNotification(method: string, code: ErrorCode, reason: string): void {
    this.shared.metrics?.clientNotified(method, code);
    this.shared.log.debug(
      { address: this.address, method, code, reason },
      "rpc notification dropped",
    );
  }

  private allocateId(): number {
    // At most pendingCallsPerConnectionMax ids are in use, so this loop ends quickly.
    do {
      this.nextId = this.nextId === ID_MAX ? 0 : this.nextId + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  /** Writes a call's request; `timeoutMs` is the time it has left. */
  private sendCall(call: PendingCall, timeoutMs: number): void {
    if (timeoutMs <= 0) {
      this.settle(call, this.timeoutError(call));
      return;
    }
    try {
      // Ready means the handshake is done, so the socket is there.
      this.frames?.send({
        kind: "request",
        id: call.id,
        method: call.method,
        payload: call.payload,
        timeoutMs,
      });
      call.sent = true;
    } catch (error) {
      const failure = isTalariaError(error)
        ? error
        : new TalariaError(
            "ERR_INVALID_PARAMETERS",
            `payload of "${call.method}" cannot be encoded`,
            {
              details: { method: call.method },
              cause: error,
            },
          );
      this.settle(call, failure);
    }
  }

  private settle(call: PendingCall, outcome: TalariaError | { readonly payload: unknown }): void {
    if (this.pending.get(call.id) !== call) return;
    this.pending.delete(call.id);
    clearTimeout(call.timer);
    const failed = outcome instanceof TalariaError;
    const { metrics } = this.shared;
    if (metrics !== undefined) {
      const seconds = (performance.now() - call.startedAt) / 1e3;
      metrics.clientCallDone(call.method, failed ? outcome.code : "OK", seconds);
    }
    if (failed) call.reject(outcome);
    else call.resolve(outcome.payload);
  }

  private refuse(
    method: string,
    startedAt: number,
    code: ErrorCode,
    message: string,
    details: Record<string, unknown>,
  ): Promise<never> {
    const seconds = (performance.now() - startedAt) / 1e3;
    this.shared.metrics?.clientCallDone(method, code, seconds);
    return Promise.reject(
      new TalariaError(code, `${message} to ${this.address}`, {
        details: { ...details, address: this.address },
      }),
    );
  }

  private onCallTimeout(call: PendingCall): void {
    this.settle(call, this.timeoutError(call));
    if (this.state !== "ready" || !call.sent || this.lastHeardAt > call.startedAt) return;
    this.silentTimeouts++;
    const limit = this.shared.silentTimeoutsBeforeClose;
    if (this.silentTimeouts < limit) return;
    this.shared.log.warn(
      { address: this.address, silentTimeouts: this.silentTimeouts },
      "rpc connection closed: calls time out and nothing arrives on it",
    );
    this.destroy(`${this.silentTimeouts} calls in a row timed out with nothing received`);
  }

  private timeoutError(call: PendingCall): TalariaError {
    return new TalariaError(
      "ERR_TIMEOUT",
      `"${call.method}" to ${this.address} got no answer within ${call.timeoutMs} ms`,
      { details: { method: call.method, address: this.address, timeoutMs: call.timeoutMs } },
    );
  }

  private onMessage(message: WireMessage): void {
    this.lastHeardAt = performance.now();
    this.silentTimeouts = 0;
    switch (message.kind) {
      case "welcome":
        if (this.state !== "connecting") break;
        if (message.version < PROTOCOL_VERSION_MIN || message.version > PROTOCOL_VERSION) {
          this.frames?.reject("handshake", `server answered protocol version ${message.version}`);
          return;
        }
        clearTimeout(this.connectTimer);
        this.state = "ready";
        this.version = message.version;
        this.shared.log.debug({ address: this.address, server: message.name }, "rpc connected");
        for (const call of this.pending.values()) {
          if (!call.sent) {
            this.sendCall(call, Math.ceil(call.startedAt + call.timeoutMs - performance.now()));
          }
        }
        return;
      case "reject":
        if (this.state !== "connecting") break;
        this.failure = fromWireError(
          { code: message.code, message: message.message, details: {} },
          this.address,
        );
        this.shared.log.warn(
          { address: this.address, code: message.code, reason: message.message },
          "rpc handshake rejected by server",
        );
        this.frames?.destroy(`handshake rejected: ${message.message}`);
        return;
      case "reply":
      case "failure": {
        if (this.state !== "ready") break;
        const call = this.pending.get(message.id);
        // Unknown id: a reply to a call that already timed out.
        if (call === undefined) return;
        this.settle(
          call,
          message.kind === "reply"
            ? { payload: message.payload }
            : fromWireError(message.error, this.address),
        );
        return;
      }
      case "hello":
      case "request":
        break;
    }
    this.frames?.reject("unexpected_kind", `a server may not send ${message.kind} now`);
  }

  private onClose(reason: string, cause: Error | undefined): void {
    this.state = "closed";
    clearTimeout(this.connectTimer);
    const failure =
      this.failure ??
      new TalariaError("ERR_NETWORK_FAILURE", `connection to ${this.address} lost: ${reason}`, {
        details: { address: this.address, reason },
        cause,
      });
    for (const call of [...this.pending.values()]) this.settle(call, failure);
  }
}
