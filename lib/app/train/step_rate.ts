// The training speed fit() reports: one step's own rate jumps with every summary and timer tick.

/** Steps per second, smoothed over recent steps (an exponential average of their durations, ~20 steps). */
export class StepRate {
  #seconds: number | undefined;
  add(seconds: number): number {
    this.#seconds = this.#seconds === undefined ? seconds : 0.9 * this.#seconds + 0.1 * seconds;
    return 1 / Math.max(this.#seconds, 1e-9);
  }
}
