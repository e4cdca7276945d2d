// The certificate lifecycle's part of the hub store: revocation and renewal of stations, both on
// the stations table (a revoked station stays listed; its row keeps when and its last expiry).

import type { Kysely } from 'kysely';
import type { HubDatabase } from './schema.js';
import type { HubTrustStore } from '../trust.js';

export class SqlTrustStore implements HubTrustStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async revokeStation(id: string, nowMs: number): Promise<'revoked' | 'already' | 'unknown'> {
    const result = await this.#db
      .updateTable('stations')
      .set({ revoked_at: nowMs })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) > 0) return 'revoked';
    const row = await this.#db.selectFrom('stations').select('id').where('id', '=', id).executeTakeFirst();
    return row ? 'already' : 'unknown';
  }

  async recordRenewal(id: string, certNotAfterMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('stations')
      .set({ cert_not_after: certNotAfterMs })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async listRevoked(sinceMs?: number): Promise<{ id: string; revokedAtMs: number }[]> {
    let query = this.#db
      .selectFrom('stations')
      .select(['id', 'revoked_at'])
      .where('revoked_at', 'is not', null)
      .orderBy('revoked_at');
    if (sinceMs !== undefined) query = query.where('revoked_at', '>=', sinceMs);
    const rows = await query.execute();
    return rows.map((row) => ({ id: row.id, revokedAtMs: Number(row.revoked_at) }));
  }
}
