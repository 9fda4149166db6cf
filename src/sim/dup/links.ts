/**
 * The links between simulated clusters: one per direction of each pair, each with its own delay
 * range, drop and duplication rates, and a cut switch. A message on a cut link is lost, both when
 * it is sent and when it would arrive. All randomness comes from the run's Prng.
 */
import type { EventQueue } from "../event-queue.ts";
import type { Prng } from "../prng.ts";

export interface LinkFaults {
  delayMinMs: number;
  delayMaxMs: number;
  dropRate: number;
  duplicateRate: number;
}

interface Link extends LinkFaults {
  cut: boolean;
}

export class Links {
  private readonly links = new Map<string, Link>();
  /** Messages scheduled and not delivered or lost yet. */
  inFlight = 0;
  sent = 0;
  dropped = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Prng,
    private readonly defaults: LinkFaults,
  ) {}

  private link(from: number, to: number): Link {
    const key = `${from}→${to}`;
    let link = this.links.get(key);
    if (link === undefined) {
      link = { ...this.defaults, cut: false };
      this.links.set(key, link);
    }
    return link;
  }

  setFaults(from: number, to: number, faults: LinkFaults): void {
    Object.assign(this.link(from, to), faults);
  }

  cut(from: number, to: number): void {
    this.link(from, to).cut = true;
  }

  /** Heals one direction and resets its faults to `faults`. */
  heal(from: number, to: number, faults: LinkFaults): void {
    Object.assign(this.link(from, to), faults, { cut: false });
  }

  /** Heals every link and resets its faults to `faults`. */
  healAll(faults: LinkFaults): void {
    for (const link of this.links.values()) Object.assign(link, faults, { cut: false });
  }

  isCut(from: number, to: number): boolean {
    return this.link(from, to).cut;
  }

  /** Runs `deliver` at the receiving end after the link's delay, unless the message is lost. */
  send(from: number, to: number, deliver: () => void): void {
    this.sent++;
    const link = this.link(from, to);
    if (link.cut || this.rng.chance(link.dropRate)) {
      this.dropped++;
      return;
    }
    const copies = this.rng.chance(link.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.inFlight++;
      this.queue.after(this.rng.int(link.delayMinMs, link.delayMaxMs), () => {
        this.inFlight--;
        if (this.link(from, to).cut) {
          this.dropped++;
          return;
        }
        deliver();
      });
    }
  }
}
