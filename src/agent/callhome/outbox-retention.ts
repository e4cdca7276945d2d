// Keeps the outbox from growing forever: sent and rejected reports, with their transmission log,
// are deleted `callhome.keepSent` after they settled (hourly, and once at start). Pending and held
// reports are never deleted. Each purge that removed something is in the audit log
// (`callhome.purged` with counts).

import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { OutboxStore } from '../store/index.js';

const hourMs = 3_600_000;
const batch = 5000;

export interface SentPurgeResult {
  reports: number;
  transmissions: number;
  cutoffMs: number;
}

export class SentReportPurger {
  readonly #store: OutboxStore;
  readonly #keepSentMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #record: (action: string, detail: Record<string, unknown>) => Promise<unknown>;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #closed = false;

  constructor(options: {
    store: OutboxStore;
    keepSentMs: number;
    clock: Clock;
    logger: Logger;
    /** Writes an agent audit entry. */
    record: (action: string, detail: Record<string, unknown>) => Promise<unknown>;
    intervalMs?: number;
  }) {
    this.#store = options.store;
    this.#keepSentMs = options.keepSentMs;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#record = options.record;
    this.#intervalMs = options.intervalMs ?? hourMs;
  }

  /** Deletes what has been settled longer than keepSent, as of the clock's now. */
  async purgeOnce(): Promise<SentPurgeResult> {
    const cutoffMs = this.#clock.now() - this.#keepSentMs;
    const total = { reports: 0, transmissions: 0, cutoffMs };
    for (;;) {
      const removed = await this.#store.purgeSettledBefore(cutoffMs, batch);
      total.reports += removed.reports;
      total.transmissions += removed.transmissions;
      if (removed.reports < batch && removed.transmissions < batch) break;
    }
    if (total.reports > 0 || total.transmissions > 0) {
      await this.#record('callhome.purged', {
        reports: total.reports,
        transmissions: total.transmissions,
        settledBefore: new Date(cutoffMs).toISOString(),
        keepSentMs: this.#keepSentMs,
      });
    }
    return total;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#running = this.purgeOnce()
        .catch((err: unknown) => this.#logger.error({ err }, 'outbox retention failed'))
        .then(() => {
          this.#running = undefined;
          if (!this.#closed) this.#schedule(this.#intervalMs);
        });
    }, delayMs);
    this.#timer.unref();
  }

  /** Stops the schedule; a purge in progress finishes first. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
