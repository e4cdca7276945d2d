// POST /v1/reports/batch: up to 50 reports in one request and one commit. Each line is one
// envelope's exact bytes, stored as that report's body; each report is answered on its own, so one
// invalid report is refused without holding back the others.

import type { FastifyInstance, RawServerBase } from 'fastify';
import { LifelineError } from '../../common/errors.js';
import {
  checkReportPayload,
  decodeManifest,
  checkManifest,
  maxReportsPerBatch,
  manifestHeader,
  reportBatchContentType,
  reportEnvelopeSchema,
  sha256Of,
  type Manifest,
  type ReportBatchAnswer,
} from '../../protocol/index.js';
import type { IngestItem } from '../store/index.js';

import { type ReportRouteOptions } from './station-routes.js';
import { callingStation } from '../stations/index.js';

/** A batch is at most 50 reports of at most a few MiB together; this leaves room to spare. */
const maxBatchBodyBytes = 32 * 1024 * 1024;

type Line =
  | { index: number; item: IngestItem }
  | { index: number; id: string; refusal: { status: number; code: string; message: string } };

export function registerBatchRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: ReportRouteOptions,
): void {
  const { store, audit, clock } = options;
  app.addContentTypeParser(
    reportBatchContentType,
    { parseAs: 'string', bodyLimit: maxBatchBodyBytes },
    (_request, body, done) => done(null, typeof body === 'string' ? body : body.toString('utf8')),
  );

  app.post('/v1/reports/batch', { bodyLimit: maxBatchBodyBytes }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    if (request.headers['content-type'] !== reportBatchContentType || typeof request.body !== 'string')
      throw new LifelineError('API_BAD_REQUEST', `a report batch is sent as ${reportBatchContentType}`);
    const body = request.body;
    const manifest = decodeManifest(request.headers[manifestHeader]);
    if (typeof manifest === 'string')
      throw new LifelineError('CALLHOME_MANIFEST_INVALID', `batch refused: ${manifest}`);
    const mismatch =
      manifest.kind !== 'reports.batch'
        ? `the manifest describes ${manifest.kind}`
        : checkManifest(manifest, body);
    if (mismatch) throw new LifelineError('CALLHOME_MANIFEST_INVALID', `batch refused: ${mismatch}`);
    const texts = body.split('\n');
    if (texts.length > maxReportsPerBatch)
      throw new LifelineError(
        'API_BAD_REQUEST',
        `a batch holds at most ${maxReportsPerBatch} reports, not ${texts.length}`,
      );
    if ((manifest.parts?.length ?? 0) !== texts.length)
      throw new LifelineError(
        'CALLHOME_MANIFEST_INVALID',
        `batch refused: the manifest names ${manifest.parts?.length ?? 0} reports, ${texts.length} arrived`,
      );

    const lines = texts.map((text, index) => checkLine(text, index, manifest));
    const items = lines.flatMap((line) => ('item' in line ? [line.item] : []));
    if (items.length > 0) await options.room?.ensureRoom();
    const stored = items.length > 0 ? await store.reports.ingestMany(stationId, items, clock.now()) : [];
    const results: ReportBatchAnswer['results'] = [];
    let next = 0;
    for (const line of lines) {
      if (!('item' in line)) {
        const { status, code, message } = line.refusal;
        results.push({ id: line.id, status, answer: { code, message } });
        continue;
      }
      const { envelope } = line.item;
      const outcome = stored[next++];
      if (outcome === undefined || outcome instanceof LifelineError) {
        const err = outcome ?? new LifelineError('INTERNAL', 'the report was not stored');
        results.push({
          id: envelope.id,
          status: err.httpStatus,
          answer: { code: err.code, message: err.message },
        });
        continue;
      }
      if (!outcome.duplicate) options.onReportStored?.(envelope.kind);
      if (!outcome.duplicate && (envelope.kind === 'problem.open' || envelope.kind === 'problem.close')) {
        await audit.record(
          `station:${stationId}`,
          envelope.kind === 'problem.open' ? 'problem.opened' : 'problem.closed',
          stationId,
          { problemNumber: outcome.problemNumber, reportId: envelope.id },
        );
      }
      results.push({
        id: envelope.id,
        status: outcome.duplicate ? 200 : 201,
        answer: {
          stored: !outcome.duplicate,
          duplicate: outcome.duplicate,
          ...(outcome.problemNumber ? { problemNumber: outcome.problemNumber } : {}),
        },
      });
    }
    return reply.code(200).send({ results });
  });
}

/** One line of a batch: a valid report matching its manifest part, or why it is refused. */
function checkLine(text: string, index: number, manifest: Manifest): Line {
  const part = manifest.parts?.[index];
  const id = part?.name ?? `line ${index + 1}`;
  // The status the report would have had alone (CALLHOME_REPORT_INVALID: 422, manifest: 400).
  const refuse = (code: 'CALLHOME_REPORT_INVALID' | 'CALLHOME_MANIFEST_INVALID', message: string): Line => ({
    index,
    id,
    refusal: { status: new LifelineError(code, message).httpStatus, code, message },
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return refuse('CALLHOME_REPORT_INVALID', `line ${index + 1} of the batch is not JSON`);
  }
  const parsed = reportEnvelopeSchema.safeParse(json);
  if (!parsed.success)
    return refuse(
      'CALLHOME_REPORT_INVALID',
      `invalid report envelope: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const envelope = parsed.data;
  const sha256 = sha256Of(text);
  if (!part || part.name !== envelope.id || part.sha256 !== sha256 || part.bytes !== Buffer.byteLength(text))
    return refuse(
      'CALLHOME_MANIFEST_INVALID',
      `report ${envelope.id} does not match part ${index + 1} of the manifest`,
    );
  const invalid = checkReportPayload(envelope.kind, envelope.payload);
  if (invalid) return refuse('CALLHOME_REPORT_INVALID', `invalid ${envelope.kind} report: ${invalid}`);
  return { index, item: { envelope, body: text, sha256 } };
}
