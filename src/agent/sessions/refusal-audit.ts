// Bounds what a flood of session attempts costs the appliance. Per actor (`technician:ID`, or `hub`
// for tickets that do not verify) and per interval: the attempts of a technician are counted, and
// past `maxAttempts` refused at once; the first `auditedRefusals` refusals are audited one by one
// (a single refusal is never hidden), and the rest become one `session.refused-summary` entry per
// actor and interval, with their count and codes. A summary is written when its interval ends (a
// timer, so also when the flood stops), and by flush() at shutdown. A crash loses the summary of
// the interval under way; the refusal count per technician (GET /v1/refusals) still has them.

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';

export interface RefusalAuditLimits {
  intervalMs: number;
  /** Session attempts of one technician within an interval; more are refused at once. */
  maxAttempts: number;
  /** Refusals of one actor within an interval that are audited one by one. */
  auditedRefusals: number;
}

/** The detail of a `session.refused-summary` entry. */
export interface RefusalSummary {
  /** Refusals in the interval beyond those audited one by one. */
  count: number;
  /** How many of them had each code. */
  codes: Record<string, number>;
  /** The refusals of the interval that have entries of their own. */
  audited: number;
  fromMs: number;
  untilMs: number;
}

export interface Timers {
  set(run: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (run, delayMs) => setTimeout(run, delayMs).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Interval {
  startMs: number;
  attempts: number;
  audited: number;
  summarised: number;
  codes: Map<string, number>;
  timer: unknown;
}

/** Bounds the memory of actors tracked: intervals that ended with nothing to write are dropped. */
const maxTracked = 10_000;

export class RefusalAudit {
  readonly #limits: RefusalAuditLimits;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #write: (actor: string, summary: RefusalSummary) => Promise<unknown>;
  readonly #timers: Timers;
  readonly #intervals = new Map<string, Interval>();
  /** Summaries being written, or whose write failed and waits to be tried again. */
  readonly #writing = new Set<Promise<void>>();
  #unwritten: { actor: string; summary: RefusalSummary }[] = [];
  #retryTimer: unknown;

  constructor(options: {
    limits: RefusalAuditLimits;
    clock: Clock;
    logger: Logger;
    /** Writes one summary entry (AuditLog.record). */
    write: (actor: string, summary: RefusalSummary) => Promise<unknown>;
    timers?: Timers;
  }) {
    this.#limits = options.limits;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#write = options.write;
    this.#timers = options.timers ?? realTimers;
  }

  /** Counts an attempt of `actor`; returns how long to wait when it is one too many, else undefined. */
  attempt(actor: string): number | undefined {
    const interval = this.#current(actor);
    if (interval.attempts >= this.#limits.maxAttempts)
      return interval.startMs + this.#limits.intervalMs - this.#clock.now();
    interval.attempts += 1;
    return undefined;
  }

  /** Whether this refusal of `actor` gets an entry of its own; if not, it must be summarise()d. */
  auditOnItsOwn(actor: string): boolean {
    const interval = this.#current(actor);
    if (interval.audited >= this.#limits.auditedRefusals) return false;
    interval.audited += 1;
    return true;
  }

  /** Counts a refusal of `actor` into its interval's summary. */
  summarise(actor: string, code: string): void {
    const interval = this.#current(actor);
    interval.summarised += 1;
    interval.codes.set(code, (interval.codes.get(code) ?? 0) + 1);
    interval.timer ??= this.#timers.set(
      () => this.#end(actor, interval),
      Math.max(0, interval.startMs + this.#limits.intervalMs - this.#clock.now()),
    );
  }

  /** Writes every summary not written yet, the intervals under way too (shutdown). */
  async flush(): Promise<void> {
    for (const [actor, interval] of [...this.#intervals]) this.#end(actor, interval);
    this.#writeUnwritten();
    await Promise.all([...this.#writing]);
    // Nothing is tried again after shutdown: what could not be written is said in the log.
    this.#timers.clear(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#unwritten.length > 0) {
      const count = this.#unwritten.reduce((sum, u) => sum + u.summary.count, 0);
      this.#logger.error({ summaries: this.#unwritten.length, count }, 'refusal summaries lost at shutdown');
    }
  }

  /** The actor's interval now: a new one when the last has ended (its summary is written first). */
  #current(actor: string): Interval {
    const nowMs = this.#clock.now();
    const interval = this.#intervals.get(actor);
    if (interval && nowMs < interval.startMs + this.#limits.intervalMs) return interval;
    if (interval) this.#end(actor, interval);
    else if (this.#intervals.size >= maxTracked) this.#dropEnded(nowMs);
    const fresh: Interval = {
      startMs: nowMs,
      attempts: 0,
      audited: 0,
      summarised: 0,
      codes: new Map(),
      timer: undefined,
    };
    this.#intervals.set(actor, fresh);
    return fresh;
  }

  /** The interval is over (or the agent stops): its summary, if it has one, is written. */
  #end(actor: string, interval: Interval): void {
    this.#timers.clear(interval.timer);
    interval.timer = undefined;
    if (this.#intervals.get(actor) === interval) this.#intervals.delete(actor);
    if (interval.summarised === 0) return;
    const summary: RefusalSummary = {
      count: interval.summarised,
      codes: Object.fromEntries([...interval.codes].sort(([a], [b]) => a.localeCompare(b))),
      audited: interval.audited,
      fromMs: interval.startMs,
      untilMs: Math.min(this.#clock.now(), interval.startMs + this.#limits.intervalMs),
    };
    interval.summarised = 0;
    this.#send(actor, summary);
  }

  #send(actor: string, summary: RefusalSummary): void {
    const writing: Promise<void> = this.#write(actor, summary).then(
      () => undefined,
      (err: unknown) => {
        // The audit log fails closed meanwhile; the summary is tried again, never dropped.
        this.#logger.error({ err, actor, count: summary.count }, 'a refusal summary could not be written');
        this.#unwritten.push({ actor, summary });
        this.#retryTimer ??= this.#timers.set(() => {
          this.#retryTimer = undefined;
          this.#writeUnwritten();
        }, this.#limits.intervalMs);
      },
    );
    this.#writing.add(writing);
    void writing.finally(() => this.#writing.delete(writing));
  }

  #writeUnwritten(): void {
    const unwritten = this.#unwritten;
    this.#unwritten = [];
    for (const { actor, summary } of unwritten) this.#send(actor, summary);
  }

  #dropEnded(nowMs: number): void {
    for (const [actor, interval] of this.#intervals) {
      if (nowMs >= interval.startMs + this.#limits.intervalMs) this.#end(actor, interval);
    }
  }
}
