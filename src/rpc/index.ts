/**
 * The RPC layer every Talaria process uses: length-prefixed msgpack frames over TCP, many requests
 * in flight per connection, writes coalesced per tick (docs/rpc.md).
 */
export { formatAddress, type HostPort, parseAddress } from "./address.ts";
export { RpcClient, type RpcClientDeps, type RpcClientOptions } from "./client.ts";
export { type DecodeResult, FrameDecoder, type FrameTooLarge } from "./frame-decoder.ts";
export type { RequestContext, RpcHandler } from "./handler.ts";
export { type RpcLimits, rpcDefaults, TIMEOUT_MS_MAX } from "./options.ts";
export { DropRequest, fromWireError, toWireError } from "./remote-error.ts";
export { RpcMetrics, type RpcOutcome, type RpcSide, UNKNOWN_METHOD_LABEL } from "./rpc-metrics.ts";
export { RpcServer, type RpcServerDeps, type RpcServerOptions } from "./server.ts";
export type { CallOptions, Transport } from "./transport.ts";
export {
  decodeMessage,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type FrameRejectReason,
  NOTIFY_VERSION_MIN,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_MIN,
  type WireError,
  type WireMessage,
} from "./wire.ts";
