/** Serves a Router over node:http on one port; file bodies are streamed from disk. */
import { open } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import { TalariaError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { FileSlice, Router } from "./router.ts";

/** Read size of a streamed file: few, large reads and socket writes per GiB. */
export const HTTP_FILE_READ_BYTES = 4 * 1024 * 1024;
/**
 * Read buffers per streamed file, reused for the whole file: one is read into while the other is
 * being written to the socket. A fresh buffer per read (what `createReadStream` does) costs a page
 * fault per 4 KiB of it on its first touch, which on the machines measured was most of the
 * sender's CPU (docs/benchmarks.md, bench:fullsync).
 */
const HTTP_FILE_BUFFERS = 2;

/**
 * Streams `slice` into `res`. The body is exactly the promised length or the connection is cut:
 * a file that fails to read (or is shorter than listed) destroys the response, so the client sees
 * a short body, never wrong bytes dressed as a whole one. A buffer is read into again only once
 * the socket has taken the bytes last written from it.
 */
async function streamFile(res: ServerResponse, slice: FileSlice, logger: Logger): Promise<void> {
  let sent = 0;
  const closed = new Promise<void>((resolve) => res.once("close", resolve));
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(slice.path, "r");
    const size = Math.min(HTTP_FILE_READ_BYTES, Math.max(1, slice.end - slice.start));
    const buffers = Array.from({ length: HTTP_FILE_BUFFERS }, () => Buffer.allocUnsafeSlow(size));
    const taken: (Promise<boolean> | undefined)[] = buffers.map(() => undefined);
    let position = slice.start;
    for (let i = 0; position < slice.end; i = (i + 1) % buffers.length) {
      // The socket still holds this buffer's last bytes until their write completes.
      if (taken[i] !== undefined && !(await taken[i])) return;
      const buffer = buffers[i] as Buffer;
      const { bytesRead } = await handle.read(
        buffer,
        0,
        Math.min(size, slice.end - position),
        position,
      );
      if (res.destroyed) return;
      if (bytesRead === 0) {
        logger.warn({ path: slice.path, sent }, "http: file shorter than listed");
        res.destroy();
        return;
      }
      position += bytesRead;
      taken[i] = Promise.race([
        new Promise<boolean>((resolve) =>
          res.write(buffer.subarray(0, bytesRead), (error) => {
            if (error === undefined || error === null) sent += bytesRead;
            resolve(error === undefined || error === null);
          }),
        ),
        closed.then(() => false),
      ]);
    }
    if ((await Promise.all(taken)).every((ok) => ok !== false)) res.end();
  } catch (error) {
    logger.warn({ err: error, path: slice.path }, "http: streaming a file failed");
    res.destroy(error instanceof Error ? error : undefined);
  } finally {
    await handle?.close().catch(() => {});
    void closed
      .then(() => slice.onSent?.(sent))
      .catch((error: unknown) => logger.warn({ err: error }, "http: a file's onSent failed"));
  }
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
          else void streamFile(res, response.file, this.logger);
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
