// Call-home routes of extended error data: a station starts an upload, sends chunks in order, asks
// where it stands after an interruption, and completes it once the hub verified the whole file.
// The work is the receiver's (attachment-receiver.ts); the upload channel (upload-channel.ts) is
// the faster way for chunks, these routes the one that always works.

import type { Readable } from 'node:stream';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import {
  attachmentIdPattern,
  attachmentStartSchema,
  manifestHeader,
  maxChunkBytes,
} from '../../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { AttachmentReceiver } from './attachment-receiver.js';
import { ChunkBody, receiveChunkBody } from './chunk-body.js';
import { callingStation } from '../stations/index.js';

export interface AttachmentRouteOptions {
  store: HubStore;
  receiver: AttachmentReceiver;
}

const idParams = z.object({ id: z.string().regex(attachmentIdPattern, 'an attachment id: 32 hex digits') });
const chunkParams = idParams.extend({ index: z.coerce.number().int().nonnegative().max(1_000_000) });

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
  const { store, receiver } = options;

  api.post('/v1/attachments', { schema: { body: attachmentStartSchema } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const answer = await receiver.start(stationId, request.body);
    return reply.code(answer.status).send(answer.body);
  });

  api.get('/v1/attachments/:id', { schema: { params: idParams } }, async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return receiver.state(stationId, request.params.id);
  });

  api.put(
    '/v1/attachments/:id/chunks/:index',
    { schema: { params: chunkParams }, bodyLimit: maxChunkBytes + 1024 },
    async (request, reply) => {
      const { stationId } = await callingStation(request.raw, store);
      const body = request.body;
      if (!(body instanceof ChunkBody)) {
        throw new LifelineError('CALLHOME_ATTACHMENT_INVALID', 'a chunk is sent as application/octet-stream');
      }
      const { id, index } = request.params;
      const answer = await receiver.chunk(
        stationId,
        id,
        index,
        request.headers[manifestHeader],
        body,
        'call-home',
      );
      return reply.code(answer.status).send(answer.body);
    },
  );

  api.post('/v1/attachments/:id/complete', { schema: { params: idParams } }, async (request, reply) => {
    const { stationId } = await callingStation(request.raw, store);
    const answer = await receiver.complete(stationId, request.params.id);
    return reply.code(answer.status).send(answer.body);
  });
}
