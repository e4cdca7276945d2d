// Admin API routes of the collectors: the appliance software submits its managed systems'
// inventory, status and performance; the admin sends the inventory or a heartbeat now; and
// "test call home" runs from here for the Diagnostics page.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { performancePayloadSchema, systemStatuses } from '../../protocol/index.js';
import type { CallHomeTestReport } from '../callhome/index.js';
import type { Collectors } from '../collectors/index.js';
import { systemsListSchema } from '../collectors/index.js';

export interface CollectorControl {
  readonly collectors: Collectors;
  testCallHome(): Promise<CallHomeTestReport>;
}

const serialParams = z.object({ serial: z.string().min(1).max(64) });

export function registerCollectorRoutes(app: FastifyInstance, control: CollectorControl): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { collectors } = control;

  api.get('/v1/systems', async () => ({ systems: await collectors.systems() }));

  api.put(
    '/v1/systems/:serial/status',
    {
      schema: {
        params: serialParams,
        body: z.object({ status: z.enum(systemStatuses), detail: z.string().max(500).optional() }).strict(),
      },
    },
    async (request) => ({
      system: await collectors.setSystemStatus(
        request.params.serial,
        request.body.status,
        request.body.detail,
      ),
    }),
  );

  api.get('/v1/inventory', async () => ({ inventory: await collectors.inventory() }));

  // The appliance software's inventory of its systems; queued now if it changed (or with send).
  api.post(
    '/v1/inventory',
    {
      schema: {
        body: z
          .object({
            systems: systemsListSchema,
            send: z.boolean().optional(),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      const result = await collectors.submitInventory(request.body.systems, {
        send: request.body.send === true,
      });
      return reply.code(202).send(inventoryAnswer(result));
    },
  );

  api.post('/v1/inventory/send', async (_request, reply) =>
    reply.code(202).send(inventoryAnswer(await collectors.sendInventory())),
  );

  api.post('/v1/heartbeat/send', async (_request, reply) => {
    const { report, payload } = await collectors.sendHeartbeat();
    return reply.code(202).send({ queued: true, report, heartbeat: payload });
  });

  api.post('/v1/performance', { schema: { body: performancePayloadSchema } }, async (request, reply) =>
    reply.code(202).send({ report: await collectors.submitPerformance(request.body) }),
  );

  api.get('/v1/performance/samples', async () => ({ samples: collectors.recentSamples() }));

  api.post('/v1/callhome/test', async () => control.testCallHome());
}

function inventoryAnswer(
  result:
    | Awaited<ReturnType<Collectors['sendInventory']>>
    | Awaited<ReturnType<Collectors['sendInventoryIfChanged']>>,
) {
  return {
    queued: result.report !== undefined,
    ...(result.report ? { report: result.report } : {}),
    digest: result.inventory.digest,
    systems: result.inventory.systems.map((s) => s.serial),
  };
}
