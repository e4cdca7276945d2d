// Admin API routes of the appliance's services: list them, add or change one, remove one. The
// agent writes each change with its audit entry, so the entry reaches syslog and the live pages.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { serviceNameSchema } from '../../protocol/index.js';
import type { ServiceTarget } from '../sessions/index.js';
import type { ServiceRecord } from '../store/index.js';

export interface ServiceControl {
  services(): Promise<ServiceRecord[]>;
  /** Adds the service or changes its address; answers it with its host in canonical form. */
  addService(service: ServiceTarget, actor: string): Promise<ServiceTarget>;
  /** POLICY_SERVICE_UNKNOWN when there is no such service. */
  removeService(name: string, actor: string): Promise<void>;
}

const serviceParams = z.object({ name: serviceNameSchema });

export function registerServiceRoutes(
  app: FastifyInstance,
  control: ServiceControl,
  actor: (ip: string) => string,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get('/v1/services', async () => ({ services: await control.services() }));

  api.put(
    '/v1/services/:name',
    {
      schema: {
        params: serviceParams,
        body: z
          .object({
            host: z.string().min(1).max(64).default('127.0.0.1'),
            port: z.number().int().min(1).max(65535),
          })
          .strict(),
      },
    },
    async (request) => ({
      service: await control.addService({ name: request.params.name, ...request.body }, actor(request.ip)),
    }),
  );

  api.delete('/v1/services/:name', { schema: { params: serviceParams } }, async (request) => {
    await control.removeService(request.params.name, actor(request.ip));
    return { removed: request.params.name };
  });
}
