// The agent's admin API (HTTP on loopback by default): what the appliance administrator, the CLI
// and the Diagnostics page use. Every request needs the credential stored in the data directory.

import { timingSafeEqual, createHash } from 'node:crypto';
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LifelineError } from '../common/errors.js';
import { installApiConventions } from '../common/http-api.js';
import type { Logger } from '../common/logger.js';
import { accessLevels } from '../policy/index.js';
import type { AgentControl } from './agent.js';
import { registerPolicyRoutes } from './admin-policy-routes.js';
import { registerCallHomeRoutes } from './admin-callhome-routes.js';
import { registerFixRoutes } from './admin-fix-routes.js';
import { registerProblemRoutes } from './admin-problem-routes.js';
import { registerAttachmentRoutes } from './admin-attachment-routes.js';
import { registerCollectorRoutes } from './admin-collector-routes.js';
import { registerDataRequestRoutes } from './admin-datarequest-routes.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export async function buildAdminApi(control: AgentControl, adminToken: string, logger: Logger) {
  const app = Fastify({
    bodyLimit: 64 * 1024,
  });
  installApiConventions(app, logger);
  // The OpenAPI document is generated from the same zod schemas that validate the requests.
  await app.register(swagger, {
    openapi: {
      info: { title: 'Lifeline agent admin API', version: '1' },
      components: { securitySchemes: { admin: { type: 'http', scheme: 'bearer' } } },
      security: [{ admin: [] }],
    },
    transform: jsonSchemaTransform,
  });
  const expected = digest(adminToken);

  app.addHook('onRequest', async (request) => {
    const auth = request.headers.authorization ?? '';
    const presented = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      throw new LifelineError(
        'AUTH_REQUIRED',
        'the admin API needs the credential from the agent data directory',
      );
    }
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  const actor = (ip: string) => `admin@${ip}`;

  api.get('/v1/status', async () => control.status());

  api.put(
    '/v1/remote',
    { schema: { body: z.object({ enabled: z.boolean() }).strict() } },
    async (request) => {
      await control.setRemote(request.body.enabled, actor(request.ip));
      return control.status();
    },
  );

  api.put(
    '/v1/access',
    { schema: { body: z.object({ level: z.enum(accessLevels) }).strict() } },
    async (request) => {
      await control.setAccessLevel(request.body.level, actor(request.ip));
      return control.status();
    },
  );

  api.get('/v1/sessions', async () => ({
    active: control.sessions(),
    recent: await control.recentSessions(),
  }));

  api.delete(
    '/v1/sessions/:id',
    {
      schema: {
        params: z.object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'a session id (32 hex digits)') }),
      },
    },
    async (request) => {
      await control.stopSession(request.params.id, actor(request.ip));
      return { stopped: 1 };
    },
  );

  api.post('/v1/sessions/stop-all', async (request) => ({
    stopped: await control.stopAll(actor(request.ip)),
  }));

  api.get('/v1/services', async () => ({ services: await control.services() }));

  api.get('/v1/audit/verify', async () => control.verifyAudit());

  registerPolicyRoutes(app, control, actor);
  registerCallHomeRoutes(
    app,
    () => control.outbox,
    (untilMs, who) => control.pauseCallHome(untilMs, who),
    actor,
    () => control.problems,
  );
  registerProblemRoutes(app, () => control.problems);
  registerAttachmentRoutes(app, () => control.uploader, actor);
  registerFixRoutes(app, control, actor);
  registerCollectorRoutes(app, control);
  registerDataRequestRoutes(app, () => control.dataRequests, actor);

  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  api.get(
    '/v1/audit',
    {
      schema: {
        querystring: z
          .object({
            since: z.coerce.number().int().nonnegative().optional(),
            limit: z.coerce.number().int().min(1).max(10_000).optional(),
          })
          .strict(),
      },
    },
    async (request) => ({
      entries: await control.audit({ sinceMs: request.query.since, limit: request.query.limit }),
    }),
  );

  return app;
}
