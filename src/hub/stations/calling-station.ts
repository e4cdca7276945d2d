// Which station is calling: the client certificate of a call-home or upload-channel connection,
// issued by this hub's CA, of an enrolled station that is not revoked.

import type { TLSSocket } from 'node:tls';
import { LifelineError } from '../../common/errors.js';
import { checkExpiredStationCert, derToPem } from '../../pki/index.js';
import type { HubStore } from '../store/index.js';
import { peerStationId } from './station-listener.js';

/** When the caller may present a certificate that TLS refused only because it expired (renewal). */
export interface ExpiredCertAllowance {
  trustedCaPems: readonly string[];
  graceMs: number;
  nowMs: number;
}

/**
 * The station calling, from its client certificate: issued by this hub's CA, enrolled, not revoked.
 * TUNNEL_CERT_REJECTED, STATION_CERT_EXPIRED, STATION_UNKNOWN or STATION_REVOKED otherwise. With
 * `expired`, a certificate that expired less than graceMs ago passes too (its signature checked here);
 * one that expired longer ago gets STATION_REENROLL.
 */
export async function callingStation(
  raw: { socket: unknown },
  store: HubStore,
  expired?: ExpiredCertAllowance,
): Promise<{ stationId: string; certPem: string }> {
  // The call-home server only ever receives sockets from the TLS station listener.
  const socket = raw.socket as TLSSocket;
  let stationId = socket.authorized ? peerStationId(socket) : undefined;
  const certExpired = !socket.authorized && String(socket.authorizationError) === 'CERT_HAS_EXPIRED';
  if (!stationId && certExpired) {
    const named = peerStationId(socket);
    const der = socket.getPeerCertificate().raw as Buffer | undefined;
    if (!expired || !named || !der) {
      throw new LifelineError(
        'STATION_CERT_EXPIRED',
        'the station certificate has expired: the agent renews it first (POST /v1/certificate/renew)',
      );
    }
    const verdict = checkExpiredStationCert(
      derToPem(der),
      expired.trustedCaPems,
      expired.nowMs,
      expired.graceMs,
    );
    if (!verdict.renewable) {
      throw new LifelineError(
        'STATION_REENROLL',
        verdict.why === 'past-grace'
          ? `the station certificate of ${named} expired ${new Date(verdict.notAfterMs ?? 0).toISOString()}, longer ago than the hub's renewalGrace: enroll the appliance again with a new token (lifeline hub token create, then lifeline agent enroll)`
          : `the station certificate of ${named} is not issued by this hub's CA: enroll the appliance again with a new token (lifeline hub token create, then lifeline agent enroll)`,
      );
    }
    stationId = named;
  }
  if (!stationId) {
    throw new LifelineError(
      'TUNNEL_CERT_REJECTED',
      'this request needs a station certificate issued by this hub',
    );
  }
  const station = await store.getStation(stationId);
  if (!station) {
    throw new LifelineError('STATION_UNKNOWN', `station ${stationId} is not enrolled with this hub`);
  }
  if (station.revokedAtMs !== null) {
    throw new LifelineError(
      'STATION_REVOKED',
      `station ${stationId} was revoked ${new Date(station.revokedAtMs).toISOString()}: the hub refuses its connections and reports`,
    );
  }
  return { stationId, certPem: derToPem(socket.getPeerCertificate().raw) };
}
