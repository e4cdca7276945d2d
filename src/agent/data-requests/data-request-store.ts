// The vendor's requests for more error data, as the agent received them on its call-home polls,
// and the administrator's answer to each (sent or declined, with a note), kept until the hub has
// acknowledged it: an answer given while the hub is unreachable is delivered later, never lost.

import type { Kysely } from 'kysely';
import { LifelineError } from '../../common/errors.js';
import type { AgentDatabase, DataRequestState } from '../store/index.js';

export type AgentDataRequestState = DataRequestState;

export interface AgentDataRequest {
  id: string;
  /** The vendor's problem number. */
  problemNumber: string;
  /** This appliance's id of the problem. */
  localId: string;
  note: string;
  requestedAtMs: number;
  receivedAtMs: number;
  state: AgentDataRequestState;
  answerNote: string | null;
  answeredBy: string | null;
  answeredAtMs: number | null;
  /** When the hub acknowledged the answer; null while it waits to be delivered. */
  answerDeliveredAtMs: number | null;
}

function toRequest(row: AgentDatabase['data_requests']): AgentDataRequest {
  const num = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: row.id,
    problemNumber: row.problem_number,
    localId: row.local_id,
    note: row.note,
    requestedAtMs: Number(row.requested_at),
    receivedAtMs: Number(row.received_at),
    state: row.state,
    answerNote: row.answer_note,
    answeredBy: row.answered_by,
    answeredAtMs: num(row.answered_at),
    answerDeliveredAtMs: num(row.answer_delivered_at),
  };
}

export class AgentDataRequestStore {
  readonly #db: Kysely<AgentDatabase>;

  constructor(db: Kysely<AgentDatabase>) {
    this.#db = db;
  }

  /** Keeps a request received from the hub; false when it was known already. */
  async addReceived(
    request: { id: string; problemNumber: string; localId: string; note: string; requestedAtMs: number },
    nowMs: number,
  ): Promise<boolean> {
    const result = await this.#db
      .insertInto('data_requests')
      .values({
        id: request.id,
        problem_number: request.problemNumber,
        local_id: request.localId,
        note: request.note,
        requested_at: request.requestedAtMs,
        received_at: nowMs,
        state: 'open',
        answer_note: null,
        answered_by: null,
        answered_at: null,
        answer_delivered_at: null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async get(id: string): Promise<AgentDataRequest | undefined> {
    const row = await this.#db
      .selectFrom('data_requests')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRequest(row);
  }

  /** Newest first; at most `limit` (default 1000). */
  async list(limit = 1000): Promise<AgentDataRequest[]> {
    const rows = await this.#db
      .selectFrom('data_requests')
      .selectAll()
      .orderBy('received_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toRequest);
  }

  /**
   * Records the administrator's answer to an open request. API_NOT_FOUND for an unknown id,
   * CALLHOME_DATA_REQUEST_CLOSED when it was answered before.
   */
  async answer(
    id: string,
    answer: { state: 'answered' | 'declined'; note: string | null; by: string; nowMs: number },
  ): Promise<AgentDataRequest> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('data_requests').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new LifelineError('API_NOT_FOUND', `no data request ${id}`);
      if (row.state !== 'open') {
        throw new LifelineError(
          'CALLHOME_DATA_REQUEST_CLOSED',
          `data request ${id} was ${row.state} already`,
        );
      }
      const set = {
        state: answer.state,
        answer_note: answer.note,
        answered_by: answer.by,
        answered_at: answer.nowMs,
      };
      await trx.updateTable('data_requests').set(set).where('id', '=', id).execute();
      return toRequest({ ...row, ...set });
    });
  }

  /** Answers the hub has not acknowledged yet, oldest first. */
  async undelivered(limit = 100): Promise<AgentDataRequest[]> {
    const rows = await this.#db
      .selectFrom('data_requests')
      .selectAll()
      .where('state', '!=', 'open')
      .where('answer_delivered_at', 'is', null)
      .orderBy('answered_at')
      .limit(limit)
      .execute();
    return rows.map(toRequest);
  }

  async markDelivered(id: string, nowMs: number): Promise<void> {
    await this.#db
      .updateTable('data_requests')
      .set({ answer_delivered_at: nowMs })
      .where('id', '=', id)
      .where('answer_delivered_at', 'is', null)
      .execute();
  }
}
