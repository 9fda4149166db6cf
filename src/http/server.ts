/** Serves a Router over node:http on one port; file bodies are streamed from disk. */
import { createReadStream } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { FileSlice, Router } from "./router.ts";

/** Read size of a streamed file: few, large reads and socket writes per GiB. */
export const HTTP_FILE_READ_BYTES = 4 * 1024 * 1024;

/**
 * Streams `slice` into `res`. The body is exactly the promised length or the connection is cut:
 * a file that fails to read (or is shorter than listed) destroys the response, so the client sees
 * a short body, never wrong bytes dressed as a whole one.
 */
function streamFile(res: ServerResponse, slice: FileSlice, logger: Logger): void {
  const stream = createReadStream(slice.path, {
    start: slice.start,
    end: slice.end - 1,
    highWaterMark: HTTP_FILE_READ_BYTES,
  });
  let sent = 0;
  stream.on("data", (chunk) => {
    sent += chunk.length;
  });
  stream.on("error", (error) => {
    logger.warn({ err: error, path: slice.path }, "http: streaming a file failed");
    res.destroy(error);
  });
  stream.on("end", () => {
    if (sent !== slice.end - slice.start) {
      logger.warn({ path: slice.path, sent }, "http: file shorter than listed");
      res.destroy();
    }
  });
  res.on("close", () => {
    stream.destroy();
    slice.onSent?.(sent);
  });
  stream.pipe(res);
}

export class HttpServer {
  private readonly server: Server;
  private readonly logger: Logger;

  constructor(router: Router, logger: Logger) {
    this.logger = logger;
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      void router
        .handle({
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          range: req.headers.range,
        })
        .then((response) => {
          res.writeHead(response.status, {
            "content-type": response.contentType,
            ...response.headers,
          });
          if (response.file === undefined) res.end(response.body);
          else streamFile(res, response.file, this.logger);
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
