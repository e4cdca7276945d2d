// The agent's admin API (HTTP on loopback by default): what the appliance administrator, the CLI
// and the Diagnostics page use. Every request needs the credential stored in the data directory,
// except GET /health (up, down or store-full, nothing more) for a supervisor or load balancer, and
// the files of the Diagnostics page (/ui/diagnostics/), which ask for the credential themselves.
// Every request, those included, must name the API itself in its Host header (see admin-host.ts).

import { timingSafeEqual, createHash } from 'node:crypto';
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LifelineError } from '../../common/errors.js';
import { installApiConventions } from '../../common/net/index.js';
import type { Logger } from '../../common/logger.js';
import { accessLevels } from '../../policy/index.js';
import type { AgentControl } from './agent-control.js';
import { registerPolicyRoutes } from './policy-routes.js';
import { registerCallHomeRoutes } from './callhome-routes.js';
import { registerFixRoutes } from './fix-routes.js';
import { registerServiceRoutes } from './service-routes.js';
import { registerProblemRoutes } from './problem-routes.js';
import { registerAttachmentRoutes } from './attachment-routes.js';
import { registerCollectorRoutes } from './collector-routes.js';
import { registerDataRequestRoutes } from './data-request-routes.js';
import type { AgentMetrics } from './metrics.js';
import type { ChangeFeed } from '../../common/change-feed.js';
import { installBodyProgress } from '../../common/net/index.js';
import type { ConnectionGuard } from '../../common/net/index.js';
import { formatHostPort } from '../../common/net/index.js';
import { canonicalAddress } from '../../common/net/index.js';
import { isOwnHost, type AdminHostRules } from './admin-host.js';
import { registerWebPages } from '../../common/web-pages.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export interface AdminOps {
  metrics: AgentMetrics;
  /** True when the agent can serve: its store answers and its audit log can be written. */
  healthy: () => Promise<boolean>;
  /** True while the data directory's disk is full (StoreSpace): /health says so. */
  storeFull?: () => boolean;
  /** What changed, for the Diagnostics page's live updates (GET /v1/events). */
  feed: ChangeFeed;
  /** Deadlines and caps of the API's connections; the admin credential authenticates. */
  guard: ConnectionGuard;
  /** Which Host headers it answers to. */
  hosts: AdminHostRules;
}

const healthTimeoutMs = 2000;

export async function buildAdminApi(
  control: AgentControl,
  adminToken: string,
  logger: Logger,
  ops: AdminOps,
) {
  const { guard } = ops;
  const app = Fastify({
    bodyLimit: 64 * 1024,
    keepAliveTimeout: guard.limits.idleTimeoutMs,
    // Node's own header deadline too (the guard's applies from a request's first byte).
    http: { headersTimeout: guard.limits.headersTimeoutMs + guard.limits.idleTimeoutMs },
  });
  installApiConventions(app, logger);
  guard.attach(app.server, { tls: false, http1: 'all' });
  installBodyProgress(app, guard);
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
    const { localAddress, localPort } = request.socket;
    if (!isOwnHost(request.headers.host, { localAddress, localPort }, ops.hosts)) {
      const own = formatHostPort({
        host: canonicalAddress(localAddress ?? '') ?? '127.0.0.1',
        port: localPort ?? 0,
      });
      throw new LifelineError(
        'API_MISDIRECTED',
        `the admin API answers only to its own address (${own}) or localhost:${localPort ?? 0}${ops.hosts.allowedHosts.length > 0 ? ` or the names in admin.allowedHosts` : ''}, not to Host ${JSON.stringify(request.headers.host ?? '')}: open it by one of those, or add the name to admin.allowedHosts in agent.yaml`,
      );
    }
  });

  app.addHook('onRequest', async (request) => {
    // The one open route, matched on the routed path (not the raw URL, which a query could dress up).
    const route = request.routeOptions.url;
    const reading = request.method === 'GET' || request.method === 'HEAD';
    if (route === '/health' && reading) return;
    // The Diagnostics page's files hold no secret: the page asks for the credential itself.
    if (reading && (route === '/ui/*' || route === '/ui/diagnostics')) return;
    const auth = request.headers.authorization ?? '';
    const presented = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      throw new LifelineError(
        'AUTH_REQUIRED',
        'the admin API needs the credential from the agent data directory',
      );
    }
    guard.authenticated(request.raw.socket);
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  const actor = (ip: string) => `admin@${ip}`;

  api.get('/v1/status', async () => control.status());

  api.get('/v1/events', { schema: { hide: true } }, (request, reply) => ops.feed.serve(request, reply));
  registerWebPages(app, ['diagnostics']);

  api.get('/health', { schema: { security: [] } }, async (_request, reply) => {
    // Not ok, and why: a restart does not help, freeing space does.
    if (ops.storeFull?.()) return reply.code(503).send({ status: 'store-full' });
    const ok = await withinTimeout(ops.healthy(), healthTimeoutMs);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await ops.metrics.render();
    return reply.header('content-type', ops.metrics.contentType).send(body);
  });

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

  api.get('/v1/audit/verify', async () => control.verifyAudit());

  registerServiceRoutes(app, control, actor);
  registerPolicyRoutes(app, control, actor);
  registerCallHomeRoutes(
    app,
    control.outbox,
    (untilMs, who) => control.pauseCallHome(untilMs, who),
    actor,
    control.problems,
  );
  registerProblemRoutes(app, control.problems);
  registerAttachmentRoutes(app, control.uploader, actor);
  registerFixRoutes(app, control, actor);
  registerCollectorRoutes(app, control);
  registerDataRequestRoutes(app, control.dataRequests, actor);

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

/** False when the check fails or does not answer in time (a wedged store is down). */
async function withinTimeout(check: Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([check.catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
