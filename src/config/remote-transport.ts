/**
 * How this cluster's servers reach a remote cluster: the RPC client options to use for every
 * connection to that cluster's meta servers and replica servers. Today that is only the
 * `[duplication-proxy]` HTTP CONNECT proxy, if one is configured for the cluster.
 *
 *   createClient({ metaServers, ...remoteTransportOptions(config, "dc2") })
 *   new RpcClient({ name, ...remoteTransportOptions(config, "dc2") })
 */
import type { Config } from "./config-type.ts";
import { formatHostPort } from "./value-types.ts";

/** A subset of both `RpcClientOptions` and `ClientOptions`, so it spreads into either. */
export interface RemoteTransportOptions {
  /** "host:port" of the HTTP CONNECT proxy to go through; absent: connect directly. */
  readonly connectProxy?: string;
}

export function remoteTransportOptions(
  config: Pick<Config, "duplicationProxy">,
  clusterName: string,
): RemoteTransportOptions {
  const proxy = Object.hasOwn(config.duplicationProxy, clusterName)
    ? config.duplicationProxy[clusterName]?.[0]
    : undefined;
  return proxy === undefined ? {} : { connectProxy: formatHostPort(proxy) };
}
