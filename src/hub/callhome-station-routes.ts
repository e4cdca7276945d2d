// Call-home routes that need a station: the caller is the station named by its TLS client
// certificate (issued by this hub's CA, not revoked). For now: audit checkpoints.

import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import { verifyCheckpoint } from '../agent/audit-checkpoint.js';
import { derToPem } from '../pki/index.js';
import type { HubStore } from '../store/index.js';
import type { HubAudit } from './hub-audit.js';
import { peerStationId } from './station-listener.js';

export const checkpointSchema = z
  .object({
    stationId: z.string().max(32),
    count: z.number().int().nonnegative(),
    headHash: z.string().regex(/^[0-9a-f]{64}$/),
    atMs: z.number().int().nonnegative(),
    signature: z.string().min(16).max(512),
  })
  .strict();

/** The station calling, from its client certificate; STATION_UNKNOWN / TUNNEL_CERT_REJECTED otherwise. */
async function callingStation(
  raw: { socket: unknown },
  store: HubStore,
): Promise<{ stationId: string; certPem: string }> {
  // The call-home server only ever receives sockets from the TLS station listener.
  const socket = raw.socket as TLSSocket;
  const stationId = socket.authorized ? peerStationId(socket) : undefined;
  if (!stationId) {
    throw new LifelineError(
      'TUNNEL_CERT_REJECTED',
      'this request needs a station certificate issued by this hub',
    );
  }
  const station = await store.getStation(stationId);
  if (!station || station.revokedAtMs !== null) {
    throw new LifelineError(
      'STATION_UNKNOWN',
      `station ${stationId} is not enrolled with this hub or is revoked`,
    );
  }
  return { stationId, certPem: derToPem(socket.getPeerCertificate().raw) };
}

export function registerStationRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: { store: HubStore; audit: HubAudit; clock: Clock },
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { store, audit, clock } = options;

  api.post('/v1/audit/checkpoints', { schema: { body: checkpointSchema } }, async (request, reply) => {
    const { stationId, certPem } = await callingStation(request.raw, store);
    const checkpoint = request.body;
    if (checkpoint.stationId !== stationId || !verifyCheckpoint(checkpoint, certPem)) {
      throw new LifelineError('API_BAD_REQUEST', 'the checkpoint is not signed by this station');
    }
    const latest = await store.latestAuditCheckpoint(stationId);
    if (
      latest &&
      (checkpoint.count < latest.count ||
        (checkpoint.count === latest.count && checkpoint.headHash !== latest.headHash))
    ) {
      // The appliance's log is shorter than, or differs from, what it reported before.
      await audit.record(`station:${stationId}`, 'audit.rollback-detected', stationId, {
        reported: { count: checkpoint.count, headHash: checkpoint.headHash },
        known: { count: latest.count, headHash: latest.headHash },
      });
      throw new LifelineError(
        'AUDIT_CHECKPOINT_CONFLICT',
        `the audit log reported (${checkpoint.count} entries) is behind or differs from the hub's copy (${latest.count} entries)`,
      );
    }
    await store.addAuditCheckpoint({ ...checkpoint, receivedAtMs: clock.now() });
    return reply.code(201).send({ stored: true });
  });

  api.get('/v1/audit/checkpoints/latest', async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return { checkpoint: (await store.latestAuditCheckpoint(stationId)) ?? null };
  });
}
