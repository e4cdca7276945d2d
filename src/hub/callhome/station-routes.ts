// Call-home routes that need a station: the caller is the station named by its TLS client
// certificate (issued by this hub's CA, not revoked): audit checkpoints, reports and ping.

import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { createHash } from 'node:crypto';
import {
  checkReportPayload,
  reportEnvelopeSchema,
  type ReportKind,
  verifyCheckpoint,
  genesisHash,
} from '../../protocol/index.js';
import { type HubStore } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import { callingStation } from '../stations/index.js';
import { manifestProblem } from './report-manifest-check.js';
import type { StoreRoom } from '../../common/disk/index.js';

export const checkpointSchema = z
  .object({
    stationId: z.string().max(32),
    count: z.number().int().nonnegative(),
    headHash: z.string().regex(/^[0-9a-f]{64}$/),
    previousCount: z.number().int().nonnegative(),
    previousHash: z.string().max(64),
    atMs: z.number().int().nonnegative(),
    signature: z.string().min(16).max(512),
  })
  .strict();

export interface ReportRouteOptions {
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  /** Called once per report stored (not for a duplicate), for the hub's metrics. */
  onReportStored?: ((kind: ReportKind) => void) | undefined;
  /** Refuses a report with STORE_FULL when the disk has no room (the station sends it again later). */
  room?: StoreRoom | undefined;
}

export function registerStationRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: ReportRouteOptions,
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
    const known = latest ?? { count: 0, headHash: genesisHash };
    const same = checkpoint.count === known.count && checkpoint.headHash === known.headHash;
    const extendsKnown =
      checkpoint.count >= known.count &&
      checkpoint.previousCount === known.count &&
      checkpoint.previousHash === known.headHash;
    if (!same && !extendsKnown) {
      // The appliance's log no longer contains what it reported before: rolled back, cut short or
      // rewritten (even if it has grown again since).
      await audit.record(`station:${stationId}`, 'audit.rollback-detected', stationId, {
        reported: {
          count: checkpoint.count,
          headHash: checkpoint.headHash,
          atKnownCount: checkpoint.previousHash,
        },
        known: { count: known.count, headHash: known.headHash },
      });
      throw new LifelineError(
        'AUDIT_CHECKPOINT_CONFLICT',
        `the audit log reported (${checkpoint.count} entries) does not extend the hub's checkpoint of ${known.count} entries: it was rolled back, cut short or rewritten`,
      );
    }
    if (same) return reply.code(200).send({ stored: false });
    await store.addAuditCheckpoint({ ...checkpoint, receivedAtMs: clock.now() });
    return reply.code(201).send({ stored: true });
  });

  // Reports are hashed as received: the JSON parser keeps the exact bytes beside the parsed body.
  const rawBodies = new WeakMap<object, string>();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    rawBodies.set(request, text);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch {
      done(new LifelineError('API_BAD_REQUEST', 'the body is not JSON'), undefined);
    }
  });

  api.post('/v1/reports', { schema: { body: reportEnvelopeSchema } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const envelope = request.body;
    const body = rawBodies.get(request) ?? JSON.stringify(envelope);
    const mismatch = manifestProblem(request.headers['lifeline-manifest'], body, envelope);
    if (mismatch) throw new LifelineError('CALLHOME_MANIFEST_INVALID', `report refused: ${mismatch}`);
    const invalid = checkReportPayload(envelope.kind, envelope.payload);
    if (invalid)
      throw new LifelineError('CALLHOME_REPORT_INVALID', `invalid ${envelope.kind} report: ${invalid}`);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await options.room?.ensureRoom();
    const result = await store.reports.ingest(stationId, envelope, body, sha256, clock.now());
    if (!result.duplicate) options.onReportStored?.(envelope.kind);
    if (!result.duplicate && (envelope.kind === 'problem.open' || envelope.kind === 'problem.close')) {
      await audit.record(
        `station:${stationId}`,
        envelope.kind === 'problem.open' ? 'problem.opened' : 'problem.closed',
        stationId,
        {
          problemNumber: result.problemNumber,
          reportId: envelope.id,
        },
      );
    }
    return reply.code(result.duplicate ? 200 : 201).send({
      stored: !result.duplicate,
      duplicate: result.duplicate,
      ...(result.problemNumber ? { problemNumber: result.problemNumber } : {}),
    });
  });

  api.get('/v1/audit/checkpoints/latest', async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return { checkpoint: (await store.latestAuditCheckpoint(stationId)) ?? null };
  });

  // `agent callhome test`'s round trip: proves the station is known and shows the hub's clock.
  api.get('/v1/ping', async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return { stationId, timeMs: clock.now() };
  });
}
