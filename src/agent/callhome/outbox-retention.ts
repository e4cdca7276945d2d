// Keeps the outbox from growing forever: sent and rejected reports, with their transmission log,
// are deleted `callhome.keepSent` after they settled (hourly, and once at start). Pending and held
// reports are never deleted. Each purge that removed something is in the audit log
// (`callhome.purged` with counts).

import { sql, type Kysely } from 'kysely';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { AgentDatabase } from '../store/index.js';

const hourMs = 3_600_000;
const batch = 5000;

export interface SentPurgeResult {
  reports: number;
  transmissions: number;
  cutoffMs: number;
}

export class SentReportPurger {
  readonly #db: Kysely<AgentDatabase>;
  readonly #keepSentMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #record: (action: string, detail: Record<string, unknown>) => Promise<unknown>;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #closed = false;

  constructor(options: {
    db: Kysely<AgentDatabase>;
    keepSentMs: number;
    clock: Clock;
    logger: Logger;
    /** Writes an agent audit entry. */
    record: (action: string, detail: Record<string, unknown>) => Promise<unknown>;
    intervalMs?: number;
  }) {
    this.#db = options.db;
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
      const removed = await purgeSettledBefore(this.#db, cutoffMs, batch);
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

/**
 * Retention (callhome.keepSent): deletes up to `limit` sent and rejected reports settled before
 * cutoffMs with their transmissions, and transmissions before cutoffMs of no report in the outbox
 * (upload steps), in one transaction. Pending and held reports are never touched.
 */
export async function purgeSettledBefore(
  db: Kysely<AgentDatabase>,
  cutoffMs: number,
  limit = 5000,
): Promise<{ reports: number; transmissions: number }> {
  return db.transaction().execute(async (trx) => {
    // A rejected report has no sent_at: it settled at its last transmission.
    const settledAt = sql<number>`coalesce(o.sent_at, (select max(t.at) from transmissions t where t.report_id = o.id), o.created_at)`;
    const ids = (
      await trx
        .selectFrom('outbox as o')
        .select('o.id')
        .where('o.state', 'in', ['sent', 'rejected'])
        .where(settledAt, '<', cutoffMs)
        .limit(limit)
        .execute()
    ).map((r) => r.id);
    let transmissions = 0;
    if (ids.length > 0) {
      const logged = await trx.deleteFrom('transmissions').where('report_id', 'in', ids).executeTakeFirst();
      transmissions += Number(logged.numDeletedRows);
      await trx.deleteFrom('outbox').where('id', 'in', ids).execute();
    }
    const orphans = await trx
      .deleteFrom('transmissions')
      .where('seq', 'in', (eb) =>
        eb
          .selectFrom('transmissions as t')
          .select('t.seq')
          .where('t.at', '<', cutoffMs)
          .where((w) =>
            w.not(w.exists(w.selectFrom('outbox as o').select('o.id').whereRef('o.id', '=', 't.report_id'))),
          )
          .limit(limit),
      )
      .executeTakeFirst();
    transmissions += Number(orphans.numDeletedRows);
    return { reports: ids.length, transmissions };
  });
}
