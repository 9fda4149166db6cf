/**
 * Model check: random sequences of appends, truncations and resets (several issued in the same
 * tick, so they queue behind each other), GC, clean reopens and crashes after everything resolved,
 * against a plain in-memory model of the log. After every call lastDecree and firstDecree match the
 * model; once the calls resolve, the records read back (and after a reopen or a crash that keeps
 * only what was synced) are exactly the model's. A read of the tail issued with the calls still
 * pending returns only the model's records (durable ones no queued call removes). Run with the
 * tail cache off, holding a few records, and holding everything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type LogRecord, MemoryFs, PrivateLog } from "../../src/plog/index.ts";
import { seededRandomBytes } from "./plog-helpers.ts";

const DIR = "/plog";

type Call =
  | { readonly kind: "append"; readonly gap: number; readonly bytes: number }
  | { readonly kind: "truncate"; readonly back: number }
  | { readonly kind: "reset"; readonly jump: number };

type Step =
  | { readonly kind: "calls"; readonly calls: readonly Call[] }
  | { readonly kind: "reopen" }
  | { readonly kind: "crash" }
  | { readonly kind: "gc"; readonly fraction: number };

const arbCall: fc.Arbitrary<Call> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      gap: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 4 })),
      bytes: fc.integer({ min: 0, max: 90 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("truncate" as const),
      back: fc.integer({ min: -1, max: 12 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reset" as const),
      jump: fc.integer({ min: -8, max: 30 }),
    }),
  },
);

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("calls" as const),
      calls: fc.array(arbCall, { minLength: 1, maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "crash" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("gc" as const),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

class Model {
  floor: number | null = null;
  records: LogRecord[] = [];

  get lastDecree(): number {
    return this.records.at(-1)?.decree ?? (this.floor === null ? 0 : this.floor - 1);
  }

  get firstDecree(): number {
    return this.floor ?? this.lastDecree + 1;
  }
}

function payload(decree: number, bytes: number, serial: number): Buffer {
  const out = Buffer.alloc(bytes + 4);
  out.writeUInt32LE(serial, 0);
  for (let i = 4; i < out.length; i++) out[i] = (decree * 7 + i + serial) & 0xff;
  return out;
}

async function readAll(log: PrivateLog): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const record of log.replay(log.firstDecree, { batchBytes: 300 })) records.push(record);
  return records;
}

async function assertSame(log: PrivateLog, model: Model, context: string): Promise<void> {
  assert.equal(log.firstDecree, model.firstDecree, `${context}: firstDecree`);
  assert.equal(log.lastDecree, model.lastDecree, `${context}: lastDecree`);
  assert.equal(log.durableDecree, model.lastDecree, `${context}: durableDecree`);
  assert.deepEqual(await readAll(log), model.records, `${context}: records`);
  const indexed = log.segments().reduce((sum, segment) => sum + segment.recordCount, 0);
  assert.equal(indexed, model.records.length, `${context}: records in the index`);
}

/**
 * Issues every call in one tick, checking the decrees after each, then reads the tail at once;
 * resolves when all have.
 */
async function issue(log: PrivateLog, model: Model, calls: readonly Call[], serial: { n: number }) {
  const pending: Promise<void>[] = [];
  for (const call of calls) {
    if (call.kind === "append") {
      const decree = model.lastDecree + call.gap;
      serial.n += 1;
      const record = { decree, payload: payload(decree, call.bytes, serial.n) };
      pending.push(log.append(decree, record.payload));
      model.floor ??= decree;
      model.records.push(record);
    } else if (call.kind === "truncate") {
      const afterDecree = Math.max(model.firstDecree - 1, model.lastDecree - call.back);
      pending.push(log.truncateAfter(afterDecree));
      model.records = model.records.filter((r) => r.decree <= afterDecree);
    } else {
      const decree = Math.max(0, model.lastDecree + call.jump);
      pending.push(log.resetTo(decree));
      model.records = [];
      model.floor = decree + 1;
    }
    assert.equal(log.lastDecree, model.lastDecree, `after ${call.kind}: lastDecree`);
    assert.equal(log.firstDecree, model.firstDecree, `after ${call.kind}: firstDecree`);
    assert.ok(log.durableDecree <= log.lastDecree);
  }
  const from = Math.max(model.firstDecree, model.lastDecree - 6);
  const tail = log.read(from, { bytesMax: 150 });
  await Promise.all(pending);
  // Consecutive records of the model from the first one >= from: nothing stale, nothing skipped.
  const expected = model.records.filter((r) => r.decree >= from);
  const got = await tail;
  assert.deepEqual(got, expected.slice(0, got.length), `tail read from ${from}`);
}

test("append, truncateAfter, resetTo, GC, reopen and crash match an in-memory model", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(arbStep, { minLength: 1, maxLength: 25 }),
      fc.constantFrom(200, 400, 1200),
      fc.constantFrom(0, 150, 1 << 20),
      async (steps, segmentBytesMax, tailCacheBytes) => {
        const options = { dir: DIR, segmentBytesMax, groupCommitBytesMax: 300, tailCacheBytes };
        let fs = new MemoryFs();
        const deps = () => ({ fs, randomBytes: seededRandomBytes(segmentBytesMax) });
        let log = await PrivateLog.open(options, deps());
        const model = new Model();
        const serial = { n: 0 };
        for (const [i, step] of steps.entries()) {
          const context = `step ${i} (${step.kind})`;
          if (step.kind === "calls") {
            await issue(log, model, step.calls, serial);
          } else if (step.kind === "reopen") {
            await log.close();
            log = await PrivateLog.open(options, deps());
          } else if (step.kind === "crash") {
            // Everything resolved, so everything is durable: a crash keeping only synced state
            // loses nothing.
            const survivor = fs.crash();
            await log.close();
            fs = survivor;
            log = await PrivateLog.open(options, deps());
          } else {
            const span = model.lastDecree - model.firstDecree + 1;
            const below = model.firstDecree + Math.floor(step.fraction * Math.max(0, span));
            await log.gc(Math.max(1, below));
            const first = log.firstDecree;
            assert.ok(first >= model.firstDecree, `${context}: GC lowered firstDecree`);
            const dropped = model.records.filter((r) => r.decree < first);
            assert.ok(
              dropped.every((r) => r.decree < below),
              `${context}: GC dropped a kept record`,
            );
            if (first !== model.firstDecree) {
              model.floor = first;
              model.records = model.records.filter((r) => r.decree >= first);
            }
          }
          await assertSame(log, model, context);
        }
        await log.close();
        const reopened = await PrivateLog.open(options, deps());
        await assertSame(reopened, model, "final reopen");
        await reopened.close();
      },
    ),
    { numRuns: 150 },
  );
});
