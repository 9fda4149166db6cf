import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  createNodeFs,
  FDATASYNC_SAMPLES_KEPT,
  FDATASYNC_SAMPLES_TO_DECIDE,
  FdatasyncGovernor,
  FdatasyncRunner,
  type FdatasyncSwitch,
  PrivateLog,
} from "../../src/plog/index.ts";
import { payloadFor } from "./plog-helpers.ts";

const auto = { mode: "auto", inlineMaxMs: 2, probeIntervalMs: 1000 } as const;

/** Records `times` inline syncs of `ms` each at `nowMs`; the switches they caused. */
function feed(governor: FdatasyncGovernor, ms: number, times: number, nowMs = 0) {
  const switches: FdatasyncSwitch[] = [];
  for (let i = 0; i < times; i++) {
    const change = governor.recordInline(ms, nowMs);
    if (change !== undefined) switches.push(change);
  }
  return switches;
}

describe("FdatasyncGovernor", () => {
  it("auto starts inline and stays there while the median of recent inline syncs is within the bound, outliers or not", () => {
    const governor = new FdatasyncGovernor(auto);
    for (let t = 0; t < 200; t++) {
      assert.equal(governor.next(t), "inline");
      // One sync in three is preempted or queued behind a neighbour's flush: 40 ms.
      assert.equal(governor.recordInline(t % 3 === 0 ? 40 : 0.3, t), undefined);
    }
    assert.equal(governor.medianMs, 0.3);
    assert.equal(governor.place, "inline");
  });

  it("auto decides only after SAMPLES_TO_DECIDE syncs, then moves off the event loop when most are slow", () => {
    const governor = new FdatasyncGovernor(auto);
    assert.deepEqual(feed(governor, 9, FDATASYNC_SAMPLES_TO_DECIDE - 1), []);
    assert.equal(governor.place, "inline");
    assert.deepEqual(feed(governor, 9, 1), [{ to: "thread", medianMs: 9 }]);
    assert.equal(governor.place, "thread");
  });

  it("on the thread pool, auto probes inline once per interval and comes back when the probes' median is fast", () => {
    const governor = new FdatasyncGovernor(auto);
    feed(governor, 0.3, FDATASYNC_SAMPLES_KEPT);
    // The disk slows down: the median passes 2 ms once half the window is slow ((0.3 + 6) / 2).
    const slow = feed(governor, 6, FDATASYNC_SAMPLES_KEPT / 2 + 1, 100);
    assert.equal(slow.length, 1);
    assert.equal(slow[0]?.to, "thread");
    assert.ok(Math.abs((slow[0]?.medianMs ?? 0) - 3.15) < 1e-9);
    assert.equal(governor.next(101), "thread");
    assert.equal(governor.next(1099), "thread");
    // One probe is due an interval after the switch, and only one sync takes it.
    assert.equal(governor.next(1100), "inline");
    assert.equal(governor.next(1100), "thread");
    assert.equal(governor.recordInline(6, 1100), undefined);
    // The disk is fast again: probes join the window until its median is back within the bound.
    let t = 2100;
    let back: FdatasyncSwitch | undefined;
    let probes = 0;
    while (back === undefined && probes < 100) {
      assert.equal(governor.next(t), "inline");
      back = governor.recordInline(0.4, t);
      probes++;
      t += 1000;
    }
    assert.equal(back?.to, "inline");
    // The window's older fast syncs leave first, so the median moves once 17 of its 32 are probes.
    assert.equal(probes, FDATASYNC_SAMPLES_KEPT / 2 + 1);
    assert.equal(governor.next(t), "inline");
    assert.equal(governor.next(t), "inline");
  });

  it("auto comes back inline only at half the bound: a disk near the bound does not flap", () => {
    const governor = new FdatasyncGovernor(auto);
    assert.equal(feed(governor, 6, FDATASYNC_SAMPLES_KEPT)[0]?.to, "thread");
    // Probes within the bound but above half of it keep the syncs on the thread pool.
    assert.deepEqual(feed(governor, 1.5, 3 * FDATASYNC_SAMPLES_KEPT), []);
    assert.equal(governor.medianMs, 1.5);
    assert.equal(governor.place, "thread");
    assert.deepEqual(feed(governor, 1, FDATASYNC_SAMPLES_KEPT), [{ to: "inline", medianMs: 1 }]);
  });

  it("inline and thread never move, whatever the syncs take", () => {
    const inline = new FdatasyncGovernor({ ...auto, mode: "inline" });
    const thread = new FdatasyncGovernor({ ...auto, mode: "thread" });
    assert.deepEqual(feed(inline, 100, 100), []);
    for (let t = 0; t < 50_000; t += 1000) {
      assert.equal(inline.next(t), "inline");
      assert.equal(thread.next(t), "thread");
    }
    assert.equal(inline.medianMs, 100);
  });

  it("refuses bounds that are not positive", () => {
    assert.throws(() => new FdatasyncGovernor({ ...auto, inlineMaxMs: 0 }), RangeError);
    assert.throws(() => new FdatasyncGovernor({ ...auto, probeIntervalMs: -1 }), RangeError);
  });
});

describe("FdatasyncRunner", () => {
  const dir = mkdtempSync(join(tmpdir(), "talaria-fdatasync-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs inline or on the thread pool as its governor says, timing the inline ones", async () => {
    let now = 0;
    const switches: FdatasyncSwitch[] = [];
    // Every clock read is 5 ms after the last: each inline sync "takes" 5 ms, past the 2 ms bound.
    const runner = new FdatasyncRunner(new FdatasyncGovernor(auto), {
      nowMs: () => (now += 5),
      onSwitch: (change) => switches.push(change),
    });
    const handle = await open(join(dir, "runner.bin"), "w");
    try {
      await handle.write(Buffer.from("x"));
      for (let i = 0; i < FDATASYNC_SAMPLES_TO_DECIDE; i++) await runner.run(handle);
      assert.deepEqual(switches, [{ to: "thread", medianMs: 5 }]);
      assert.equal(runner.place, "thread");
      await runner.run(handle);
      await runner.run(handle);
      assert.equal(runner.stats.inline, FDATASYNC_SAMPLES_TO_DECIDE);
      assert.equal(runner.stats.thread, 2);
      assert.ok(Math.abs(runner.stats.inlineSeconds - 0.005 * FDATASYNC_SAMPLES_TO_DECIDE) < 1e-9);
    } finally {
      await handle.close();
    }
  });

  it("an inline sync that fails rejects, as the thread pool's would", async () => {
    const runner = new FdatasyncRunner(new FdatasyncGovernor({ ...auto, mode: "inline" }));
    // A descriptor number no process has open.
    const stale = { fd: 2 ** 30, datasync: () => Promise.reject(new Error("unused")) };
    await assert.rejects(runner.run(stale as never), { code: "EBADF" });
    assert.equal(runner.stats.inline, 0);
  });

  it("a private log on createNodeFs syncs every group commit through the runner", async () => {
    const runner = new FdatasyncRunner(new FdatasyncGovernor({ ...auto, mode: "inline" }));
    const log = await PrivateLog.open({ dir: join(dir, "plog") }, { fs: createNodeFs(runner) });
    try {
      const before = runner.stats.inline;
      for (let i = 0; i < 3; i++) {
        await log.append(i + 1, payloadFor(i + 1, 16));
      }
      assert.ok(runner.stats.inline >= before + 3);
      assert.equal(runner.stats.thread, 0);
    } finally {
      await log.close();
    }
  });
});
