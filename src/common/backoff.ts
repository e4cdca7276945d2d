// Reconnect delays: exponential growth with full jitter, bounded by a floor and a ceiling.
//
// The ceiling of each wait is the time the outage has lasted so far, clamped to [minMs, maxMs]:
// the wait is uniform in [0, ceiling]. Since each wait adds on average half the elapsed time, the
// ceiling grows by about 1.5x per attempt (exponential), from 1 s up to 60 s, while an agent that
// lost a hub for 3 s never waits more than about 3 s after the hub is back. Full jitter spreads a
// crowd of agents evenly, so a restarted hub is not hit by all of them at once.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  random?: () => number;
}

export class Backoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #outageStartMs: number | undefined;

  constructor(options: BackoffOptions) {
    if (!(options.minMs > 0 && options.maxMs >= options.minMs)) {
      throw new RangeError('backoff needs 0 < minMs <= maxMs');
    }
    this.#minMs = options.minMs;
    this.#maxMs = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  /** The ceiling of the next wait, for a failure seen at nowMs. */
  ceilingMs(nowMs: number): number {
    this.#outageStartMs ??= nowMs;
    const elapsed = nowMs - this.#outageStartMs;
    return Math.min(this.#maxMs, Math.max(this.#minMs, elapsed));
  }

  /** The wait before the next attempt, after a failure seen at nowMs. */
  nextDelayMs(nowMs: number): number {
    return Math.floor(this.#random() * this.ceilingMs(nowMs));
  }

  /** A connection succeeded: the next outage starts from the floor again. */
  reset(): void {
    this.#outageStartMs = undefined;
  }
}
