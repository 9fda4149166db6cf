/** The HTTP surface shared by meta and replica servers. */
export { commonRoutes } from "./common-routes.ts";
export {
  type FileBody,
  type HttpBody,
  type HttpRequest,
  type HttpResponse,
  json,
  type Route,
  Router,
} from "./router.ts";
export { HTTP_FILE_READ_BYTES, HttpServer } from "./server.ts";
