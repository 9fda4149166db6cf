/**
 * The background sweeper's schedule: the options of one sweep step and of the sweeper, and the
 * timer that spreads each interval's budget over evenly spaced steps (StorageEngine.startSweeper
 * runs it; each step is StorageEngine.sweep, sweep.ts).
 */
import { TalariaError } from "../common/errors.ts";
import { SWEEP_BUDGET_RECORDS_MAX, SWEEP_STEP_RECORDS_MAX } from "./sweep.ts";

export interface SweepOptions {
  /** Most records examined by this call, 1..SWEEP_BUDGET_RECORDS_MAX. */
  readonly budget: number;
  /** Collect nothing this step (sweep.ts): a duplication's re-sync still needs the tombstones. */
  readonly holdTombstones?: boolean;
}

export interface SweeperOptions {
  /** Most records examined per interval, 1..SWEEP_BUDGET_RECORDS_MAX. */
  readonly budget: number;
  readonly intervalMs: number;
  /** Asked before every step: true holds tombstones for that step (SweepOptions). */
  readonly holdTombstones?: () => boolean;
}

export function checkSweepBudget(budget: number): void {
  if (!Number.isInteger(budget) || budget < 1 || budget > SWEEP_BUDGET_RECORDS_MAX) {
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `sweep budget ${budget} is not in [1, ${SWEEP_BUDGET_RECORDS_MAX}]`,
      { details: { limit: "SWEEP_BUDGET_RECORDS_MAX", value: budget } },
    );
  }
}

/** How the sweeper splits `budget` records per `intervalMs` into evenly spaced steps. */
export function sweepSteps(options: SweeperOptions): {
  stepRecords: number;
  stepIntervalMs: number;
} {
  const steps = Math.ceil(options.budget / SWEEP_STEP_RECORDS_MAX);
  return {
    stepRecords: Math.floor(options.budget / steps),
    stepIntervalMs: Math.max(1, Math.floor(options.intervalMs / steps)),
  };
}

/**
 * Calls `step` every `stepIntervalMs` with `stepRecords` and the hold asked at that moment, until
 * stop(). The timer does not keep the process alive.
 */
export class SweeperTimer {
  private readonly timer: NodeJS.Timeout;

  constructor(options: SweeperOptions, step: (options: SweepOptions) => void) {
    checkSweepBudget(options.budget);
    if (!Number.isInteger(options.intervalMs) || options.intervalMs < 1) {
      throw new TalariaError("ERR_INVALID_PARAMETERS", `sweeper intervalMs ${options.intervalMs}`);
    }
    const { stepRecords, stepIntervalMs } = sweepSteps(options);
    const hold = options.holdTombstones;
    this.timer = setInterval(
      () => step({ budget: stepRecords, holdTombstones: hold?.() === true }),
      stepIntervalMs,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
