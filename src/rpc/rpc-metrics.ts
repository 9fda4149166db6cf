/**
 * Prometheus metrics of the RPC layer. One instance per registry, shared by every RpcServer and
 * RpcClient of the process (prom-client refuses to register a name twice). `side` is "server" for
 * connections a server accepted and "client" for connections a client opened.
 *
 * Label values stay bounded: a server labels requests for methods it does not serve as
 * UNKNOWN_METHOD_LABEL, so a peer cannot grow the label set; codes come from the error catalogue
 * plus "OK" and "DROPPED".
 */
import { Counter, Gauge, type Registry } from "prom-client";
import {
  HotCounter,
  type HotCounterChild,
  HotHistogram,
  type HotHistogramChild,
} from "../metrics/hot-metrics.ts";
import type { FrameRejectReason } from "./wire.ts";

export type RpcSide = "server" | "client";
/** Outcome label: an error code, "OK", or "DROPPED" (a handler asked for no reply). */
export type RpcOutcome = string;

export const UNKNOWN_METHOD_LABEL = "<unknown>";

const DURATION_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5,
];

interface SideCounters {
  readonly receivedBytes: HotCounterChild<"side">;
  readonly sentBytes: HotCounterChild<"side">;
  readonly openConnections: Gauge.Internal<"side">;
}

/** One method's series of a count-by-code and duration pair, resolved once (hot-metrics.ts). */
class MethodSeries {
  private readonly byCode = new Map<string, HotCounterChild<"method" | "code">>();
  readonly duration: HotHistogramChild<"method"> | undefined;

  constructor(
    private readonly method: string,
    private readonly counter: HotCounter<"method" | "code">,
    histogram: HotHistogram<"method"> | undefined,
  ) {
    this.duration = histogram?.child({ method });
  }

  code(code: string): HotCounterChild<"method" | "code"> {
    let child = this.byCode.get(code);
    if (child === undefined) {
      child = this.counter.child({ method: this.method, code });
      this.byCode.set(code, child);
    }
    return child;
  }
}

export class RpcMetrics {
  private readonly serverRequests: HotCounter<"method" | "code">;
  private readonly serverRequestDuration: HotHistogram<"method">;
  private readonly clientCalls: HotCounter<"method" | "code">;
  private readonly clientCallDuration: HotHistogram<"method">;
  private readonly clientNotifications: HotCounter<"method" | "code">;
  private readonly serverByMethod = new Map<string, MethodSeries>();
  private readonly callsByMethod = new Map<string, MethodSeries>();
  private readonly notificationsByMethod = new Map<string, MethodSeries>();
  private readonly receivedBytes: HotCounter<"side">;
  private readonly sentBytes: HotCounter<"side">;
  readonly openConnections: Gauge<"side">;
  readonly framesRejected: Counter<"side" | "reason">;
  private readonly sides: Record<RpcSide, SideCounters>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.serverRequests = new HotCounter({
      name: "talaria_rpc_server_requests_total",
      help: "Requests a server answered (or dropped), by method and outcome code",
      labelNames: ["method", "code"],
      registers,
    });
    this.serverRequestDuration = new HotHistogram({
      name: "talaria_rpc_server_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by method",
      labelNames: ["method"],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.clientCalls = new HotCounter({
      name: "talaria_rpc_client_calls_total",
      help: "Calls a client finished, by method and outcome code",
      labelNames: ["method", "code"],
      registers,
    });
    this.clientCallDuration = new HotHistogram({
      name: "talaria_rpc_client_call_duration_seconds",
      help: "Time from a call to its answer or failure, by method",
      labelNames: ["method"],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.clientNotifications = new HotCounter({
      name: "talaria_rpc_client_notifications_total",
      help: "One-way messages (NOTIFY) a client wrote (OK) or dropped unsent (error code), by method",
      labelNames: ["method", "code"],
      registers,
    });
    this.receivedBytes = new HotCounter({
      name: "talaria_rpc_received_bytes_total",
      help: "Bytes read from RPC connections",
      labelNames: ["side"],
      registers,
    });
    this.sentBytes = new HotCounter({
      name: "talaria_rpc_sent_bytes_total",
      help: "Bytes written to RPC connections",
      labelNames: ["side"],
      registers,
    });
    this.openConnections = new Gauge({
      name: "talaria_rpc_open_connections",
      help: "RPC connections currently open",
      labelNames: ["side"],
      registers,
    });
    this.framesRejected = new Counter({
      name: "talaria_rpc_frames_rejected_total",
      help: "Connections closed because of a bad or oversized frame (or a failed handshake), by reason",
      labelNames: ["side", "reason"],
      registers,
    });
    const side = (s: RpcSide): SideCounters => ({
      receivedBytes: this.receivedBytes.child({ side: s }),
      sentBytes: this.sentBytes.child({ side: s }),
      openConnections: this.openConnections.labels({ side: s }),
    });
    this.sides = { server: side("server"), client: side("client") };
  }

  /** The per-side children, resolved once so the data path does no label lookups. */
  forSide(side: RpcSide): SideCounters {
    return this.sides[side];
  }

  frameRejected(side: RpcSide, reason: FrameRejectReason): void {
    this.framesRejected.inc({ side, reason });
  }

  serverRequestDone(method: string, code: RpcOutcome, seconds: number): void {
    const series = seriesOf(
      this.serverByMethod,
      method,
      this.serverRequests,
      this.serverRequestDuration,
    );
    series.code(code).inc();
    series.duration?.observe(seconds);
  }

  clientCallDone(method: string, code: RpcOutcome, seconds: number): void {
    const series = seriesOf(this.callsByMethod, method, this.clientCalls, this.clientCallDuration);
    series.code(code).inc();
    series.duration?.observe(seconds);
  }

  clientNotified(method: string, code: RpcOutcome): void {
    seriesOf(this.notificationsByMethod, method, this.clientNotifications, undefined)
      .code(code)
      .inc();
  }
}

function seriesOf(
  cache: Map<string, MethodSeries>,
  method: string,
  counter: HotCounter<"method" | "code">,
  histogram: HotHistogram<"method"> | undefined,
): MethodSeries {
  let series = cache.get(method);
  if (series === undefined) {
    series = new MethodSeries(method, counter, histogram);
    cache.set(method, series);
  }
  return series;
}
