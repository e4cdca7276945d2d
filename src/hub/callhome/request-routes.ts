// Call-home routes for data requests: a station fetches the open requests for its problems and
// sends its administrator's answers. Station-certificate auth, like POST /v1/reports.

import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import { dataRequestAnswerSchema, dataRequestIdSchema } from '../../protocol/index.js';
import type { HubStore } from '../store/index.js';
import { callingStation } from '../stations/index.js';

export function registerDataRequestRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: { store: HubStore; clock: Clock },
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { store, clock } = options;

  api.get('/v1/data-requests', async (request) => {
    const { stationId } = await callingStation(request.raw, store);
    return { requests: await store.dataRequests.fetchOpenForStation(stationId, clock.now()) };
  });

  api.post(
    '/v1/data-requests/:id/answer',
    { schema: { params: z.object({ id: dataRequestIdSchema }), body: dataRequestAnswerSchema } },
    async (request) => {
      const { stationId } = await callingStation(request.raw, store);
      const { state, note, answeredAtMs } = request.body;
      const nowMs = clock.now();
      const result = await store.dataRequests.answer(
        stationId,
        request.params.id,
        { state, note, answeredAtMs, nowMs },
        (r) => ({
          atMs: nowMs,
          actor: `station:${stationId}`,
          action: state === 'answered' ? 'data.answered' : 'data.declined',
          stationId,
          detail: { requestId: r.id, problemNumber: r.problemNumber, note },
        }),
      );
      return { state: result.request.state, duplicate: result.duplicate };
    },
  );
}
