// Admin API routes of fixes: the CLI downloads a fix itself (with the data directory's station
// identity) and records here, in the running agent's audit log, what it downloaded or refused.

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { fixEventSchema, type FixDownload, type FixEvent } from '../fixes/index.js';

export interface FixControl {
  recordFixEvent(event: FixEvent, actor: string): Promise<void>;
  fixDownloads(): Promise<FixDownload[]>;
}

export function registerFixRoutes(
  app: FastifyInstance,
  control: FixControl,
  actor: (ip: string) => string,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post('/v1/fixes/events', { schema: { body: fixEventSchema } }, async (request, reply) => {
    await control.recordFixEvent(request.body, actor(request.ip));
    return reply.code(201).send({ recorded: true });
  });

  api.get('/v1/fixes/downloads', async () => ({ downloads: await control.fixDownloads() }));
}
