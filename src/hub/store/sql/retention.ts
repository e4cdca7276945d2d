// What retention removes from the hub's store, and the counters that must outlive what it removes:
// the vendor's problem numbers come from a counter row, so a number is never given twice even
// after the newest problem has been purged. Each purge is written with its audit entry in one
// transaction: nothing disappears without a record of it.

import { sql, type Kysely, type QueryExecutorProvider } from 'kysely';
import type { HubDatabase } from './schema.js';
import type { HubAuditEntry } from '../hub-store.js';
import type { AgingReportKind, HubRetentionStore, PurgeAudit } from '../retention.js';
import { auditRow } from './rows.js';

/**
 * The next value of a named counter, inside the caller's transaction (SQLite has one writer at a
 * time; PostgreSQL locks the row until the transaction ends).
 */
export async function nextCounterValue(db: QueryExecutorProvider, name: string): Promise<number> {
  const result = await sql<{ value: number | string }>`
    insert into counters (name, value) values (${name}, 1)
    on conflict (name) do update set value = counters.value + 1
    returning value`.execute(db);
  const value = result.rows[0]?.value;
  if (value === undefined) throw new Error(`counter ${name} returned no value`);
  return Number(value);
}

const lastRunKey = 'retention.last_run';

export class SqlRetentionStore implements HubRetentionStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async purgeClosedProblems(
    cutoffMs: number,
    limit: number,
    audit?: PurgeAudit<{ problemNumbers: string[]; reports: number }>,
  ): Promise<{ problemNumbers: string[]; reports: number }> {
    return this.#db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('problems')
        .select('number')
        .where('state', '=', 'closed')
        .where('closed_at', '<', cutoffMs)
        .orderBy('closed_at')
        .limit(limit)
        .execute();
      const problemNumbers = rows.map((r) => r.number);
      if (problemNumbers.length === 0) return { problemNumbers, reports: 0 };
      const reports = await trx
        .deleteFrom('reports')
        .where('problem_number', 'in', problemNumbers)
        .executeTakeFirst();
      await trx.deleteFrom('data_requests').where('problem_number', 'in', problemNumbers).execute();
      await trx.deleteFrom('problems').where('number', 'in', problemNumbers).execute();
      const removed = { problemNumbers, reports: Number(reports.numDeletedRows) };
      const entry = audit?.(removed);
      if (entry) await trx.insertInto('hub_audit').values(auditRow(entry)).execute();
      return removed;
    });
  }

  async purgeReports(
    kind: AgingReportKind,
    cutoffMs: number,
    options: { limit: number; keepLatestPerStation?: boolean },
    audit?: PurgeAudit<{ reports: number }>,
  ): Promise<{ reports: number }> {
    return this.#db.transaction().execute(async (trx) => {
      let victims = trx
        .selectFrom('reports as r')
        .select('r.id')
        .where('r.kind', '=', kind)
        .where('r.received_at', '<', cutoffMs);
      if (options.keepLatestPerStation) {
        victims = victims.where((eb) =>
          eb.exists(
            eb
              .selectFrom('reports as newer')
              .select('newer.id')
              .where('newer.kind', '=', kind)
              .whereRef('newer.station_id', '=', 'r.station_id')
              .whereRef('newer.received_at', '>', 'r.received_at'),
          ),
        );
      }
      const ids = (await victims.limit(options.limit).execute()).map((r) => r.id);
      if (ids.length === 0) return { reports: 0 };
      const result = await trx.deleteFrom('reports').where('id', 'in', ids).executeTakeFirst();
      const removed = { reports: Number(result.numDeletedRows) };
      const entry = audit?.(removed);
      if (entry) await trx.insertInto('hub_audit').values(auditRow(entry)).execute();
      return removed;
    });
  }

  async saveLastRun(summary: object, audit?: Omit<HubAuditEntry, 'seq'>): Promise<void> {
    const value = JSON.stringify(summary);
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('hub_settings')
        .values({ key: lastRunKey, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
      if (audit) await trx.insertInto('hub_audit').values(auditRow(audit)).execute();
    });
  }

  async lastRun(): Promise<unknown> {
    const row = await this.#db
      .selectFrom('hub_settings')
      .select('value')
      .where('key', '=', lastRunKey)
      .executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.value) as unknown);
  }
}
