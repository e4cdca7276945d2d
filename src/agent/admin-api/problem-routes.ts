// Admin API routes of the agent's problem list: every problem it opened, open or closed, with the
// vendor's problem number once the hub gave it. Opening, updating and closing are call-home routes.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ProblemDesk } from '../callhome/index.js';

export function registerProblemRoutes(app: FastifyInstance, problems: ProblemDesk): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get('/v1/problems', async () => ({ problems: await problems.list() }));

  api.get(
    '/v1/problems/:localId',
    {
      schema: {
        params: z.object({ localId: z.string().regex(/^PB-[0-9A-Z]{6}$/, 'a problem id: PB-XXXXXX') }),
      },
    },
    async (request) => ({ problem: await problems.get(request.params.localId) }),
  );
}
