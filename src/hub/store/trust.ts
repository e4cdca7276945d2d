// The certificate lifecycle's part of the store: revocation and renewal of stations (a revoked
// station stays listed, with when it was revoked), and the serials of the station certificates the
// hub issued, so its CRL (GET /v1/ca.crl) can list those of revoked stations.

export interface HubTrustStore {
  /**
   * Marks the station revoked at nowMs. 'revoked' the first time, 'already' when it was revoked
   * before (its time is kept), 'unknown' when no such station is enrolled.
   */
  revokeStation(id: string, nowMs: number): Promise<'revoked' | 'already' | 'unknown'>;
  /** A renewal: the station's newest certificate expires at certNotAfterMs. Not for a revoked one. */
  recordRenewal(id: string, certNotAfterMs: number): Promise<boolean>;
  /** Stations revoked at or after sinceMs (all revoked ones without it), oldest first. */
  listRevoked(sinceMs?: number): Promise<{ id: string; revokedAtMs: number }[]>;
}

export interface IssuedCertRecord {
  /** Lower-case hex, as in the certificate. */
  serial: string;
  stationId: string;
  /** SHA-256 of the issuing CA certificate: a CRL lists only its own CA's certificates. */
  issuerSha256: string;
  issuedAtMs: number;
  notAfterMs: number;
}

export interface HubCertSerialStore {
  /** Records a new certificate and forgets the station's expired ones (the table stays bounded). */
  recordIssued(record: IssuedCertRecord): Promise<void>;
  /**
   * Serials of certificates from the CA issuerSha256 that belong to revoked stations and have not
   * expired at nowMs (an expired certificate need not be listed), oldest first.
   */
  listRevokedSerials(issuerSha256: string, nowMs: number): Promise<string[]>;
}
