/**
 * How the meta leader reaches another cluster's meta servers (full duplication: create the
 * follower table, watch it copy). `connectRemoteMeta` is the one place that builds such a
 * connection, one per remote cluster; the meta server passes its RPC client options, e.g. an
 * HTTP CONNECT proxy per remote cluster (`[duplication-proxy]`).
 */
import { MetaSession } from "../../client/index.ts";
import { RpcClient, type RpcClientDeps, type RpcClientOptions } from "../../rpc/index.ts";

export interface RemoteMetaConnection {
  /** One call to the remote cluster's meta leader (follows ERR_NOT_LEADER hints). */
  call(method: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Makes the connection to `cluster`, whose meta servers are `metaServers` (`[pegasus.clusters]`). */
export type RemoteMetaConnector = (
  cluster: string,
  metaServers: readonly string[],
) => RemoteMetaConnection;

/** A connector over TCP, with `rpc` options and deps for every remote cluster (or per cluster). */
export function connectRemoteMeta(
  rpc: RpcClientOptions | ((cluster: string) => RpcClientOptions) = {},
  deps: RpcClientDeps = {},
): RemoteMetaConnector {
  return (cluster, metaServers) => {
    const options = typeof rpc === "function" ? rpc(cluster) : rpc;
    const client = new RpcClient({ name: `meta duplication to ${cluster}`, ...options }, deps);
    const session = new MetaSession(metaServers, client);
    return {
      call: (method, payload, timeoutMs) => session.call(method, payload, timeoutMs),
      close: () => client.close(),
    };
  };
}
