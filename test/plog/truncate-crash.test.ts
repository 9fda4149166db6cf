/**
 * Crash at every step of truncateAfter and resetTo. The log runs on a MemoryFs that lets k
 * mutating calls happen and then fails everything (the process died at step k); the log is then
 * reopened from what the crash kept: only what was synced, everything issued, or a random prefix
 * with a torn write. Whatever k and whatever was kept, the reopened log must be exactly the log
 * before the operation (with any prefix of the appends issued before it) or the log after it
 * (with any prefix of the appends issued after it): never a discarded record back, never a record
 * the operation kept lost, never the operation undone once it (or a later append) resolved. A
 * second crash in the middle of the recovery that finishes the operation changes nothing.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import { type CrashKeep, MemoryFs, PrivateLog } from "../../src/plog/index.ts";
import { payloadFor, seededRandomBytes } from "./plog-helpers.ts";

const DIR = "/replica/plog";
const OPTIONS = { dir: DIR, segmentBytesMax: 600 } as const;
const size = (d: number) => 20 + ((d * 13) % 40);
const fresh = (d: number) => Buffer.from(`after ${d}`);

interface Rec {
  readonly decree: number;
  readonly payload: Buffer;
}

interface LogState {
  readonly firstDecree: number;
  readonly records: readonly Rec[];
}

type Op =
  | { readonly kind: "truncate"; readonly decree: number }
  | { readonly kind: "reset"; readonly decree: number };

interface Scenario {
  readonly name: string;
  /** Runs before the crash test starts; everything in it is durable. */
  readonly build: (log: PrivateLog) => Promise<void>;
  /** Appended just before the operation, without waiting (original payloads). */
  readonly earlier: readonly number[];
  readonly op: Op;
  /** Appended just after the operation, without waiting (new payloads). */
  readonly later: readonly number[];
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

const original = (decree: number): Rec => ({ decree, payload: payloadFor(decree, size(decree)) });

async function appendGroups(log: PrivateLog, decrees: number[], perBlock: number): Promise<void> {
  for (let i = 0; i < decrees.length; i += perBlock) {
    await Promise.all(
      decrees.slice(i, i + perBlock).map((d) => log.append(d, original(d).payload)),
    );
  }
}

async function open(fs: MemoryFs): Promise<PrivateLog> {
  return PrivateLog.open(OPTIONS, { fs, randomBytes: seededRandomBytes(11) });
}

async function stateOf(log: PrivateLog): Promise<LogState> {
  const records: Rec[] = [];
  for await (const record of log.replay(log.firstDecree, { batchBytes: 400 })) records.push(record);
  assert.equal(log.lastDecree, records.at(-1)?.decree ?? log.firstDecree - 1);
  return { firstDecree: log.firstDecree, records };
}

function prefixes(records: readonly Rec[], extra: readonly Rec[]): Rec[][] {
  return range(0, extra.length).map((n) => [...records, ...extra.slice(0, n)]);
}

/** The states a crash may leave: before (+ earlier appends) or after (+ later appends). */
function allowedStates(
  base: LogState,
  scenario: Scenario,
): { before: LogState[]; after: LogState[] } {
  const earlier = scenario.earlier.map(original);
  const all = [...base.records, ...earlier];
  const { op } = scenario;
  const kept = op.kind === "reset" ? [] : all.filter((r) => r.decree <= op.decree);
  const firstDecree = op.kind === "reset" ? op.decree + 1 : base.firstDecree;
  const later = scenario.later.map((decree) => ({ decree, payload: fresh(decree) }));
  return {
    before: prefixes(base.records, earlier).map((records) => ({
      firstDecree: base.firstDecree,
      records,
    })),
    after: prefixes(kept, later).map((records) => ({ firstDecree, records })),
  };
}

function matches(state: LogState, candidates: readonly LogState[]): number {
  return candidates.findIndex(
    (c) =>
      c.firstDecree === state.firstDecree &&
      c.records.length === state.records.length &&
      c.records.every(
        (r, i) =>
          r.decree === state.records[i]?.decree &&
          r.payload.equals(state.records[i]?.payload ?? Buffer.alloc(0)),
      ),
  );
}

function describeState(state: LogState): string {
  const decrees = state.records.map(
    (r) => `${r.decree}${r.payload.toString().startsWith("after") ? "'" : ""}`,
  );
  return `first ${state.firstDecree}: ${decrees.join(" ")}`;
}

/** Issues earlier appends, the operation and later appends in one tick; returns what resolved. */
async function runOperation(
  log: PrivateLog,
  scenario: Scenario,
): Promise<{ op: boolean; later: number }> {
  const settled = [...scenario.earlier.map((d) => log.append(d, original(d).payload))].map((p) =>
    p.catch(() => undefined),
  );
  const op =
    scenario.op.kind === "truncate"
      ? log.truncateAfter(scenario.op.decree)
      : log.resetTo(scenario.op.decree);
  const later = scenario.later.map((d) => log.append(d, fresh(d)));
  const results = await Promise.allSettled([op, ...later]);
  await Promise.all(settled);
  const laterResolved = results.slice(1).filter((r) => r.status === "fulfilled").length;
  return { op: results[0]?.status === "fulfilled", later: laterResolved };
}

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const POLICIES: { readonly name: string; readonly keep: (k: number) => CrashKeep }[] = [
  { name: "synced only", keep: () => () => 0 },
  { name: "everything issued", keep: () => (what) => what.pending },
  {
    name: "random prefix, torn write",
    keep: (k) => {
      const random = seededRandom(k + 1);
      return (what) => ({
        whole: Math.floor(random() * (what.pending + 1)),
        tornBytes: Math.floor(random() * 64),
      });
    },
  },
];

async function baseImage(scenario: Scenario): Promise<{ image: MemoryFs; base: LogState }> {
  const fs = new MemoryFs();
  const log = await open(fs);
  await scenario.build(log);
  await log.close();
  const image = fs.crash();
  const check = await open(image.crash());
  const base = await stateOf(check);
  await check.close();
  return { image, base };
}

async function checkScenario(scenario: Scenario): Promise<void> {
  const { image, base } = await baseImage(scenario);
  const allowed = allowedStates(base, scenario);

  // Steps the whole operation takes when nothing fails.
  const probe = image.crash();
  const probeLog = await open(probe);
  const start = probe.mutations;
  const full = await runOperation(probeLog, scenario);
  assert.ok(full.op && full.later === scenario.later.length, "runs cleanly without a crash");
  const steps = probe.mutations - start;
  assert.equal(matches(await stateOf(probeLog), allowed.after), allowed.after.length - 1);
  await probeLog.close();

  let committedImages = 0;
  for (let k = 0; k <= steps; k++) {
    for (const policy of POLICIES) {
      const fs = image.crash();
      const log = await open(fs);
      fs.stopAfter(k);
      const resolved = await runOperation(log, scenario);
      await log.close().catch(() => undefined);
      const crashed = fs.crash(policy.keep(k));
      const context = `step ${k} of ${steps}, ${policy.name}`;

      const reopened = await open(crashed.crash());
      const state = await stateOf(reopened);
      await reopened.close();
      const before = matches(state, allowed.before);
      const after = matches(state, allowed.after);
      assert.ok(before >= 0 || after >= 0, `${context}: ${describeState(state)}`);
      if (resolved.op) assert.ok(after >= 0, `${context}: resolved, yet undone`);
      if (after >= 0) assert.ok(after >= resolved.later, `${context}: a resolved append was lost`);

      if (policy.name === "synced only" && reopenFinishes(crashed)) {
        committedImages += 1;
        await crashDuringRecovery(crashed, allowed.after, context);
      }
      await usableAfter(crashed, state, context);
    }
  }
  assert.ok(committedImages > 0, "some step crashed after the commit point");
}

/** Whether opening this image finishes a committed operation. */
function reopenFinishes(image: MemoryFs): boolean {
  return image.fileData(`${DIR}/plog.intent`) !== undefined;
}

/** Crashes at every step of the recovery that finishes a committed operation. */
async function crashDuringRecovery(
  image: MemoryFs,
  after: LogState[],
  context: string,
): Promise<void> {
  const probe = image.crash();
  const log = await open(probe);
  assert.ok(
    log.openReport.finishedIntent !== undefined || log.openReport.discardedIntent !== undefined,
  );
  const committed = log.openReport.finishedIntent !== undefined;
  await log.close();
  if (committed) {
    await assert.rejects(
      PrivateLog.open({ ...OPTIONS, readOnly: true }, { fs: image.crash() }),
      (e) => isTalariaError(e, "ERR_INVALID_STATE"),
    );
  }
  const steps = probe.mutations;
  for (let k = 0; k < steps; k++) {
    const fs = image.crash();
    fs.stopAfter(k);
    await assert.rejects(open(fs));
    for (const policy of POLICIES) {
      const reopened = await open(fs.crash(policy.keep(k)));
      const state = await stateOf(reopened);
      await reopened.close();
      if (committed) {
        assert.ok(
          matches(state, after) >= 0,
          `${context}, recovery step ${k}, ${policy.name}: ${describeState(state)}`,
        );
      }
    }
  }
}

/** The reopened log takes appends and keeps them. */
async function usableAfter(image: MemoryFs, state: LogState, context: string): Promise<void> {
  const fs = image.crash();
  const log = await open(fs);
  const next = log.lastDecree + 1;
  await log.append(next, fresh(next));
  await log.close();
  const again = await open(fs.crash());
  const records = (await stateOf(again)).records;
  await again.close();
  assert.equal(records.length, state.records.length + 1, context);
  assert.equal(records.at(-1)?.decree, next, context);
}

const SCENARIOS: Scenario[] = [
  {
    name: "truncate inside a block of an earlier segment, with appends before and after",
    build: (log) => appendGroups(log, range(1, 30), 3),
    earlier: [31, 32],
    op: { kind: "truncate", decree: 14 },
    later: [15, 16, 17],
  },
  {
    name: "truncate inside the log's very first block",
    build: (log) => appendGroups(log, range(1, 12), 5),
    earlier: [],
    op: { kind: "truncate", decree: 2 },
    later: [3, 4],
  },
  {
    name: "truncate at a block boundary of the last segment",
    build: (log) => appendGroups(log, range(1, 30), 3),
    earlier: [],
    op: { kind: "truncate", decree: 27 },
    later: [28],
  },
  {
    name: "truncate everything (the log keeps its start)",
    build: async (log) => {
      await log.resetTo(40);
      await appendGroups(log, range(41, 60), 4);
    },
    earlier: [61],
    op: { kind: "truncate", decree: 40 },
    later: [41, 42],
  },
  {
    name: "reset, with appends before and after",
    build: (log) => appendGroups(log, range(1, 25), 2),
    earlier: [26],
    op: { kind: "reset", decree: 100 },
    later: [105, 106],
  },
];

describe("plog truncation and reset: crash at every step", () => {
  for (const scenario of SCENARIOS) {
    test(scenario.name, () => checkScenario(scenario));
  }
});
