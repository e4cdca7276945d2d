// Requests from support engineers for more error data about a problem. The appliance only dials
// out, so a request waits here until the station fetches it on its next call-home poll; the
// appliance administrator's answer (sent or declined, with a note) comes back the same way.

import type { Kysely } from 'kysely';
import { LifelineError } from '../../../common/errors.js';
import {
  newDataRequestId,
  type DataRequestAudit,
  type HubDataRequest,
  type HubDataRequestStore,
  type StationDataRequest,
} from '../data-requests.js';
import { auditRow } from './rows.js';
import type { HubDatabase } from './schema.js';

function toRequest(row: HubDatabase['data_requests']): HubDataRequest {
  const num = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: row.id,
    problemNumber: row.problem_number,
    stationId: row.station_id,
    note: row.note,
    requestedBy: row.requested_by,
    requestedAtMs: Number(row.requested_at),
    state: row.state,
    fetchedAtMs: num(row.fetched_at),
    answerNote: row.answer_note,
    answeredAtMs: num(row.answered_at),
    answerReceivedAtMs: num(row.answer_received_at),
  };
}

export class SqlDataRequestStore implements HubDataRequestStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async create(
    request: { problemNumber: string; note: string; requestedBy: string; nowMs: number },
    auditFor?: DataRequestAudit,
  ): Promise<HubDataRequest> {
    return this.#db.transaction().execute(async (trx) => {
      const problem = await trx
        .selectFrom('problems')
        .select(['station_id', 'state'])
        .where('number', '=', request.problemNumber)
        .executeTakeFirst();
      if (!problem) throw new LifelineError('API_NOT_FOUND', `no problem ${request.problemNumber}`);
      if (problem.state !== 'open') {
        throw new LifelineError(
          'API_BAD_REQUEST',
          `problem ${request.problemNumber} is closed: more error data can be requested for open problems only`,
        );
      }
      const row: HubDatabase['data_requests'] = {
        id: newDataRequestId(),
        problem_number: request.problemNumber,
        station_id: problem.station_id,
        note: request.note,
        requested_by: request.requestedBy,
        requested_at: request.nowMs,
        state: 'open',
        fetched_at: null,
        answer_note: null,
        answered_at: null,
        answer_received_at: null,
      };
      await trx.insertInto('data_requests').values(row).execute();
      const created = toRequest(row);
      if (auditFor)
        await trx
          .insertInto('hub_audit')
          .values(auditRow(auditFor(created)))
          .execute();
      return created;
    });
  }

  async fetchOpenForStation(stationId: string, nowMs: number): Promise<StationDataRequest[]> {
    const rows = await this.#db
      .selectFrom('data_requests as r')
      .innerJoin('problems as p', 'p.number', 'r.problem_number')
      .select(['r.id', 'r.problem_number', 'p.local_id', 'r.note', 'r.requested_at'])
      .where('r.station_id', '=', stationId)
      .where('r.state', '=', 'open')
      // Once the problem is closed its requests are moot: the appliance is not asked any more.
      .where('p.state', '=', 'open')
      .orderBy('r.requested_at')
      .limit(100)
      .execute();
    if (rows.length > 0) {
      await this.#db
        .updateTable('data_requests')
        .set({ fetched_at: nowMs })
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .where('fetched_at', 'is', null)
        .execute();
    }
    return rows.map((r) => ({
      id: r.id,
      problemNumber: r.problem_number,
      localId: r.local_id,
      note: r.note,
      requestedAtMs: Number(r.requested_at),
    }));
  }

  async answer(
    stationId: string,
    id: string,
    answer: { state: 'answered' | 'declined'; note: string | null; answeredAtMs: number; nowMs: number },
    auditFor?: DataRequestAudit,
  ): Promise<{ request: HubDataRequest; duplicate: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('data_requests')
        .selectAll()
        .where('id', '=', id)
        .where('station_id', '=', stationId)
        .executeTakeFirst();
      if (!row) throw new LifelineError('API_NOT_FOUND', `no data request ${id} for this station`);
      if (row.state !== 'open') return { request: toRequest(row), duplicate: true };
      const updated = {
        ...row,
        state: answer.state,
        answer_note: answer.note,
        answered_at: answer.answeredAtMs,
        answer_received_at: answer.nowMs,
      };
      await trx
        .updateTable('data_requests')
        .set({
          state: updated.state,
          answer_note: updated.answer_note,
          answered_at: updated.answered_at,
          answer_received_at: updated.answer_received_at,
        })
        .where('id', '=', id)
        .execute();
      const request = toRequest(updated);
      if (auditFor)
        await trx
          .insertInto('hub_audit')
          .values(auditRow(auditFor(request)))
          .execute();
      return { request, duplicate: false };
    });
  }

  async listForProblem(problemNumber: string): Promise<HubDataRequest[]> {
    const rows = await this.#db
      .selectFrom('data_requests')
      .selectAll()
      .where('problem_number', '=', problemNumber)
      .orderBy('requested_at')
      .execute();
    return rows.map(toRequest);
  }
}
