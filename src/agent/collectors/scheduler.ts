// Runs the collectors' periodic tasks. Due times come from the injected clock and a run happens in
// tick(), so tests drive it with a manual clock; start() arms one timer for the next due task.
// Tasks run one at a time: a slow task delays the others, it never overlaps itself.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';

export interface Timers {
  set(run: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** Real timers, unref'd: the schedule alone does not keep the process alive. */
export const realTimers: Timers = {
  set: (run, delayMs) => setTimeout(run, Math.min(delayMs, 2 ** 31 - 1)).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Task {
  name: string;
  /** Undefined: runs once, then is dropped. */
  intervalMs: number | undefined;
  dueAtMs: number;
  run: () => Promise<void>;
}

export class Scheduler {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timers: Timers;
  readonly #tasks: Task[] = [];
  #timer: unknown;
  #running: Promise<void> | undefined;
  #started = false;
  #closed = false;

  constructor(options: { clock: Clock; logger: Logger; timers?: Timers }) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#timers = options.timers ?? realTimers;
  }

  /** Runs `run` every intervalMs; first at the first tick when `atStart`, else one interval from now. */
  every(
    name: string,
    intervalMs: number,
    run: () => Promise<void>,
    options: { atStart?: boolean } = {},
  ): void {
    if (!(intervalMs > 0)) throw new RangeError(`${name}: the interval must be positive`);
    const nowMs = this.#clock.now();
    this.#tasks.push({ name, intervalMs, dueAtMs: options.atStart ? nowMs : nowMs + intervalMs, run });
    if (this.#started) this.#arm();
  }

  /** Runs `run` once, delayMs from now. */
  once(name: string, delayMs: number, run: () => Promise<void>): void {
    if (!(delayMs >= 0)) throw new RangeError(`${name}: the delay must not be negative`);
    this.#tasks.push({ name, intervalMs: undefined, dueAtMs: this.#clock.now() + delayMs, run });
    if (this.#started) this.#arm();
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#arm();
  }

  /** When the next task is due (for status and tests); undefined with no task. */
  get nextDueAtMs(): number | undefined {
    return this.#tasks.length === 0 ? undefined : Math.min(...this.#tasks.map((t) => t.dueAtMs));
  }

  /** Runs every task that is due now, in the order they were added. */
  tick(): Promise<void> {
    this.#running ??= this.#runDue().finally(() => {
      this.#running = undefined;
      if (this.#started) this.#arm();
    });
    return this.#running;
  }

  /** Stops the timer and waits for the task in progress. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#started = false;
    this.#timers.clear(this.#timer);
    await this.#running;
  }

  async #runDue(): Promise<void> {
    for (const task of [...this.#tasks]) {
      if (this.#closed) return;
      const nowMs = this.#clock.now();
      if (task.dueAtMs > nowMs) continue;
      // After a long pause (suspend, a clock step) a task runs once, not once per missed interval.
      if (task.intervalMs === undefined) this.#tasks.splice(this.#tasks.indexOf(task), 1);
      else task.dueAtMs = nowMs + task.intervalMs;
      try {
        await task.run();
      } catch (err) {
        this.#logger.warn(
          { err, task: task.name },
          'call-home collector failed; it runs again at its next time',
        );
      }
    }
  }

  #arm(): void {
    this.#timers.clear(this.#timer);
    const next = this.nextDueAtMs;
    if (next === undefined || this.#closed) return;
    this.#timer = this.#timers.set(() => void this.tick(), Math.max(0, next - this.#clock.now()));
  }
}
