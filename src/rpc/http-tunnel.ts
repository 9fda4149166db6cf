/**
 * Opening a TCP connection through an HTTP CONNECT proxy (RFC 9110 §9.3.6): connect to the
 * proxy, send `CONNECT host:port HTTP/1.1`, and once it answers 2xx the socket is a plain byte
 * pipe to the target. Used for cross-datacenter traffic that must leave through an egress proxy
 * (`[duplication-proxy]`), and by tests to route a cluster's traffic through a fault proxy.
 *
 * Nothing is written for the target before the proxy has answered (many proxies drop early data),
 * and bytes the proxy sent after its answer are handed back to the socket, so the caller reads
 * exactly the target's stream.
 */
import { connect, type Socket } from "node:net";
import { TalariaError } from "../common/errors.ts";
import { formatAddress, type HostPort } from "./address.ts";

/** Longest proxy answer head read before giving up (a real one is well under 1 KiB). */
export const TUNNEL_RESPONSE_BYTES_MAX = 16 * 1024;

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

/**
 * Resolves to a socket tunnelled to `target`, paused: the caller attaches its readers, then
 * resumes it. Rejects with ERR_NETWORK_FAILURE when the proxy cannot be reached, refuses (non-2xx,
 * `details.status`), answers garbage or closes, or when `signal` aborts (the socket is destroyed).
 */
export function openHttpTunnel(
  proxy: HostPort,
  target: HostPort,
  signal: AbortSignal,
): Promise<Socket> {
  const proxyAddress = formatAddress(proxy.host, proxy.port);
  const targetAddress = formatAddress(target.host, target.port);
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: proxy.host, port: proxy.port });
    let head = Buffer.alloc(0);
    const fail = (reason: string, details: Record<string, unknown> = {}, cause?: unknown) => {
      cleanUp();
      socket.destroy();
      reject(
        new TalariaError(
          "ERR_NETWORK_FAILURE",
          `proxy ${proxyAddress} did not open a tunnel to ${targetAddress}: ${reason}`,
          { details: { proxy: proxyAddress, address: targetAddress, ...details }, cause },
        ),
      );
    };
    const onError = (error: Error) => fail(error.message, {}, error);
    const onClose = () => fail("the proxy closed the connection");
    const onAbort = () => fail(String(signal.reason ?? "aborted"));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > TUNNEL_RESPONSE_BYTES_MAX) fail("answer head too long");
        return;
      }
      const line = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      const status = Number(STATUS_LINE.exec(line)?.[1]);
      if (!(status >= 200 && status < 300)) {
        fail(Number.isNaN(status) ? `answered "${line.slice(0, 80)}"` : `status ${status}`, {
          status: Number.isNaN(status) ? undefined : status,
        });
        return;
      }
      cleanUp();
      socket.pause();
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const cleanUp = () => {
      socket.off("error", onError);
      socket.off("close", onClose);
      socket.off("data", onData);
      signal.removeEventListener("abort", onAbort);
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort);
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.on("data", onData);
    socket.once("connect", () => {
      socket.write(`CONNECT ${targetAddress} HTTP/1.1\r\nHost: ${targetAddress}\r\n\r\n`);
    });
  });
}
