/**
 * Virtual time: a min-heap of callbacks ordered by (time, insertion order), so two runs of the
 * same seed execute the same callbacks in the same order. Nothing here reads a real clock.
 */
import { assert } from "../common/assert.ts";

interface Scheduled {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
}

export class EventQueue {
  private heap: Scheduled[] = [];
  private seq = 0;
  private current = 0;
  private executed = 0;

  get nowMs(): number {
    return this.current;
  }

  get executedCount(): number {
    return this.executed;
  }

  get size(): number {
    return this.heap.length;
  }

  at(atMs: number, run: () => void): void {
    assert(atMs >= this.current, "scheduling in the past");
    this.push({ atMs, seq: this.seq++, run });
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.current + Math.max(0, delayMs), run);
  }

  /**
   * Runs every callback scheduled up to and including `untilMs`; time ends at `untilMs`. Stops
   * early (returning false) as soon as `stop()` is true after a callback.
   */
  runUntil(untilMs: number, stop: () => boolean = () => false): boolean {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.atMs > untilMs) break;
      this.pop();
      this.current = top.atMs;
      this.executed++;
      top.run();
      if (stop()) return false;
    }
    this.current = Math.max(this.current, untilMs);
    return true;
  }

  private push(item: Scheduled): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Scheduled;
      if (!before(item, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      let child = left;
      if (right < heap.length && before(heap[right] as Scheduled, heap[left] as Scheduled))
        child = right;
      const c = heap[child] as Scheduled;
      if (!before(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
