/**
 * The meta server's place on the simulated network: turns BEACON, UPDATE_CONFIG and QUERY_CONFIG
 * messages into ConfigAuthority calls and sends the answers back (a missing answer is simply not
 * sent), runs the authority's tick every `tickIntervalMs`, and logs every configuration change.
 */
import type { ConfigAuthority } from "./config-authority.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimNetwork } from "./network.ts";
import { META_NODE } from "./replica-server.ts";

export function attachMeta(
  network: SimNetwork,
  queue: EventQueue,
  authority: ConfigAuthority,
  tickIntervalMs: number,
  log: (line: string) => void,
): void {
  let lastLogged = new Map<string, number>();
  const logChanges = (): void => {
    const next = new Map<string, number>();
    for (const config of authority.configurations()) {
      const key = `${config.gpid.appId}.${config.gpid.partitionIndex}`;
      next.set(key, config.ballot);
      if (lastLogged.get(key) !== config.ballot) {
        log(
          `t=${queue.nowMs} config ${key} b${config.ballot} primary ${config.primary ?? "-"} secondaries [${config.secondaries.join(",")}]`,
        );
      }
    }
    lastLogged = next;
  };
  network.attach(META_NODE, (from, message) => {
    switch (message.kind) {
      case "BEACON": {
        const response = authority.onBeacon(message.request, queue.nowMs);
        if (response === undefined) return;
        network.send(META_NODE, from, {
          kind: "BEACON_REPLY",
          response,
          sentAtMs: message.sentAtMs,
        });
        return;
      }
      case "UPDATE_CONFIG":
        authority.onUpdateConfiguration(message.request, queue.nowMs, (result) => {
          logChanges();
          network.send(META_NODE, from, {
            kind: "UPDATE_CONFIG_REPLY",
            request: message.request,
            ok: result.ok,
            ...(result.ok
              ? { config: result.response.config }
              : result.config === undefined
                ? {}
                : { config: result.config }),
          });
        });
        return;
      case "QUERY_CONFIG": {
        const response = authority.onQueryConfiguration(message.request, queue.nowMs);
        if (response !== undefined)
          network.send(META_NODE, from, { kind: "QUERY_CONFIG_REPLY", response });
        return;
      }
      default:
        return;
    }
  });
  const tick = (): void => {
    authority.tick(queue.nowMs);
    logChanges();
    queue.after(tickIntervalMs, tick);
  };
  queue.after(tickIntervalMs, tick);
}
