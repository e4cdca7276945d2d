// What the hub keeps of extended error data: one row per uploaded file, linked to its problem, with
// how many bytes arrived in order (the resume point) and whether the whole file was verified. The
// files themselves live beside the database (src/hub/attachments/attachment-files.ts). Portable SQL.

import type { Kysely } from 'kysely';
import { LifelineError } from '../../../common/errors.js';
import type { AttachmentStart } from '../../../protocol/index.js';
import { transactionFlushedAfter } from '../../../common/sqlite/index.js';
import type { HubDatabase } from './schema.js';
import type { HubAttachment, HubAttachmentStore, UploadAdmission } from '../attachments.js';

function toAttachment(row: HubDatabase['attachments']): HubAttachment {
  return {
    id: row.id,
    stationId: row.station_id,
    problemLocalId: row.problem_local_id,
    problemNumber: row.problem_number,
    name: row.name,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    chunkBytes: Number(row.chunk_bytes),
    receivedBytes: Number(row.received_bytes),
    transferredBytes: Number(row.transferred_bytes),
    state: row.state,
    createdAtMs: Number(row.created_at),
    updatedAtMs: Number(row.updated_at),
    completedAtMs: row.completed_at === null ? null : Number(row.completed_at),
    removedAtMs: row.removed_at === null ? null : Number(row.removed_at),
  };
}

export class SqlAttachmentStore implements HubAttachmentStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async start(
    stationId: string,
    fields: AttachmentStart,
    nowMs: number,
    admission?: UploadAdmission,
  ): Promise<{ attachment: HubAttachment; created: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('attachments')
        .selectAll()
        .where('id', '=', fields.id)
        .executeTakeFirst();
      if (row) {
        const known = toAttachment(row);
        if (
          known.stationId !== stationId ||
          known.problemLocalId !== fields.problemLocalId ||
          known.name !== fields.name ||
          known.bytes !== fields.bytes ||
          known.sha256 !== fields.sha256 ||
          known.chunkBytes !== fields.chunkBytes
        ) {
          throw new LifelineError(
            'CALLHOME_ATTACHMENT_CONFLICT',
            `attachment ${fields.id} was started before with other fields`,
          );
        }
        return { attachment: known, created: false };
      }
      const problem = await trx
        .selectFrom('problems')
        .select('number')
        .where('station_id', '=', stationId)
        .where('local_id', '=', fields.problemLocalId)
        .executeTakeFirst();
      if (!problem) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_PROBLEM_UNKNOWN',
          `the hub has not received problem ${fields.problemLocalId} of this station yet: send its report first`,
        );
      }
      if (admission) {
        const pending = await trx
          .selectFrom('attachments')
          .select((eb) => [eb.fn.countAll<number>().as('uploads'), eb.fn.sum<number>('bytes').as('bytes')])
          .where('station_id', '=', stationId)
          .where('state', '=', 'receiving')
          .where((eb) =>
            eb.or([eb('received_bytes', '>', 0), eb('created_at', '>=', admission.countSinceMs)]),
          )
          .executeTakeFirst();
        admission.check({ uploads: Number(pending?.uploads ?? 0), bytes: Number(pending?.bytes ?? 0) });
      }
      const values: HubDatabase['attachments'] = {
        id: fields.id,
        station_id: stationId,
        problem_local_id: fields.problemLocalId,
        problem_number: problem.number,
        name: fields.name,
        bytes: fields.bytes,
        sha256: fields.sha256,
        chunk_bytes: fields.chunkBytes,
        received_bytes: 0,
        transferred_bytes: 0,
        state: 'receiving',
        created_at: nowMs,
        updated_at: nowMs,
        completed_at: null,
        removed_at: null,
      };
      await trx.insertInto('attachments').values(values).execute();
      return { attachment: toAttachment(values), created: true };
    });
  }

  async get(id: string): Promise<HubAttachment | undefined> {
    const row = await this.#db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toAttachment(row);
  }

  async advance(
    id: string,
    fromBytes: number,
    toBytes: number,
    nowMs: number,
  ): Promise<{ attachment: HubAttachment; advanced: boolean }> {
    // Committed while chunks keep arriving: the flush to disk runs off the event loop, which
    // meanwhile reads the connection (the chunks' answers wait for it all the same).
    const result = await transactionFlushedAfter(this.#db, (trx) =>
      trx
        .updateTable('attachments')
        .set((eb) => ({
          received_bytes: toBytes,
          transferred_bytes: eb('transferred_bytes', '+', toBytes - fromBytes),
          updated_at: nowMs,
        }))
        .where('id', '=', id)
        .where('state', '=', 'receiving')
        .where('received_bytes', '=', fromBytes)
        .executeTakeFirst(),
    );
    const attachment = await this.get(id);
    if (!attachment) throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${id}`);
    return { attachment, advanced: Number(result.numUpdatedRows) === 1 };
  }

  async countRepeat(id: string, bytes: number, nowMs: number): Promise<void> {
    await this.#db
      .updateTable('attachments')
      .set((eb) => ({ transferred_bytes: eb('transferred_bytes', '+', bytes), updated_at: nowMs }))
      .where('id', '=', id)
      .execute();
  }

  async markComplete(id: string, nowMs: number): Promise<HubAttachment | undefined> {
    await this.#db
      .updateTable('attachments')
      .set({ state: 'complete', completed_at: nowMs, updated_at: nowMs })
      .where('id', '=', id)
      .where('state', '=', 'receiving')
      .execute();
    return this.get(id);
  }

  async restart(id: string, nowMs: number): Promise<void> {
    await this.#db
      .updateTable('attachments')
      .set({ received_bytes: 0, updated_at: nowMs })
      .where('id', '=', id)
      .where('state', '=', 'receiving')
      .execute();
  }

  async markRemoved(id: string, state: 'deleted' | 'purged', nowMs: number): Promise<void> {
    await this.#db
      .updateTable('attachments')
      .set({ state, removed_at: nowMs, updated_at: nowMs })
      .where('id', '=', id)
      .execute();
  }

  async listForProblem(problemNumber: string): Promise<HubAttachment[]> {
    const rows = await this.#db
      .selectFrom('attachments')
      .selectAll()
      .where('problem_number', '=', problemNumber)
      .orderBy('created_at')
      .execute();
    return rows.map(toAttachment);
  }

  async listReceivingIdleSince(cutoffMs: number, limit = 10_000): Promise<HubAttachment[]> {
    const rows = await this.#db
      .selectFrom('attachments')
      .selectAll()
      .where('state', '=', 'receiving')
      .where('updated_at', '<', cutoffMs)
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map(toAttachment);
  }

  async discardUnfinished(id: string, cutoffMs: number, nowMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('attachments')
      .set({ received_bytes: 0, updated_at: nowMs })
      .where('id', '=', id)
      .where('state', '=', 'receiving')
      .where('updated_at', '<', cutoffMs)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async listCompleteBefore(cutoffMs: number, limit = 10_000): Promise<HubAttachment[]> {
    const rows = await this.#db
      .selectFrom('attachments')
      .selectAll()
      .where('state', '=', 'complete')
      .where('completed_at', '<', cutoffMs)
      .orderBy('completed_at')
      .limit(limit)
      .execute();
    return rows.map(toAttachment);
  }
}
