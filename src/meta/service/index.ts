/** The meta server's runtime: leadership, restore, request dispatch and persistence. */
export { decodeMetaRequest, isMetaMethod } from "./decode-requests.ts";
export { MetaService, type MetaServiceDeps, type MetaServiceOptions } from "./meta-service.ts";
