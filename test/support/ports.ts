import { createServer } from "node:net";

/*
 * Ports tests listen on stay below the kernel's ephemeral range (ip_local_port_range, 32768–60999
 * on Linux by default), from which outgoing connections take their local ports. A port the OS
 * reports free inside that range can be taken by any connection — another server of the same
 * test connecting to a peer — between the check and the listen, which failed a test with
 * EADDRINUSE. Single ports come from 10000–19999, onebox port ranges from 20000–31999.
 */
const SINGLE_PORT_MIN = 10_000;
const SINGLE_PORT_COUNT = 10_000;
/** Onebox base ports: 20000, 21000, …, 30000; a two-cluster onebox uses base+601..base+1903. */
const ONEBOX_BASE_MIN = 20_000;
const ONEBOX_BASE_SLOTS = 11;
const ATTEMPTS_MAX = 100;

/** Ports this process has handed out: never handed out twice. */
const handedOut = new Set<number>();

/** Whether 127.0.0.1:`port` can be listened on right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 now, outside the ephemeral range (random, so parallel runs differ). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    const port = SINGLE_PORT_MIN + Math.floor(Math.random() * SINGLE_PORT_COUNT);
    if (handedOut.has(port) || !(await portFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${SINGLE_PORT_MIN}..${SINGLE_PORT_MIN + SINGLE_PORT_COUNT - 1}`);
}

/** A random onebox base port (planOnebox's `basePort`) whose ranges stay below 32768. */
export function randomOneboxBase(): number {
  return ONEBOX_BASE_MIN + 1000 * Math.floor(Math.random() * ONEBOX_BASE_SLOTS);
}
