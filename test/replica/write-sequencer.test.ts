import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Update, UpdateKind } from "../../src/codec/mutation.ts";
import { TalariaError } from "../../src/common/errors.ts";
import { HybridClock } from "../../src/replica/hybrid-clock.ts";
import type { WriteRequest, WriteResult } from "../../src/replica/write-request.ts";
import {
  type CoalesceLimits,
  type CoreWriteOutcome,
  type SequencerHost,
  type SequencerTimers,
  WriteSequencer,
} from "../../src/replica/write-sequencer.ts";

/** One submitted mutation, answered by the test. */
interface Submitted {
  readonly values: string[];
  readonly decree: number;
  answer(): void;
  fail(error: unknown): void;
}

/** A host whose core answers only when the test says so. */
function fakeHost(): { host: SequencerHost; submitted: Submitted[] } {
  const submitted: Submitted[] = [];
  let nextDecree = 1;
  const fixed = { nowUs: () => 1_000_000, nowMs: () => 1_000 };
  const host: SequencerHost = {
    atomicReadiness: () =>
      submitted.some((s) => !settled.has(s)) ? { ready: false } : { ready: true },
    read: () => undefined,
    clock: new HybridClock(fixed, 0),
    submit(updates: readonly Update[]): Promise<CoreWriteOutcome> {
      return new Promise<CoreWriteOutcome>((resolve, reject) => {
        const decree = nextDecree++;
        const entry: Submitted = {
          values: updates.map((u) =>
            u.kind === UpdateKind.PUT ? u.value.toString() : String(u.kind),
          ),
          decree,
          answer: () => {
            settled.add(entry);
            resolve({ decree, staleEntriesSkipped: 0 });
          },
          fail: (error) => {
            settled.add(entry);
            reject(error);
          },
        };
        submitted.push(entry);
      });
    },
    refuse: (code, reason) => new TalariaError(code, reason),
  };
  const settled = new Set<Submitted>();
  return { host, submitted };
}

const set = (value: string): WriteRequest => ({
  op: "set",
  hashKey: Buffer.from("h"),
  sortKey: Buffer.from("s"),
  value: Buffer.from(value),
  expireTs: 0,
});

const limits = (inFlight: number, updates = 256): CoalesceLimits => ({
  writeCoalesceUpdatesMax: updates,
  writeCoalesceBytesMax: 1 << 20,
  writeCoalesceInFlightMax: inFlight,
});

/** A bound of 1 with write "a" in flight (decree 1) and write "b" held behind it. */
function oneInFlightOneHeld() {
  const { host, submitted } = fakeHost();
  const sequencer = new WriteSequencer(host, 100, limits(1));
  const first = sequencer.enqueue(set("a"));
  const held = sequencer.enqueue(set("b"));
  return { submitted, sequencer, first, held };
}

/** Lets every pending immediate and promise reaction run. */
const turns = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("WriteSequencer in-flight bound", () => {
  it("holds a batch while the bound is reached and sends it, whole, when a mutation is answered", async () => {
    const { host, submitted } = fakeHost();
    const sequencer = new WriteSequencer(host, 100, limits(1));
    const first = sequencer.enqueue(set("a"));
    assert.deepEqual(
      submitted.map((s) => s.values),
      [["a"]],
      "a lone write goes at once",
    );
    const held = [sequencer.enqueue(set("b")), sequencer.enqueue(set("c"))];
    await turns();
    held.push(sequencer.enqueue(set("d"))); // a later turn: still held, joins the same batch
    await turns();
    assert.equal(submitted.length, 1, "nothing leaves past the bound, however many turns pass");
    submitted[0]?.answer();
    assert.equal((await first).decree, 1);
    assert.deepEqual(
      submitted.map((s) => s.values),
      [["a"], ["b", "c", "d"]],
      "the held writes leave as one mutation, in arrival order, on the answer",
    );
    submitted[1]?.answer();
    assert.deepEqual(
      (await Promise.all(held)).map((r: WriteResult) => r.decree),
      [2, 2, 2],
    );
    // Nothing in flight again: the next write goes alone, at once.
    const alone = sequencer.enqueue(set("e"));
    assert.equal(submitted.length, 3);
    submitted[2]?.answer();
    assert.equal((await alone).decree, 3);
  });

  it("lets a bound of 2 send a second batch at the end of its turn, and holds the third", async () => {
    const { host, submitted } = fakeHost();
    const sequencer = new WriteSequencer(host, 100, limits(2));
    const writes = [sequencer.enqueue(set("a")), sequencer.enqueue(set("b"))];
    await turns();
    assert.deepEqual(
      submitted.map((s) => s.values),
      [["a"], ["b"]],
    );
    writes.push(sequencer.enqueue(set("c")));
    await turns();
    assert.equal(submitted.length, 2, "two in flight: the third batch waits");
    submitted[1]?.answer(); // answers need not come in order for the bound to free a slot
    await turns(1);
    assert.deepEqual(submitted[2]?.values, ["c"]);
    submitted[0]?.answer();
    submitted[2]?.answer();
    assert.deepEqual(
      (await Promise.all(writes)).map((r) => r.decree),
      [1, 2, 3],
    );
  });

  it("sends a full batch at once whatever is in flight", async () => {
    const { host, submitted } = fakeHost();
    const sequencer = new WriteSequencer(host, 100, limits(1, 2));
    const writes = ["a", "b", "c", "d", "e"].map((v) => sequencer.enqueue(set(v)));
    assert.deepEqual(
      submitted.map((s) => s.values),
      [["a"], ["b", "c"], ["d", "e"]],
    );
    for (const s of submitted) s.answer();
    assert.deepEqual(
      (await Promise.all(writes)).map((r) => r.decree),
      [1, 2, 2, 3, 3],
    );
  });

  it("sends a held batch when the mutation in flight fails", async () => {
    const { submitted, first, held } = oneInFlightOneHeld();
    await turns();
    assert.equal(submitted.length, 1);
    submitted[0]?.fail(new TalariaError("ERR_INVALID_STATE", "lost the primary"));
    await assert.rejects(first, /lost the primary/);
    assert.deepEqual(submitted[1]?.values, ["b"], "the held batch is not stranded");
    submitted[1]?.answer();
    assert.equal((await held).decree, 2);
  });

  it("sends a held batch ahead of an atomic operation, which then waits for both", async () => {
    const { submitted, sequencer, first, held } = oneInFlightOneHeld();
    const incr = sequencer.enqueue({
      op: "incr",
      hashKey: Buffer.from("h"),
      sortKey: Buffer.from("n"),
      increment: 1n,
      expireTs: 0,
    });
    assert.deepEqual(
      submitted.map((s) => s.values),
      [["a"], ["b"]],
      "the batch ahead of the atomic operation left at once, past the bound",
    );
    submitted[0]?.answer();
    submitted[1]?.answer();
    await Promise.all([first, held]);
    sequencer.pump();
    assert.equal(submitted.length, 3, "the incr evaluates once everything before it answered");
    submitted[2]?.answer();
    assert.equal((await incr).decree, 3);
  });

  it("refuses a held batch when the replica closes, and a later answer sends nothing", async () => {
    const { submitted, sequencer, first, held } = oneInFlightOneHeld();
    sequencer.refuseAll("closed");
    await assert.rejects(
      held,
      (e: unknown) => e instanceof TalariaError && e.code === "ERR_INVALID_STATE",
    );
    submitted[0]?.answer();
    assert.equal((await first).decree, 1);
    await turns();
    assert.equal(submitted.length, 1);
  });
});

/** Timers the test moves by hand: `advance` fires what falls due, in order. */
function manualTimers() {
  let nowMs = 1_000;
  let nextId = 1;
  const pending = new Map<number, { atMs: number; callback: () => void }>();
  const timers: SequencerTimers = {
    nowMs: () => nowMs,
    setTimeout: (callback, delayMs) => {
      const id = nextId++;
      pending.set(id, { atMs: nowMs + delayMs, callback });
      return id;
    },
    clearTimeout: (handle) => pending.delete(handle as number),
  };
  const advance = (ms: number) => {
    nowMs += ms;
    for (const [id, timer] of [...pending].sort((a, b) => a[1].atMs - b[1].atMs)) {
      if (timer.atMs > nowMs) break;
      pending.delete(id);
      timer.callback();
    }
  };
  return { timers, advance, pending };
}

describe("WriteSequencer commit delay (writeCoalesceMinIntervalMs)", () => {
  const delayed = (updates = 256): CoalesceLimits => ({
    ...limits(1, updates),
    writeCoalesceMinIntervalMs: 20,
  });

  it("holds the next batch until the interval since the previous mutation is over", async () => {
    const { host, submitted } = fakeHost();
    const { timers, advance, pending } = manualTimers();
    const sequencer = new WriteSequencer(host, 100, delayed(), timers);
    const first = sequencer.enqueue(set("a"));
    assert.equal(submitted.length, 1, "the first write has nothing to wait for");
    const held = [sequencer.enqueue(set("b"))];
    advance(2);
    submitted[0]?.answer();
    await first;
    held.push(sequencer.enqueue(set("c"))); // nothing in flight now, but the interval is not over
    await turns();
    assert.equal(submitted.length, 1, "answered after 2 ms: the batch waits for the interval");
    assert.equal(pending.size, 1, "one timer for the batch, however many writes join it");
    advance(17);
    assert.equal(submitted.length, 1, "19 ms after the first mutation: still waiting");
    advance(1);
    assert.deepEqual(
      submitted.map((s) => s.values),
      [["a"], ["b", "c"]],
      "20 ms after the first mutation the held writes leave as one",
    );
    submitted[1]?.answer();
    assert.deepEqual(
      (await Promise.all(held)).map((r) => r.decree),
      [2, 2],
    );
    // Long after the previous mutation, a write goes at once again.
    advance(50);
    const alone = sequencer.enqueue(set("d"));
    assert.equal(submitted.length, 3);
    submitted[2]?.answer();
    assert.equal((await alone).decree, 3);
  });

  it("waits for the answer when the interval ends first", async () => {
    const { host, submitted } = fakeHost();
    const { timers, advance } = manualTimers();
    const sequencer = new WriteSequencer(host, 100, delayed(), timers);
    const first = sequencer.enqueue(set("a"));
    const held = sequencer.enqueue(set("b"));
    advance(30);
    await turns();
    assert.equal(submitted.length, 1, "the in-flight bound still holds it");
    submitted[0]?.answer();
    await first;
    assert.equal(submitted.length, 2, "the answer sends it: the interval is over");
    submitted[1]?.answer();
    assert.equal((await held).decree, 2);
  });

  it("sends a full batch and a batch ahead of an atomic operation at once", async () => {
    const { host, submitted } = fakeHost();
    const { timers, advance, pending } = manualTimers();
    const sequencer = new WriteSequencer(host, 100, delayed(2), timers);
    const first = sequencer.enqueue(set("a"));
    advance(1);
    submitted[0]?.answer();
    await first;
    const full = [sequencer.enqueue(set("b")), sequencer.enqueue(set("c"))];
    assert.equal(submitted.length, 2, "a full batch does not wait for the interval");
    assert.equal(pending.size, 0, "and leaves no timer behind");
    submitted[1]?.answer();
    await Promise.all(full);
    const beforeIncr = sequencer.enqueue(set("d"));
    await turns();
    assert.equal(submitted.length, 2, "d waits for the interval");
    const incr = sequencer.enqueue({
      op: "incr",
      hashKey: Buffer.from("h"),
      sortKey: Buffer.from("n"),
      increment: 1n,
      expireTs: 0,
    });
    assert.deepEqual(submitted[2]?.values, ["d"], "the batch ahead of the incr left at once");
    assert.equal(pending.size, 0);
    submitted[2]?.answer();
    await beforeIncr;
    sequencer.pump();
    submitted[3]?.answer();
    assert.equal((await incr).decree, 4);
  });

  it("refuses a delayed batch when the replica closes, and its timer is gone", async () => {
    const { host, submitted } = fakeHost();
    const { timers, advance, pending } = manualTimers();
    const sequencer = new WriteSequencer(host, 100, delayed(), timers);
    const first = sequencer.enqueue(set("a"));
    submitted[0]?.answer();
    await first;
    const held = sequencer.enqueue(set("b"));
    assert.equal(pending.size, 1);
    sequencer.refuseAll("closed");
    assert.equal(pending.size, 0);
    await assert.rejects(
      held,
      (e: unknown) => e instanceof TalariaError && e.code === "ERR_INVALID_STATE",
    );
    advance(100);
    assert.equal(submitted.length, 1);
  });
});
