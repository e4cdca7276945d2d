// The agent's durable call-home outbox: every accepted report with the exact bytes that will be sent,
// its delivery state, and the log of transmissions (what left the appliance, when, and its SHA-256).
// Over 400 lines: every change of a report's state lives here, so that each keeps the outbox
// bound's count in step (see #waiting). Retention's purge of settled reports is outbox-retention.ts.

import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { LifelineError } from '../../common/errors.js';
import type { ReportEnvelope, ReportKind } from '../../protocol/index.js';
import type { AttachmentStepKind } from '../../protocol/index.js';
import type { Manifest } from '../../protocol/index.js';
import { transactionFlushedAfter } from '../../common/sqlite/index.js';
import type { AgentDatabase, OutboxState, TransmissionKind } from '../store/index.js';

export type { OutboxState, TransmissionKind };

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
  kind: TransmissionKind;
  bytes: number;
  sha256: string;
  status: number;
  answer: string;
  /** What the transmission said it carried; null when it was logged without a manifest. */
  manifest?: Manifest | null;
}

export type OutboxCounts = Record<OutboxState, number>;

/** An HTTP answer to one attempt, logged as a transmission. */
export interface DeliveryAnswer {
  status: number;
  answer: string;
  /** The manifest sent with the attempt, as JSON. */
  manifest?: string | null;
}

const outboxFullCode = 'CALLHOME_OUTBOX_FULL';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

type Db = Kysely<AgentDatabase>;

/** Written in the same commit as a settlement (the audit entry that records it). */
export type AlsoWrite = (trx: Kysely<AgentDatabase>) => Promise<void>;

export class OutboxStore {
  readonly #db: Db;
  /**
   * Pending + held reports, kept between group commits so that accepting does not count the
   * whole backlog each time. Forgotten (and counted again) after any other change of states.
   */
  #waiting: number | undefined;

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
    options: {
      nowMs: number;
      maxPending: number;
      hold?: boolean;
      /** Written in the same commit as the report (a problem's row), so neither exists alone. */
      alsoWrite?: (trx: Kysely<AgentDatabase>) => Promise<void>;
    },
  ): Promise<OutboxItem> {
    return this.#db.transaction().execute(async (trx) => {
      this.#waiting = undefined; // counted again by the next group commit
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
      const row = newRow(envelope, Number(last?.seq ?? 0) + 1, options.nowMs, options.hold ?? false);
      await trx.insertInto('outbox').values(row).execute();
      await options.alsoWrite?.(trx);
      return toItem(row);
    });
  }

  /**
   * Stores several reports in one committed transaction (group commit: one disk flush for all), in
   * order. A report refused for a full outbox is refused alone; the result at each index is the
   * stored item or that error. Unlike accept(), an id already stored fails the whole group: the
   * ids come fresh from Outbox.accept and are never offered twice.
   */
  async acceptMany(
    requests: ReadonlyArray<{ envelope: ReportEnvelope; hold: boolean }>,
    options: { nowMs: number; maxPending: number },
  ): Promise<Array<OutboxItem | LifelineError>> {
    // Transactions run one at a time on the one connection, so the count read and written inside
    // this callback is not raced by another; a failed commit forgets it.
    return this.#guardWaiting(async (trx) => {
      let waitingCount =
        this.#waiting ??
        Number(
          (
            await trx
              .selectFrom('outbox')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('state', 'in', ['pending', 'held'])
              .executeTakeFirstOrThrow()
          ).n,
        );
      const last = await trx
        .selectFrom('outbox')
        .select((eb) => eb.fn.max('accept_seq').as('seq'))
        .executeTakeFirst();
      let seq = Number(last?.seq ?? 0);
      // Ids are fresh random 128-bit values (Outbox.accept): a clash fails the group, never merges.
      const results: Array<OutboxItem | LifelineError> = [];
      const rows: AgentDatabase['outbox'][] = [];
      for (const { envelope, hold } of requests) {
        if (waitingCount + 1 > options.maxPending) {
          results.push(
            new LifelineError(
              outboxFullCode,
              `the call-home outbox is full: ${waitingCount} reports wait for delivery (limit ${options.maxPending})`,
            ),
          );
          continue;
        }
        const row = newRow(envelope, ++seq, options.nowMs, hold);
        rows.push(row);
        waitingCount++;
        results.push(toItem(row));
      }
      // Multi-row inserts: one statement per 100 reports instead of one per report.
      for (let i = 0; i < rows.length; i += 100)
        await trx
          .insertInto('outbox')
          .values(rows.slice(i, i + 100))
          .execute();
      this.#waiting = waitingCount;
      return results;
    });
  }

  /** A transaction that keeps #waiting only if it commits. */
  async #guardWaiting<T>(work: (trx: Kysely<AgentDatabase>) => Promise<T>): Promise<T> {
    try {
      return await transactionFlushedAfter(this.#db, work);
    } catch (err) {
      this.#waiting = undefined;
      throw err;
    }
  }

  /**
   * Pending reports due at nowMs, oldest first. A report is not due while an older report with the
   * same order key is still pending or held: reports of one key go out in the order accepted.
   * Reports named in `except` (already on their way) are passed over.
   */
  async nextDue(nowMs: number, limit: number, except: Iterable<string> = []): Promise<OutboxItem[]> {
    const skipped = [...except];
    let query = this.#unblocked()
      .selectAll('o')
      // The unary + keeps SQLite from choosing outbox_due for this term, which would read every
      // due report and sort them; outbox_pending_order yields them in order and stops at `limit`.
      .where(sql<number>`+${sql.ref('o.next_attempt_at')}`, '<=', nowMs);
    if (skipped.length > 0) query = query.where('o.id', 'not in', skipped);
    const rows = await query.orderBy('o.accept_seq').limit(limit).execute();
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
  async markSent(
    id: string,
    nowMs: number,
    answerJson: string,
    status: number,
    manifestJson?: string,
    alsoWrite?: AlsoWrite,
  ): Promise<void> {
    await this.#settle(
      id,
      nowMs,
      { state: 'sent', sent_at: nowMs, last_error: null, answer: answerJson },
      {
        status,
        answer: answerJson,
        ...(manifestJson !== undefined ? { manifest: manifestJson } : {}),
      },
      alsoWrite,
    );
  }

  /** The hub refused it as invalid: kept and shown, never retried, never dropped. */
  async markRejected(
    id: string,
    nowMs: number,
    status: number,
    answerJson: string,
    manifestJson?: string,
    alsoWrite?: AlsoWrite,
  ): Promise<void> {
    await this.#settle(
      id,
      nowMs,
      { state: 'rejected', last_error: `refused by the hub (HTTP ${status})`, answer: answerJson },
      { status, answer: answerJson, ...(manifestJson !== undefined ? { manifest: manifestJson } : {}) },
      alsoWrite,
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
      Pick<AgentDatabase['outbox'], 'state' | 'sent_at' | 'last_error' | 'answer' | 'next_attempt_at'>
    >,
    answered: DeliveryAnswer | undefined,
    alsoWrite?: AlsoWrite,
  ): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      this.#waiting = undefined;
      await settleIn(trx, id, nowMs, set, answered);
      await alsoWrite?.(trx);
    });
  }

  /**
   * The outcomes of one batch transmission, committed together (one disk commit for the batch):
   * each report is settled exactly as markSent / markRejected / markFailed would.
   */
  async settleMany(nowMs: number, settlements: readonly Settlement[], alsoWrite?: AlsoWrite): Promise<void> {
    if (settlements.length === 0) return;
    await this.#guardWaiting(async (trx) => {
      // Few statements per batch: one read, one update per 100 reports sent (one per report
      // otherwise: refusals and failures are rare), one insert per 100 log rows.
      const rows = await trx
        .selectFrom('outbox')
        .select(['id', 'kind', 'bytes', 'sha256', 'state'])
        .where(
          'id',
          'in',
          settlements.map((s) => s.id),
        )
        .execute();
      const byId = new Map(rows.map((row) => [row.id, row]));
      const logged: Array<Omit<AgentDatabase['transmissions'], 'seq'>> = [];
      const sent: Array<{ id: string; answer: string }> = [];
      for (const s of settlements) {
        const row = byId.get(s.id);
        if (!row) throw new LifelineError('STORE_FAILED', `no report ${s.id} in the outbox`);
        if (s.outcome === 'sent') sent.push({ id: s.id, answer: s.answer });
        else {
          const set: SettleSet =
            s.outcome === 'failed'
              ? { last_error: s.error, next_attempt_at: s.nextAttemptAtMs }
              : { state: 'rejected', last_error: `refused by the hub (HTTP ${s.status})`, answer: s.answer };
          await trx
            .updateTable('outbox')
            .set((eb) => ({ ...set, attempts: eb('attempts', '+', 1) }))
            .where('id', '=', s.id)
            .execute();
        }
        const answered: DeliveryAnswer | undefined =
          s.outcome === 'failed'
            ? s.answered
            : {
                status: s.status,
                answer: s.answer,
                ...(s.manifest !== undefined ? { manifest: s.manifest } : {}),
              };
        if (answered)
          logged.push({
            report_id: s.id,
            at: nowMs,
            kind: row.kind,
            bytes: row.bytes,
            sha256: row.sha256,
            status: answered.status,
            answer: answered.answer,
            manifest: answered.manifest ?? null,
          });
      }
      // As markSent, for up to 100 reports a statement: sent now, no error, each its own answer.
      for (let k = 0; k < sent.length; k += 100) {
        const answers = sql.join(sent.slice(k, k + 100).map(({ id, answer }) => sql`(${id}, ${answer})`));
        await sql`update outbox
          set state = 'sent', sent_at = ${nowMs}, last_error = null, answer = a.column2,
            attempts = attempts + 1
          from (values ${answers}) as a
          where outbox.id = a.column1`.execute(trx);
      }
      for (let k = 0; k < logged.length; k += 100)
        await trx
          .insertInto('transmissions')
          .values(logged.slice(k, k + 100))
          .execute();
      if (this.#waiting !== undefined) {
        const settledNow = settlements.filter((st) => {
          const before = byId.get(st.id)?.state;
          return st.outcome !== 'failed' && (before === 'pending' || before === 'held');
        }).length;
        this.#waiting -= settledNow;
      }
      await alsoWrite?.(trx);
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

  /** Logs one answered step of an attachment upload (start, a chunk, complete) as a transmission. */
  async recordUploadStep(entry: {
    attachmentId: string;
    atMs: number;
    kind: AttachmentStepKind;
    bytes: number;
    sha256: string;
    status: number;
    answer: string;
    /** The manifest the step carried (what, how many bytes, SHA-256). */
    manifest?: Manifest;
  }): Promise<void> {
    // One per chunk answered while the next chunks go out: the flush runs off the event loop.
    await transactionFlushedAfter(this.#db, (trx) =>
      trx
        .insertInto('transmissions')
        .values({
          report_id: entry.attachmentId,
          at: entry.atMs,
          kind: entry.kind,
          bytes: entry.bytes,
          sha256: entry.sha256,
          status: entry.status,
          answer: entry.answer,
          manifest: entry.manifest ? JSON.stringify(entry.manifest) : null,
        })
        .execute(),
    );
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
      manifest: parseManifest(row.manifest),
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
}

function parseManifest(json: string | null | undefined): Manifest | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as Manifest;
  } catch {
    return null;
  }
}

type SettleSet = Partial<
  Pick<AgentDatabase['outbox'], 'state' | 'sent_at' | 'last_error' | 'answer' | 'next_attempt_at'>
>;

/** One report's outcome in a batch transmission (see OutboxStore.settleMany). */
export type Settlement =
  | { id: string; outcome: 'sent' | 'rejected'; status: number; answer: string; manifest?: string }
  | { id: string; outcome: 'failed'; error: string; nextAttemptAtMs: number; answered?: DeliveryAnswer };

async function settleIn(
  trx: Kysely<AgentDatabase>,
  id: string,
  nowMs: number,
  set: SettleSet,
  answered: DeliveryAnswer | undefined,
): Promise<void> {
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
}

function newRow(
  envelope: ReportEnvelope,
  acceptSeq: number,
  nowMs: number,
  hold: boolean,
): AgentDatabase['outbox'] {
  const body = JSON.stringify(envelope);
  return {
    id: envelope.id,
    accept_seq: acceptSeq,
    kind: envelope.kind,
    order_key: envelope.orderKey,
    created_at: envelope.createdAtMs,
    body,
    bytes: Buffer.byteLength(body, 'utf8'),
    sha256: sha256Hex(body),
    state: hold ? 'held' : 'pending',
    attempts: 0,
    next_attempt_at: nowMs,
    last_error: null,
    sent_at: null,
    answer: null,
  };
}

function toItem(row: AgentDatabase['outbox']): OutboxItem {
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
