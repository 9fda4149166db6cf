/** Serves a Router over node:http on one port. */
import { createServer, type Server } from "node:http";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { Router } from "./router.ts";

export class HttpServer {
  private readonly server: Server;
  private readonly logger: Logger;

  constructor(router: Router, logger: Logger) {
    this.logger = logger;
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      void router
        .handle({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams })
        .then((response) => {
          res.writeHead(response.status, { "content-type": response.contentType });
          res.end(response.body);
        });
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (error) =>
        reject(
          new TalariaError("ERR_NETWORK_FAILURE", `cannot serve HTTP on ${host}:${port}`, {
            cause: error,
          }),
        ),
      );
      this.server.listen(port, host, () => resolve());
    });
    const address = this.server.address();
    const bound = typeof address === "object" && address !== null ? address.port : port;
    this.logger.info({ host, port: bound }, "http: listening");
    return bound;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
