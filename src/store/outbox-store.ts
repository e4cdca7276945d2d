// The agent's durable call-home outbox: every accepted report with the exact bytes that will be sent,
// its delivery state, and the log of transmissions (what left the appliance, when, and its SHA-256).

import { createHash } from 'node:crypto';
import { sql, type Generated, type Kysely, type Migration } from 'kysely';
import { LifelineError } from '../common/errors.js';
import type { ReportEnvelope, ReportKind } from '../protocol/reports.js';

export const outboxStates = ['pending', 'held', 'sent', 'rejected'] as const;
export type OutboxState = (typeof outboxStates)[number];

export interface OutboxTables {
  outbox: {
    id: string;
    /** Acceptance order; an explicit column because a plain rowid may change on VACUUM. */
    accept_seq: number;
    kind: ReportKind;
    order_key: string | null;
    created_at: number;
    body: string;
    bytes: number;
    sha256: string;
    state: OutboxState;
    attempts: number;
    next_attempt_at: number;
    last_error: string | null;
    sent_at: number | null;
    answer: string | null;
  };
  transmissions: {
    seq: Generated<number>;
    report_id: string;
    at: number;
    kind: ReportKind;
    bytes: number;
    sha256: string;
    status: number;
    answer: string;
  };
}

export const outboxMigrations: Record<string, Migration> = {
  '1001-outbox': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('accept_seq', 'integer', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('order_key', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('sent_at', 'bigint')
        .addColumn('answer', 'text')
        .execute();
      await sql`create index outbox_due on outbox (state, next_attempt_at)`.execute(db);
      await sql`create index outbox_order on outbox (order_key, accept_seq)`.execute(db);
      await db.schema
        .createTable('transmissions')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('report_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('answer', 'text', (c) => c.notNull())
        .execute();
      await sql`create index transmissions_report on transmissions (report_id)`.execute(db);
    },
  },
};

export interface OutboxItem {
  id: string;
  kind: ReportKind;
  orderKey: string | null;
  createdAtMs: number;
  /** The exact JSON bytes of the envelope as sent (and sent again, unchanged, on a retry). */
  body: string;
  bytes: number;
  sha256: string;
  state: OutboxState;
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
  sentAtMs: number | null;
  answer: string | null;
}

export interface Transmission {
  seq: number;
  reportId: string;
  atMs: number;
  kind: ReportKind;
  bytes: number;
  sha256: string;
  status: number;
  answer: string;
}

export type OutboxCounts = Record<OutboxState, number>;

/** An HTTP answer to one attempt, logged as a transmission. */
export interface DeliveryAnswer {
  status: number;
  answer: string;
}

const outboxFullCode = 'CALLHOME_OUTBOX_FULL';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

type Db = Kysely<OutboxTables>;

export class OutboxStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Stores a report, in one committed transaction (synchronous=FULL: it survives a crash once this
   * resolves). Refuses when pending + held reports would exceed maxPending. Accepting the same id
   * again is a no-op that returns the stored item.
   */
  async accept(
    envelope: ReportEnvelope,
    options: { nowMs: number; maxPending: number; hold?: boolean },
  ): Promise<OutboxItem> {
    const body = JSON.stringify(envelope);
    return this.#db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('outbox')
        .selectAll()
        .where('id', '=', envelope.id)
        .executeTakeFirst();
      if (existing) return toItem(existing);
      const waiting = await trx
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('state', 'in', ['pending', 'held'])
        .executeTakeFirstOrThrow();
      if (Number(waiting.n) + 1 > options.maxPending) {
        throw new LifelineError(
          outboxFullCode,
          `the call-home outbox is full: ${Number(waiting.n)} reports wait for delivery (limit ${options.maxPending})`,
        );
      }
      const last = await trx
        .selectFrom('outbox')
        .select((eb) => eb.fn.max('accept_seq').as('seq'))
        .executeTakeFirst();
      const row: OutboxTables['outbox'] = {
        id: envelope.id,
        accept_seq: Number(last?.seq ?? 0) + 1,
        kind: envelope.kind,
        order_key: envelope.orderKey,
        created_at: envelope.createdAtMs,
        body,
        bytes: Buffer.byteLength(body, 'utf8'),
        sha256: sha256Hex(body),
        state: options.hold ? 'held' : 'pending',
        attempts: 0,
        next_attempt_at: options.nowMs,
        last_error: null,
        sent_at: null,
        answer: null,
      };
      await trx.insertInto('outbox').values(row).execute();
      return toItem(row);
    });
  }

  /**
   * Pending reports due at nowMs, oldest first. A report is not due while an older report with the
   * same order key is still pending or held: reports of one key go out in the order accepted.
   */
  async nextDue(nowMs: number, limit: number): Promise<OutboxItem[]> {
    const rows = await this.#unblocked()
      .selectAll('o')
      .where('o.next_attempt_at', '<=', nowMs)
      .orderBy('o.accept_seq')
      .limit(limit)
      .execute();
    return rows.map(toItem);
  }

  /** The earliest time an unblocked pending report is due, or undefined when none is waiting. */
  async nextAttemptAt(): Promise<number | undefined> {
    const row = await this.#unblocked()
      .select((eb) => eb.fn.min('o.next_attempt_at').as('at'))
      .executeTakeFirst();
    return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
  }

  #unblocked() {
    return this.#db
      .selectFrom('outbox as o')
      .where('o.state', '=', 'pending')
      .where((eb) =>
        eb.or([
          eb('o.order_key', 'is', null),
          eb.not(
            eb.exists(
              eb
                .selectFrom('outbox as older')
                .select('older.id')
                .whereRef('older.order_key', '=', 'o.order_key')
                .whereRef('older.accept_seq', '<', 'o.accept_seq')
                .where('older.state', 'in', ['pending', 'held']),
            ),
          ),
        ]),
      );
  }

  /** The hub stored it (or had it already): done, and logged as a transmission in the same commit. */
  async markSent(id: string, nowMs: number, answerJson: string, status: number): Promise<void> {
    await this.#settle(
      id,
      nowMs,
      { state: 'sent', sent_at: nowMs, last_error: null, answer: answerJson },
      {
        status,
        answer: answerJson,
      },
    );
  }

  /** The hub refused it as invalid: kept and shown, never retried, never dropped. */
  async markRejected(id: string, nowMs: number, status: number, answerJson: string): Promise<void> {
    await this.#settle(
      id,
      nowMs,
      { state: 'rejected', last_error: `refused by the hub (HTTP ${status})`, answer: answerJson },
      { status, answer: answerJson },
    );
  }

  /** A failed attempt, to be retried at nextAttemptAtMs; with an HTTP answer it is logged too. */
  async markFailed(
    id: string,
    nowMs: number,
    error: string,
    nextAttemptAtMs: number,
    answered?: DeliveryAnswer,
  ): Promise<void> {
    await this.#settle(id, nowMs, { last_error: error, next_attempt_at: nextAttemptAtMs }, answered);
  }

  async #settle(
    id: string,
    nowMs: number,
    set: Partial<
      Pick<OutboxTables['outbox'], 'state' | 'sent_at' | 'last_error' | 'answer' | 'next_attempt_at'>
    >,
    answered: DeliveryAnswer | undefined,
  ): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('outbox')
        .select(['kind', 'bytes', 'sha256'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw new LifelineError('STORE_FAILED', `no report ${id} in the outbox`);
      await trx
        .updateTable('outbox')
        .set((eb) => ({ ...set, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', id)
        .execute();
      if (answered) {
        await trx
          .insertInto('transmissions')
          .values({
            report_id: id,
            at: nowMs,
            kind: row.kind,
            bytes: row.bytes,
            sha256: row.sha256,
            ...answered,
          })
          .execute();
      }
    });
  }

  /** A held report, or every one with 'all' (ids are hex), becomes pending and due at once. Returns the count. */
  async release(id: string): Promise<number> {
    let query = this.#db.updateTable('outbox').set({ state: 'pending' }).where('state', '=', 'held');
    if (id !== 'all') query = query.where('id', '=', id);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Reports in acceptance order; at most `limit` (default 1000). */
  async list(options: { state?: OutboxState; limit?: number } = {}): Promise<OutboxItem[]> {
    let query = this.#db.selectFrom('outbox').selectAll().orderBy('accept_seq');
    if (options.state !== undefined) query = query.where('state', '=', options.state);
    const rows = await query.limit(options.limit ?? 1000).execute();
    return rows.map(toItem);
  }

  async get(id: string): Promise<OutboxItem | undefined> {
    const row = await this.#db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toItem(row);
  }

  async recordTransmission(entry: Omit<Transmission, 'seq'>): Promise<void> {
    await this.#db
      .insertInto('transmissions')
      .values({
        report_id: entry.reportId,
        at: entry.atMs,
        kind: entry.kind,
        bytes: entry.bytes,
        sha256: entry.sha256,
        status: entry.status,
        answer: entry.answer,
      })
      .execute();
  }

  /** The transmission log in order; at most `limit` (default 1000) entries after `afterSeq`. */
  async listTransmissions(
    options: { reportId?: string; afterSeq?: number; limit?: number; newestFirst?: boolean } = {},
  ): Promise<Transmission[]> {
    let query = this.#db
      .selectFrom('transmissions')
      .selectAll()
      .orderBy('seq', options.newestFirst ? 'desc' : 'asc');
    if (options.reportId !== undefined) query = query.where('report_id', '=', options.reportId);
    if (options.afterSeq !== undefined) query = query.where('seq', '>', options.afterSeq);
    const rows = await query.limit(options.limit ?? 1000).execute();
    return rows.map((row) => ({
      seq: Number(row.seq),
      reportId: row.report_id,
      atMs: Number(row.at),
      kind: row.kind,
      bytes: Number(row.bytes),
      sha256: row.sha256,
      status: Number(row.status),
      answer: row.answer,
    }));
  }

  async counts(): Promise<OutboxCounts> {
    const rows = await this.#db
      .selectFrom('outbox')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    const counts: OutboxCounts = { pending: 0, held: 0, sent: 0, rejected: 0 };
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }

  async close(): Promise<void> {
    await this.#db.destroy();
  }
}

function toItem(row: OutboxTables['outbox']): OutboxItem {
  return {
    id: row.id,
    kind: row.kind,
    orderKey: row.order_key,
    createdAtMs: Number(row.created_at),
    body: row.body,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    state: row.state,
    attempts: Number(row.attempts),
    nextAttemptAtMs: Number(row.next_attempt_at),
    lastError: row.last_error,
    sentAtMs: row.sent_at === null ? null : Number(row.sent_at),
    answer: row.answer,
  };
}
