/**
 * Test tooling shared by end-to-end tests and benchmarks (never imported by servers): a
 * fault-injecting HTTP CONNECT proxy that stands in for a cross-datacenter link.
 */
export {
  type Direction,
  FaultProxy,
  type FaultProxyCounters,
  type FaultProxyOptions,
} from "./fault-proxy.ts";
export { TokenBucket } from "./token-bucket.ts";
