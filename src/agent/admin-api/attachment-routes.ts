// Admin API routes of extended error data: stage a file for a problem (streamed to disk, never held
// in memory) and list uploads with how far each got.

import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import { attachmentIdPattern, maxAttachmentBytes, problemLocalIdPattern } from '../../protocol/index.js';
import type { Uploader } from '../attachments/index.js';

export function registerAttachmentRoutes(
  app: FastifyInstance,
  uploader: Uploader,
  actor: (ip: string) => string,
): void {
  void app.register(async (child) => {
    // The body stays a stream: the route writes it to disk as it arrives (files of several GiB).
    child.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    const api = child.withTypeProvider<ZodTypeProvider>();

    api.post(
      '/v1/problems/:localId/attachments',
      {
        schema: {
          params: z.object({ localId: z.string().regex(problemLocalIdPattern, 'a problem id, PB-XXXXXX') }),
          querystring: z
            .object({
              name: z.string().min(1).max(255),
              bytes: z.coerce.number().int().nonnegative().max(maxAttachmentBytes).optional(),
            })
            .strict(),
        },
      },
      async (request, reply) => {
        const body = request.body as IncomingMessage | undefined;
        if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') {
          throw new LifelineError('API_BAD_REQUEST', 'send the file as application/octet-stream');
        }
        const record = await uploader.stage(request.params.localId, request.query.name, body, {
          expectedBytes: request.query.bytes,
          actor: actor(request.ip),
        });
        return reply.code(201).send(record);
      },
    );
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get('/v1/attachments', async () => ({ attachments: await uploader.store.list() }));
  api.get(
    '/v1/attachments/:id',
    {
      schema: {
        params: z.object({ id: z.string().regex(attachmentIdPattern, 'an attachment id: 32 hex digits') }),
      },
    },
    async (request) => {
      const found = await uploader.store.get(request.params.id);
      if (!found)
        throw new LifelineError('CALLHOME_ATTACHMENT_NOT_FOUND', `no attachment ${request.params.id}`);
      return found;
    },
  );
}
