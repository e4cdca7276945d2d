// Admin API routes for the vendor's requests for more error data: list them, and answer each
// (after attaching the data to the problem) or decline it, with a note for the vendor.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { dataRequestIdSchema } from '../../protocol/index.js';
import type { DataRequestDesk } from '../data-requests/index.js';

export function registerDataRequestRoutes(
  app: FastifyInstance,
  desk: DataRequestDesk,
  actor: (ip: string) => string,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get('/v1/data-requests', async () => ({ requests: await desk.list() }));

  api.post(
    '/v1/data-requests/:id/:action',
    {
      schema: {
        params: z.object({ id: dataRequestIdSchema, action: z.enum(['answer', 'decline']) }),
        body: z
          .object({ note: z.string().min(1).max(20_000).optional() })
          .strict()
          .default({}),
      },
    },
    async (request) => {
      const { id, action } = request.params;
      const answered = await desk.answer(
        id,
        action === 'answer' ? 'answered' : 'declined',
        request.body.note ?? null,
        actor(request.ip),
      );
      return { request: answered };
    },
  );
}
