/**
 * Keeps reads out of a truncation or reset while it rewrites the tail: a reader must never see a
 * block half rewritten, a file cut under it, or a segment about to be deleted. Reads share the
 * gate; a rewrite holds it alone.
 *
 * Invariants:
 * - while `exclusive` runs, no read is inside `shared`;
 * - writer-preferring: once a rewrite waits, new reads wait behind it, so a stream of reads cannot
 *   starve it. Reads wait for at most one rewrite (the group committer runs them one at a time),
 *   which is bounded by its own I/O; a rewrite waits for at most the reads already in progress.
 */
import { assert } from "../common/assert.ts";

export class ReadGate {
  private readers = 0;
  /** Settles when the current rewrite ends; null when none waits or runs. */
  private rewrite: Promise<void> | null = null;
  private readersGone: (() => void) | null = null;

  async shared<T>(read: () => Promise<T>): Promise<T> {
    // Bounded: each turn waits out one rewrite, and rewrites are rare and short.
    while (this.rewrite !== null) await this.rewrite;
    this.readers += 1;
    try {
      return await read();
    } finally {
      this.readers -= 1;
      if (this.readers === 0) this.readersGone?.();
    }
  }

  async exclusive<T>(rewrite: () => Promise<T>): Promise<T> {
    assert(this.rewrite === null, "rewrites run one at a time");
    let done = (): void => {};
    this.rewrite = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      if (this.readers > 0) {
        await new Promise<void>((resolve) => {
          this.readersGone = resolve;
        });
        this.readersGone = null;
      }
      assert(this.readers === 0, "no read runs during a rewrite");
      return await rewrite();
    } finally {
      this.rewrite = null;
      done();
    }
  }
}
