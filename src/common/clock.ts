/**
 * The clock port. Cores never read the wall clock directly; they receive a Clock so the
 * deterministic simulator and tests can drive time.
 */
export interface Clock {
  /** Wall-clock time in microseconds since the Unix epoch (may jump backwards). */
  nowUs(): number;
  /** Wall-clock time in milliseconds since the Unix epoch. */
  nowMs(): number;
}

export const systemClock: Clock = {
  nowUs: () => Math.floor((performance.timeOrigin + performance.now()) * 1000),
  nowMs: () => Date.now(),
};

/** A clock that only moves when told to: for tests and the simulator. */
export class ManualClock implements Clock {
  private currentUs: number;

  constructor(startUs: number) {
    this.currentUs = startUs;
  }

  nowUs(): number {
    return this.currentUs;
  }

  nowMs(): number {
    return Math.floor(this.currentUs / 1000);
  }

  setUs(us: number): void {
    this.currentUs = us;
  }

  advanceMs(ms: number): void {
    this.currentUs += ms * 1000;
  }
}
