// The agent's record of extended error data: every file staged for a problem, with how far its upload
// got (the bytes the hub acknowledged) and its state. The bytes themselves are files in the data
// directory; a row is written only once its file is synced, and is kept after the upload.

import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { AgentDatabase, AttachmentUploadState } from '../store/index.js';

export type { AttachmentUploadState };

export interface AttachmentRecord {
  id: string;
  problemLocalId: string;
  name: string;
  bytes: number;
  sha256: string;
  chunkBytes: number;
  /** Bytes the hub has acknowledged, from the start of the file. */
  ackedBytes: number;
  state: AttachmentUploadState;
  createdAtMs: number;
  updatedAtMs: number;
  uploadedAtMs: number | null;
  lastError: string | null;
}

function toRecord(row: AgentDatabase['attachments']): AttachmentRecord {
  return {
    id: row.id,
    problemLocalId: row.problem_local_id,
    name: row.name,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    chunkBytes: Number(row.chunk_bytes),
    ackedBytes: Number(row.acked_bytes),
    state: row.state,
    createdAtMs: Number(row.created_at),
    updatedAtMs: Number(row.updated_at),
    uploadedAtMs: row.uploaded_at === null ? null : Number(row.uploaded_at),
    lastError: row.last_error,
  };
}

/** Where a problem's reports stand in the outbox: attachments follow their problem's reports. */
export type ProblemDelivery = 'unknown' | 'waiting' | 'delivered' | 'rejected';

type Db = Kysely<AgentDatabase>;

export class AttachmentStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Records a staged file (already synced to disk) with the SHA-256 of each of its chunks, in one
   * transaction; committed when this resolves.
   */
  async add(
    record: Omit<AttachmentRecord, 'ackedBytes' | 'state' | 'updatedAtMs' | 'uploadedAtMs' | 'lastError'>,
    chunkSha256s?: readonly string[],
  ): Promise<AttachmentRecord> {
    const row: AgentDatabase['attachments'] = {
      id: record.id,
      problem_local_id: record.problemLocalId,
      name: record.name,
      bytes: record.bytes,
      sha256: record.sha256,
      chunk_bytes: record.chunkBytes,
      acked_bytes: 0,
      state: 'staged',
      created_at: record.createdAtMs,
      updated_at: record.createdAtMs,
      uploaded_at: null,
      last_error: null,
    };
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('attachments').values(row).execute();
      if (chunkSha256s !== undefined) {
        await trx
          .insertInto('attachment_chunk_hashes')
          .values({ attachment_id: record.id, sha256s: chunkSha256s.join('') })
          .execute();
      }
    });
    return toRecord(row);
  }

  /** The SHA-256 of each chunk as computed at staging, or undefined for a file staged without them. */
  async chunkSha256s(id: string): Promise<string[] | undefined> {
    const row = await this.#db
      .selectFrom('attachment_chunk_hashes')
      .select('sha256s')
      .where('attachment_id', '=', id)
      .executeTakeFirst();
    return row?.sha256s.match(/[0-9a-f]{64}/g) ?? undefined;
  }

  async get(id: string): Promise<AttachmentRecord | undefined> {
    const row = await this.#db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  /** Newest first; at most `limit` (default 1000). */
  async list(
    options: { problemLocalId?: string; state?: AttachmentUploadState; limit?: number } = {},
  ): Promise<AttachmentRecord[]> {
    let query = this.#db.selectFrom('attachments').selectAll().orderBy('created_at', 'desc').orderBy('id');
    if (options.problemLocalId !== undefined)
      query = query.where('problem_local_id', '=', options.problemLocalId);
    if (options.state !== undefined) query = query.where('state', '=', options.state);
    return (await query.limit(options.limit ?? 1000).execute()).map(toRecord);
  }

  /** Attachments still to upload (staged or part way), oldest first. */
  async listToUpload(): Promise<AttachmentRecord[]> {
    const rows = await this.#db
      .selectFrom('attachments')
      .selectAll()
      .where('state', 'in', ['staged', 'uploading'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }

  /** The hub acknowledged `ackedBytes` from the start of the file. */
  async setProgress(id: string, ackedBytes: number, nowMs: number): Promise<void> {
    await this.#db
      .updateTable('attachments')
      .set({ acked_bytes: ackedBytes, state: 'uploading', updated_at: nowMs, last_error: null })
      .where('id', '=', id)
      .where('state', 'in', ['staged', 'uploading'])
      .execute();
  }

  /** An attempt failed and will be retried; the reason is shown to the administrator. */
  async setError(id: string, error: string, nowMs: number): Promise<void> {
    await this.#db
      .updateTable('attachments')
      .set({ last_error: error.slice(0, 2000), updated_at: nowMs })
      .where('id', '=', id)
      .execute();
  }

  async markUploaded(id: string, nowMs: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('attachments')
        .set((eb) => ({
          state: 'uploaded',
          acked_bytes: eb.ref('bytes'),
          uploaded_at: nowMs,
          updated_at: nowMs,
          last_error: null,
        }))
        .where('id', '=', id)
        .execute();
      // Only an upload needs them; the staged file goes too.
      await trx.deleteFrom('attachment_chunk_hashes').where('attachment_id', '=', id).execute();
    });
  }

  /** Sending again cannot help (the hub refused the upload for good): kept, shown, not retried. */
  async markFailed(id: string, error: string, nowMs: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('attachments')
        .set({ state: 'failed', last_error: error.slice(0, 2000), updated_at: nowMs })
        .where('id', '=', id)
        .execute();
      // No upload will read them again.
      await trx.deleteFrom('attachment_chunk_hashes').where('attachment_id', '=', id).execute();
    });
  }

  /**
   * Whether the problem's reports have reached the hub: `waiting` while one of them is pending or
   * held in the outbox, `rejected` when the hub refused its problem.open, `unknown` when the agent
   * never opened it. (A problem whose reports were purged from the outbox counts as delivered.)
   */
  async problemDelivery(localId: string): Promise<ProblemDelivery> {
    const rows = await this.#db
      .selectFrom('outbox')
      .select(['kind', 'state'])
      .where('order_key', '=', localId)
      .execute();
    const open = rows.find((r) => r.kind === 'problem.open');
    if (!open) {
      // Settled reports are purged from the outbox after a while; the problem list keeps the problem.
      const known = await sql<{
        n: number;
      }>`select count(*) as n from problems where local_id = ${localId}`.execute(this.#db);
      return Number(known.rows[0]?.n ?? 0) > 0 ? 'delivered' : 'unknown';
    }
    if (open.state === 'rejected') return 'rejected';
    return rows.some((r) => r.state === 'pending' || r.state === 'held') ? 'waiting' : 'delivered';
  }
}
