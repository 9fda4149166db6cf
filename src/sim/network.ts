/**
 * The simulated network: every message gets a random delay (so messages reorder), may be
 * dropped or duplicated, and is lost when a partition separates sender and receiver at send or
 * at delivery time, or when the receiver is down. Faults are data (NetworkFaults) the run
 * changes over time; all randomness comes from the run's Prng.
 */
import type { NodeAddress } from "../protocol/ids.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimMessage } from "./messages.ts";
import type { Prng } from "./prng.ts";

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Probability that a message takes a long path (up to slowDelayMaxMs). */
  slowRate: number;
  slowDelayMaxMs: number;
}

export const cleanNetwork: NetworkFaults = {
  dropRate: 0,
  duplicateRate: 0,
  delayMinMs: 1,
  delayMaxMs: 5,
  slowRate: 0,
  slowDelayMaxMs: 5,
};

export type MessageHandler = (from: NodeAddress, message: SimMessage) => void;

export class SimNetwork {
  faults: NetworkFaults = cleanNetwork;
  private readonly handlers = new Map<NodeAddress, MessageHandler>();
  /** Directed links that are cut: `from→to`. */
  private readonly cut = new Set<string>();
  sent = 0;
  delivered = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Prng,
  ) {}

  attach(node: NodeAddress, handler: MessageHandler): void {
    this.handlers.set(node, handler);
  }

  detach(node: NodeAddress): void {
    this.handlers.delete(node);
  }

  /** Cuts every link between the two groups, both ways. */
  partition(groupA: readonly NodeAddress[], groupB: readonly NodeAddress[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.cut.add(`${a}→${b}`);
        this.cut.add(`${b}→${a}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  get partitioned(): boolean {
    return this.cut.size > 0;
  }

  send(from: NodeAddress, to: NodeAddress, message: SimMessage): void {
    this.sent++;
    const faults = this.faults;
    if (this.isCut(from, to) || this.rng.chance(faults.dropRate)) return;
    const copies = this.rng.chance(faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.queue.after(this.delay(), () => {
        if (this.isCut(from, to)) return;
        const handler = this.handlers.get(to);
        if (handler === undefined) return;
        this.delivered++;
        handler(from, message);
      });
    }
  }

  private isCut(from: NodeAddress, to: NodeAddress): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}→${to}`);
  }

  private delay(): number {
    const f = this.faults;
    if (this.rng.chance(f.slowRate))
      return this.rng.int(f.delayMinMs, Math.max(f.delayMinMs, f.slowDelayMaxMs));
    return this.rng.int(f.delayMinMs, f.delayMaxMs);
  }
}
