// Call-home routes of extended error data: a station starts an upload, sends chunks in order (each
// written at its offset, checked against its manifest and synced before it counts), asks where it
// stands after an interruption, and completes it once the hub verified the whole file.

import type { Readable } from 'node:stream';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { dirname } from 'node:path';
import type { Clock } from '../common/clock.js';
import { LifelineError } from '../common/errors.js';
import {
  attachmentIdPattern,
  attachmentStartSchema,
  chunkRange,
  decodeManifest,
  manifestHeader,
  maxChunkBytes,
  type AttachmentState,
} from '../protocol/index.js';
import type { HubAttachment, HubStore } from '../store/index.js';
import { attachmentFilePath, hashFile, settleFileLength } from './attachment-files.js';
import { AttachmentWriters, ChunkOutOfTurn } from './attachment-writer.js';
import { ChunkBody, receiveChunkBody } from './chunk-body.js';
import type { HubAudit } from './hub-audit.js';
import { callingStation } from './callhome-station-routes.js';

export interface AttachmentRouteOptions {
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  attachmentsDir: string;
}

/** How long a chunk that arrived ahead of its turn waits for the ones before it. */
const chunkWaitMs = 10_000;
/**
 * How many chunks past the next one to be written may arrive and wait: at most this many chunks
 * of an upload wait in memory (the agent sends its chunks one after another, so a chunk rarely
 * waits for more than the one being written).
 */
const chunksAhead = 3;

const idParams = z.object({ id: z.string().regex(attachmentIdPattern, 'an attachment id: 32 hex digits') });
const chunkParams = idParams.extend({ index: z.coerce.number().int().nonnegative().max(1_000_000) });

function stateOf(attachment: HubAttachment, extra: Partial<AttachmentState> = {}): AttachmentState {
  return {
    id: attachment.id,
    receivedBytes: attachment.state === 'receiving' ? attachment.receivedBytes : attachment.bytes,
    complete: attachment.state !== 'receiving',
    problemNumber: attachment.problemNumber,
    ...extra,
  };
}

/** Registers the routes in their own plugin context: the raw-bytes parser applies to them alone. */
export function registerAttachmentRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: AttachmentRouteOptions,
): void {
  void app.register(async (child) => {
    // A chunk is buffered whole (as the pieces that arrived), bounded, before it is written; its
    // SHA-256 is checked once written (attachment-writer.ts).
    child.addContentTypeParser('application/octet-stream', async (_request: unknown, payload: Readable) =>
      receiveChunkBody(payload, maxChunkBytes),
    );
    attachmentRoutes(child, options);
  });
}

function attachmentRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: AttachmentRouteOptions,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { store, audit, clock, attachmentsDir } = options;
  // Completing runs once at a time per attachment (a resent request waits for the first).
  const busy = new Map<string, Promise<unknown>>();
  const serially = async <T>(id: string, work: () => Promise<T>): Promise<T> => {
    const before = busy.get(id) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    busy.set(id, settled);
    try {
      return await run;
    } finally {
      if (busy.get(id) === settled) busy.delete(id);
    }
  };
  const writers = new AttachmentWriters({ store, clock, attachmentsDir, chunkWaitMs, chunksAhead });
  app.addHook('onClose', () => writers.close());

  const ownAttachment = async (stationId: string, id: string): Promise<HubAttachment> => {
    const attachment = await store.attachments.get(id);
    if (!attachment || attachment.stationId !== stationId) {
      throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${id} of this station`);
    }
    return attachment;
  };
  const pathOf = (a: HubAttachment) => attachmentFilePath(attachmentsDir, a.stationId, a.id);
  // Refusals the agent acts on carry the hub's resume point beside the code.
  const refusal = (error: LifelineError, receivedBytes: number) => ({ ...error.toJSON(), receivedBytes });

  api.post('/v1/attachments', { schema: { body: attachmentStartSchema } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const { attachment, created } = await store.attachments.start(stationId, request.body, clock.now());
    if (attachment.state === 'receiving') writers.prepare();
    return reply.code(created ? 201 : 200).send(stateOf(attachment));
  });

  api.get('/v1/attachments/:id', { schema: { params: idParams } }, async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return stateOf(await ownAttachment(stationId, request.params.id));
  });

  api.put(
    '/v1/attachments/:id/chunks/:index',
    { schema: { params: chunkParams }, bodyLimit: maxChunkBytes + 1024 },
    async (request, reply) => {
      const { stationId } = await callingStation(request.raw, store);
      const { id, index } = request.params;
      const body = request.body;
      if (!(body instanceof ChunkBody)) {
        throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', 'a chunk is sent as application/octet-stream');
      }
      const manifest = decodeManifest(request.headers[manifestHeader]);
      if (typeof manifest === 'string') throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', manifest);
      if (manifest.kind !== 'attachment.chunk' || manifest.id !== id) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_INVALID',
          `the manifest describes ${manifest.kind} ${manifest.id}, not a chunk of attachment ${id}`,
        );
      }
      if (body.byteLength !== manifest.bytes) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_INVALID',
          `chunk ${index} refused: the manifest says ${manifest.bytes} bytes, ${body.byteLength} arrived`,
        );
      }
      const attachment = await ownAttachment(stationId, id);
      if (attachment.state !== 'receiving') {
        if (attachment.state === 'complete') return stateOf(attachment, { index, duplicate: true });
        throw new LifelineError('CALLHOME_ATTACHMENT_GONE', `attachment ${id} was ${attachment.state}`);
      }
      const { start, end } = chunkRange(index, attachment.bytes, attachment.chunkBytes);
      if (start >= attachment.bytes) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_INVALID',
          `chunk ${index} is past the end of the file (${attachment.bytes} bytes in chunks of ${attachment.chunkBytes})`,
        );
      }
      if (body.byteLength !== end - start) {
        throw new LifelineError(
          'CALLHOME_ATTACHMENT_INVALID',
          `chunk ${index} must hold ${end - start} bytes, it holds ${body.byteLength}`,
        );
      }
      try {
        const outcome = await writers.write(attachment, start, end, body, manifest.sha256);
        return stateOf(outcome.attachment, { index, duplicate: outcome.duplicate });
      } catch (err) {
        if (!(err instanceof ChunkOutOfTurn)) throw err;
        return reply.code(err.httpStatus).send(refusal(err, err.receivedBytes));
      }
    },
  );

  api.post('/v1/attachments/:id/complete', { schema: { params: idParams } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const { id } = request.params;
    return serially(id, async () => {
      const attachment = await ownAttachment(stationId, id);
      // Deleted or purged after it completed: the agent only needs to know it arrived.
      if (attachment.state !== 'receiving') return stateOf(attachment);
      if (attachment.receivedBytes < attachment.bytes) {
        const error = new LifelineError(
          'CALLHOME_ATTACHMENT_INCOMPLETE',
          `attachment ${id}: ${attachment.receivedBytes} of ${attachment.bytes} bytes received`,
        );
        return reply.code(error.httpStatus).send(refusal(error, attachment.receivedBytes));
      }
      const path = pathOf(attachment);
      await settleFileLength(path, dirname(path), attachment.bytes);
      // Hashed as the chunks were written, unless the hub restarted meanwhile: then read back.
      const sha256 =
        (await writers.digestOf(id, attachment.bytes)) ?? (await hashFile(path, attachment.bytes));
      writers.forget(id);
      if (sha256 !== attachment.sha256) {
        await store.attachments.restart(id, clock.now());
        await audit.record(`station:${stationId}`, 'attachment.checksum-mismatch', stationId, {
          attachmentId: id,
          problemNumber: attachment.problemNumber,
          declared: attachment.sha256,
          received: sha256,
        });
        {
          const error = new LifelineError(
            'CALLHOME_ATTACHMENT_CHECKSUM',
            `the SHA-256 of the ${attachment.bytes} bytes received differs from the one declared: the upload starts over`,
          );
          return reply.code(error.httpStatus).send(refusal(error, 0));
        }
      }
      const done = (await store.attachments.markComplete(id, clock.now())) ?? attachment;
      await audit.record(`station:${stationId}`, 'attachment.received', stationId, {
        attachmentId: id,
        problemNumber: attachment.problemNumber,
        name: attachment.name,
        bytes: attachment.bytes,
        sha256,
      });
      return stateOf(done);
    });
  });
}
