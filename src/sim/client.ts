/**
 * A simulated client: writes one key at a time to the partition's primary (routing by the
 * latest configuration it knows), retries on errors and timeouts with the same key and value
 * (a set is idempotent), refreshes its configuration from the meta server when told it is
 * wrong, and records every write and acknowledgement in the History.
 *
 * Keys: most writes go to a unique key (`u/<client>/<n>`), some overwrite a small shared set
 * (`o/<n>`) with a unique value, so the checker can reason about order.
 */
import type { Gpid, NodeAddress } from "../protocol/ids.ts";
import { gpidKey } from "../protocol/ids.ts";
import type { PartitionConfiguration } from "../protocol/partition-config.ts";
import type { EventQueue } from "./event-queue.ts";
import type { History, WriteRecord } from "./history.ts";
import type { SimMessage } from "./messages.ts";
import type { SimNetwork } from "./network.ts";
import type { Prng } from "./prng.ts";
import { META_NODE } from "./replica-server.ts";

export interface ClientOptions {
  readonly appId: number;
  readonly partitionCount: number;
  readonly requestTimeoutMs: number;
  readonly attemptsMax: number;
  readonly thinkTimeMaxMs: number;
  readonly overwriteKeyCount: number;
  readonly overwriteRate: number;
}

export class SimClient {
  private readonly configs = new Map<string, PartitionConfiguration>();
  private current: { record: WriteRecord; attempts: number; requestId: number } | undefined;
  private nextRequestId = 1;
  private writeCount = 0;
  private stopped = false;

  constructor(
    readonly address: NodeAddress,
    private readonly queue: EventQueue,
    private readonly network: SimNetwork,
    private readonly rng: Prng,
    private readonly history: History,
    private readonly options: ClientOptions,
  ) {
    network.attach(address, (_from, message) => this.onMessage(message));
  }

  start(): void {
    this.refreshConfig();
    this.queue.after(this.rng.int(1, 50), () => this.nextWrite());
  }

  /** No new writes after this; an unanswered one is left as is (its outcome is unknown). */
  stop(): void {
    this.stopped = true;
  }

  private nextWrite(): void {
    if (this.stopped) return;
    const n = this.writeCount++;
    const overwrite = this.rng.chance(this.options.overwriteRate);
    const key = overwrite
      ? `o/${this.rng.int(0, this.options.overwriteKeyCount - 1)}`
      : `u/${this.address}/${n}`;
    const record: WriteRecord = {
      id: this.history.writes.length,
      client: this.address,
      key,
      value: `${this.address}/${n}`,
      gpid: {
        appId: this.options.appId,
        partitionIndex: partitionOf(key, this.options.partitionCount),
      },
      firstSentAtMs: this.queue.nowMs,
    };
    this.history.writes.push(record);
    this.current = { record, attempts: 0, requestId: 0 };
    this.attempt();
  }

  private attempt(): void {
    const current = this.current;
    if (current === undefined) return;
    if (current.attempts >= this.options.attemptsMax) {
      this.current = undefined;
      this.queue.after(this.rng.int(0, this.options.thinkTimeMaxMs), () => this.nextWrite());
      return;
    }
    current.attempts++;
    const requestId = this.nextRequestId++;
    current.requestId = requestId;
    const primary = this.configs.get(gpidKey(current.record.gpid))?.primary;
    if (primary !== undefined) {
      const { gpid, key, value } = current.record;
      this.network.send(this.address, primary, {
        kind: "CLIENT_WRITE",
        gpid,
        requestId,
        key,
        value,
      });
    }
    this.queue.after(this.options.requestTimeoutMs, () => {
      if (this.current?.requestId !== requestId) return;
      this.retry();
    });
  }

  private retry(): void {
    this.refreshConfig();
    this.queue.after(this.rng.int(10, 100), () => this.attempt());
  }

  private onMessage(message: SimMessage): void {
    switch (message.kind) {
      case "CLIENT_REPLY": {
        const current = this.current;
        if (current === undefined || current.requestId !== message.requestId) return;
        current.requestId = 0;
        if (message.ok && message.decree !== undefined) {
          current.record.ackedAtMs = this.queue.nowMs;
          current.record.decree = message.decree;
          this.current = undefined;
          this.queue.after(this.rng.int(0, this.options.thinkTimeMaxMs), () => this.nextWrite());
        } else {
          this.retry();
        }
        return;
      }
      case "QUERY_CONFIG_REPLY":
        for (const config of message.response.partitions) {
          const known = this.configs.get(gpidKey(config.gpid));
          if (known === undefined || known.ballot <= config.ballot)
            this.configs.set(gpidKey(config.gpid), config);
        }
        return;
      default:
        return;
    }
  }

  private refreshConfig(): void {
    this.network.send(this.address, META_NODE, {
      kind: "QUERY_CONFIG",
      request: { appName: "sim" },
    });
  }
}

/** FNV-1a of the key modulo the partition count (the sim's stand-in for crc64 routing). */
export function partitionOf(key: string, partitionCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitionCount;
}

export function gpidOfKey(appId: number, key: string, partitionCount: number): Gpid {
  return { appId, partitionIndex: partitionOf(key, partitionCount) };
}
