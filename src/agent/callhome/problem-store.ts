// The agent's list of its problems: what it opened, for itself or a managed system, whether each is
// open, how often it recurred (storm control), and the vendor's problem number once the hub gave it.
// The rows are written in the same transaction as the report that opens, updates or closes them.

import type { Kysely } from 'kysely';
import type { AgentDatabase, ProblemState } from '../store/index.js';

export type { ProblemState };

export interface LocalProblem {
  localId: string;
  summary: string;
  severity: string;
  referenceCode: string | null;
  system: { serial: string; type: string | null; model: string | null } | null;
  state: ProblemState;
  openedAtMs: number;
  updatedAtMs: number;
  closedAtMs: number | null;
  lastReportedAtMs: number;
  occurrences: number;
  /** The vendor's problem number (P-000001), null until the hub's answer arrived. */
  vendorNumber: string | null;
  openReportId: string;
}

export interface NewProblem {
  localId: string;
  summary: string;
  severity: string;
  referenceCode?: string | undefined;
  system?: { serial: string; type?: string | undefined; model?: string | undefined } | undefined;
  openReportId: string;
  nowMs: number;
}

type Db = Kysely<AgentDatabase>;

export class ProblemStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** `db` lets the write join a transaction of the same database (the outbox's accept). */
  async insert(problem: NewProblem, db: Db = this.#db): Promise<void> {
    await db
      .insertInto('problems')
      .values({
        local_id: problem.localId,
        summary: problem.summary,
        severity: problem.severity,
        reference_code: problem.referenceCode ?? null,
        system_serial: problem.system?.serial ?? null,
        system_type: problem.system?.type ?? null,
        system_model: problem.system?.model ?? null,
        state: 'open',
        opened_at: problem.nowMs,
        updated_at: problem.nowMs,
        closed_at: null,
        last_reported_at: problem.nowMs,
        occurrences: 1,
        vendor_number: null,
        open_report_id: problem.openReportId,
      })
      .execute();
  }

  async get(localId: string): Promise<LocalProblem | undefined> {
    const row = await this.#db
      .selectFrom('problems')
      .selectAll()
      .where('local_id', '=', localId)
      .executeTakeFirst();
    return row && toProblem(row);
  }

  /** Newest first; at most `limit` (default 1000). */
  async list(options: { state?: ProblemState; limit?: number } = {}): Promise<LocalProblem[]> {
    let query = this.#db.selectFrom('problems').selectAll().orderBy('opened_at', 'desc').orderBy('local_id');
    if (options.state) query = query.where('state', '=', options.state);
    return (await query.limit(options.limit ?? 1000).execute()).map(toProblem);
  }

  /**
   * The open problem the same report would repeat: same reference code and system serial (both as
   * given; no serial matches no serial), last reported at or after sinceMs.
   */
  async findRecurrence(
    referenceCode: string,
    systemSerial: string | null,
    sinceMs: number,
  ): Promise<LocalProblem | undefined> {
    const row = await this.#db
      .selectFrom('problems')
      .selectAll()
      .where('state', '=', 'open')
      .where('reference_code', '=', referenceCode)
      .where('system_serial', systemSerial === null ? 'is' : '=', systemSerial)
      .where('last_reported_at', '>=', sinceMs)
      .orderBy('last_reported_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toProblem(row);
  }

  /** Counts one more occurrence; returns the new count. */
  async recordOccurrence(localId: string, nowMs: number, db: Db = this.#db): Promise<number> {
    const row = await db
      .updateTable('problems')
      .set((eb) => ({ occurrences: eb('occurrences', '+', 1), last_reported_at: nowMs, updated_at: nowMs }))
      .where('local_id', '=', localId)
      .returning('occurrences')
      .executeTakeFirstOrThrow();
    return Number(row.occurrences);
  }

  async touch(localId: string, nowMs: number, db: Db = this.#db): Promise<void> {
    await db.updateTable('problems').set({ updated_at: nowMs }).where('local_id', '=', localId).execute();
  }

  async close(localId: string, nowMs: number, db: Db = this.#db): Promise<void> {
    await db
      .updateTable('problems')
      .set({ state: 'closed', closed_at: nowMs, updated_at: nowMs })
      .where('local_id', '=', localId)
      .execute();
  }

  /** Records the vendor's number once; a number already recorded is kept. Returns whether it was set. */
  async setVendorNumber(localId: string, vendorNumber: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('problems')
      .set({ vendor_number: vendorNumber })
      .where('local_id', '=', localId)
      .where('vendor_number', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Problems still waiting for their vendor number (to fill in after a restart). */
  async withoutVendorNumber(limit = 1000): Promise<{ localId: string; openReportId: string }[]> {
    const rows = await this.#db
      .selectFrom('problems')
      .select(['local_id', 'open_report_id'])
      .where('vendor_number', 'is', null)
      .limit(limit)
      .execute();
    return rows.map((r) => ({ localId: r.local_id, openReportId: r.open_report_id }));
  }
}

function toProblem(row: AgentDatabase['problems']): LocalProblem {
  return {
    localId: row.local_id,
    summary: row.summary,
    severity: row.severity,
    referenceCode: row.reference_code,
    system:
      row.system_serial === null
        ? null
        : { serial: row.system_serial, type: row.system_type, model: row.system_model },
    state: row.state === 'closed' ? 'closed' : 'open',
    openedAtMs: Number(row.opened_at),
    updatedAtMs: Number(row.updated_at),
    closedAtMs: row.closed_at === null ? null : Number(row.closed_at),
    lastReportedAtMs: Number(row.last_reported_at),
    occurrences: Number(row.occurrences),
    vendorNumber: row.vendor_number,
    openReportId: row.open_report_id,
  };
}
