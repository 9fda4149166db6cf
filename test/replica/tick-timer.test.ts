import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import {
  SHARED_TICK_CALLBACKS_MAX,
  SharedTickTimer,
} from "../../src/replica/partition-replica-options.ts";

describe("SharedTickTimer", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setInterval"] }));
  afterEach(() => mock.timers.reset());

  it("runs every callback of one interval from one timer, in the same turn", () => {
    const timer = new SharedTickTimer();
    const ran: string[] = [];
    timer.every(50, () => ran.push("a"));
    timer.every(50, () => ran.push("b"));
    timer.every(100, () => ran.push("c"));
    assert.equal(timer.timerCount, 2);
    mock.timers.tick(50);
    assert.deepEqual(ran, ["a", "b"]);
    mock.timers.tick(50);
    assert.deepEqual(ran, ["a", "b", "a", "b", "c"]);
  });

  it("a function registered twice ticks twice", () => {
    const timer = new SharedTickTimer();
    let runs = 0;
    const run = () => runs++;
    const stopFirst = timer.every(50, run);
    timer.every(50, run);
    mock.timers.tick(50);
    assert.equal(runs, 2);
    stopFirst();
    mock.timers.tick(50);
    assert.equal(runs, 3);
  });

  it("stops a callback, clears the timer with the last one, and ignores a second stop", () => {
    const timer = new SharedTickTimer();
    const ran: string[] = [];
    const stopA = timer.every(50, () => ran.push("a"));
    const stopB = timer.every(50, () => ran.push("b"));
    stopA();
    mock.timers.tick(50);
    assert.deepEqual(ran, ["b"]);
    stopB();
    assert.equal(timer.timerCount, 0);
    mock.timers.tick(50);
    assert.deepEqual(ran, ["b"]);
    // A stale stop must not touch the group a later registration made for the same interval.
    timer.every(50, () => ran.push("c"));
    stopA();
    stopB();
    assert.equal(timer.timerCount, 1);
    mock.timers.tick(50);
    assert.deepEqual(ran, ["b", "c"]);
  });

  it("skips a callback an earlier one stopped in the same turn", () => {
    const timer = new SharedTickTimer();
    const ran: string[] = [];
    let stopB = () => {};
    timer.every(50, () => {
      ran.push("a");
      stopB();
    });
    stopB = timer.every(50, () => ran.push("b"));
    mock.timers.tick(50);
    assert.deepEqual(ran, ["a"]);
  });

  it("a callback that throws does not keep the others from running, and its error is passed on", () => {
    const errors: unknown[] = [];
    const timer = new SharedTickTimer((error) => errors.push(error));
    const ran: string[] = [];
    timer.every(50, () => {
      throw new Error("boom");
    });
    timer.every(50, () => ran.push("b"));
    mock.timers.tick(50);
    assert.deepEqual(ran, ["b"]);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /boom/);
  });
});

describe("SharedTickTimer: group size", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setInterval"] }));
  afterEach(() => mock.timers.reset());

  it("starts another timer once one runs SHARED_TICK_CALLBACKS_MAX callbacks, and reuses freed room", () => {
    const timer = new SharedTickTimer();
    let runs = 0;
    const stops = Array.from({ length: SHARED_TICK_CALLBACKS_MAX + 1 }, () =>
      timer.every(50, () => runs++),
    );
    assert.equal(timer.timerCount, 2);
    mock.timers.tick(50);
    assert.equal(runs, SHARED_TICK_CALLBACKS_MAX + 1);
    // The last one alone had the second timer: stopping it clears that timer.
    stops[SHARED_TICK_CALLBACKS_MAX]?.();
    assert.equal(timer.timerCount, 1);
    // Room freed in the first timer is used before a new timer starts.
    stops[0]?.();
    timer.every(50, () => runs++);
    assert.equal(timer.timerCount, 1);
    for (const stop of stops) stop();
    assert.equal(timer.timerCount, 1);
  });
});
