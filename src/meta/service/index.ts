/** The meta server's runtime: leadership, restore, request dispatch and persistence. */
export { decodeRemoteConfiguration } from "./decode-remote.ts";
export { decodeMetaRequest, isMetaMethod } from "./decode-requests.ts";
export {
  MetaService,
  type MetaServiceDeps,
  type MetaServiceOptions,
  REMOTE_META_CALL_TIMEOUT_MS,
} from "./meta-service.ts";
export {
  connectRemoteMeta,
  type RemoteMetaConnection,
  type RemoteMetaConnector,
} from "./remote-meta.ts";
