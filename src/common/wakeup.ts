// A sleep that an event can cut short: a sender loop sleeps until its next due time or until
// something changes (a report accepted, a pause lifted, a stop). A wake-up that comes while the
// loop is busy is kept, so the next sleep returns at once and nothing is missed.

export class Wakeup {
  #woken = false;
  #sleeper: (() => void) | undefined;

  /** Ends the current sleep, or the next one if none is under way. */
  wake(): void {
    this.#woken = true;
    this.#sleeper?.();
  }

  /** Forgets wake-ups seen so far: call at the top of each round, before looking for work. */
  clear(): void {
    this.#woken = false;
  }

  /** Resolves after `ms` (undefined: only when woken), or at once if woken since clear(). */
  sleep(ms: number | undefined): Promise<void> {
    if (this.#woken) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#sleeper = undefined;
        resolve();
      };
      // Timers cap at 2^31-1 ms; a longer wait just wakes early and the caller looks again.
      const timer = ms === undefined ? undefined : setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.#sleeper = done;
    });
  }
}
