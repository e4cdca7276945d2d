// Call-home routes of the certificate lifecycle: renewal of the station certificate (the one route
// that accepts a recently expired one) and the trust bundle agents pin (CA certificates, ticket
// keys, fix key) so that a CA or ticket-key rotation reaches them over the authenticated channel.

import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import { certNotAfterMs, signStationCsr } from '../../pki/index.js';
import type { HubStore } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import { recordIssuedStationCert } from '../trust/index.js';
import { peerStationId, callingStation } from '../stations/index.js';
import type { HubTrustMaterial, TrustBundle } from '../trust/index.js';

export const renewRequestSchema = z.object({ csr: z.string().min(100).max(8192) }).strict();

export interface RenewResponse {
  certPem: string;
  notAfterMs: number;
  trust: TrustBundle;
}

export function registerTrustRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: {
    store: HubStore;
    audit: HubAudit;
    clock: Clock;
    trust: () => HubTrustMaterial;
    stationCertValidityMs: number;
    renewalGraceMs: number;
  },
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { store, audit, clock } = options;

  api.post('/v1/certificate/renew', { schema: { body: renewRequestSchema } }, async (request) => {
    const trust = options.trust();
    const nowMs = clock.now();
    const { stationId, certPem: presented } = await callingStation(request.raw, store, {
      trustedCaPems: trust.trustedCaPems,
      graceMs: options.renewalGraceMs,
      nowMs,
    }).catch(async (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      if (code === 'STATION_REVOKED' || code === 'STATION_REENROLL') {
        const named = peerStationId(request.raw.socket as TLSSocket) ?? null;
        await audit.record(named ? `station:${named}` : 'station', 'station.renewal.refused', named, {
          remote: request.ip,
          code,
        });
      }
      throw err;
    });
    // The key is new: the CSR proves the station holds it; the identity comes from the old certificate.
    const certPem = await signStationCsr(
      trust.signingCa,
      request.body.csr,
      stationId,
      options.stationCertValidityMs,
      nowMs,
    );
    const notAfterMs = certNotAfterMs(certPem);
    await store.trust.recordRenewal(stationId, notAfterMs);
    await recordIssuedStationCert(store.certSerials, stationId, certPem, trust.signingCa.certPem, nowMs);
    const previousNotAfterMs = certNotAfterMs(presented);
    await audit.record(`station:${stationId}`, 'station.renewed', stationId, {
      notAfter: new Date(notAfterMs).toISOString(),
      previousNotAfter: new Date(previousNotAfterMs).toISOString(),
      renewedAfterExpiry: previousNotAfterMs <= nowMs,
    });
    const answer: RenewResponse = { certPem, notAfterMs, trust: trust.bundle };
    return answer;
  });

  api.get('/v1/trust', async (request) => {
    await callingStation(request.raw, store);
    return options.trust().bundle;
  });
}
