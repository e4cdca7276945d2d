// The serials of the station certificates the hub issued (enrollment and renewal), so its CRL
// (GET /v1/ca.crl) can list the certificates of revoked stations. The hub itself refuses a revoked
// station by Station ID; the CRL tells other relying parties.

import type { Kysely } from 'kysely';
import type { HubDatabase } from './schema.js';
import type { HubCertSerialStore, IssuedCertRecord } from '../trust.js';

export class SqlCertSerialStore implements HubCertSerialStore {
  readonly #db: Kysely<HubDatabase>;

  constructor(db: Kysely<HubDatabase>) {
    this.#db = db;
  }

  async recordIssued(record: IssuedCertRecord): Promise<void> {
    await this.#db
      .deleteFrom('station_cert_serials')
      .where('station_id', '=', record.stationId)
      .where('not_after', '<=', record.issuedAtMs)
      .execute();
    await this.#db
      .insertInto('station_cert_serials')
      .values({
        serial: record.serial,
        station_id: record.stationId,
        issuer_sha256: record.issuerSha256,
        issued_at: record.issuedAtMs,
        not_after: record.notAfterMs,
      })
      .onConflict((oc) => oc.column('serial').doNothing())
      .execute();
  }

  async listRevokedSerials(issuerSha256: string, nowMs: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('station_cert_serials')
      .innerJoin('stations', 'stations.id', 'station_cert_serials.station_id')
      .select('station_cert_serials.serial')
      .where('stations.revoked_at', 'is not', null)
      .where('station_cert_serials.issuer_sha256', '=', issuerSha256)
      .where('station_cert_serials.not_after', '>', nowMs)
      .orderBy('station_cert_serials.issued_at')
      .execute();
    return rows.map((row) => row.serial);
  }
}
