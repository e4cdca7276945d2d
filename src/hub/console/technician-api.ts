// The technician API (HTTPS; HTTP/2 with HTTP/1.1 fallback): login, stations, session requests as
// extended CONNECT streams handed to the session broker, and the hub console (its page and routes).

import { constants as cryptoConstants } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { installApiConventions, listenError, type HostPort } from '../../common/net/index.js';
import { installBodyProgress } from '../../common/net/index.js';
import type { ConnectionGuard } from '../../common/net/index.js';
import type { Logger } from '../../common/logger.js';
import {
  http2SessionWindowBytes,
  http2Settings,
  technicianApiSecurityHeaders,
  technicianApiTls,
} from '../../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { SessionBroker } from '../sessions/index.js';
import { LoginRateLimited, type TechnicianAuth } from '../technicians/index.js';
import type { TunnelRegistry } from '../stations/index.js';
import {
  ensureScrapeToken,
  registerHubOpsRoutes,
  type HubMetrics,
  type HubOpsRoutesOptions,
} from './metrics.js';
import { registerConsoleRoutes, stationLister, type ConsoleRouteOptions } from './console-routes.js';
import { registerWebPages } from '../../common/web-pages.js';
import { ChangeFeed } from '../../common/change-feed.js';
import type { StoreSpace } from '../../common/disk/index.js';
import { registerCrlRoute, type CaCrl } from '../trust/index.js';

export interface TechnicianApiOptions {
  keyPem: string;
  certChainPem: string;
  auth: TechnicianAuth;
  broker: SessionBroker;
  registry: TunnelRegistry;
  store: HubStore;
  logger: Logger;
  /** GET /health and GET /metrics (metrics.ts). */
  ops: HubOpsRoutesOptions;
  /** What the hub console's routes need beyond the above (console-routes.ts). */
  console: Omit<ConsoleRouteOptions, 'auth' | 'store' | 'broker'>;
  /** The hub CA's CRL, served at GET /v1/ca.crl (crl.ts). */
  crl?: CaCrl;
  /** Deadlines and caps of this port's connections; a login or a valid bearer token authenticates. */
  guard: ConnectionGuard;
}

/** Routes whose successful answer proves who is asking (a password, the scrape token, a download link). */
const provingRoutes = new Set(['/v1/login', '/metrics', '/v1/downloads/:token']);

export const loginRequestSchema = z
  .object({
    user: z.string().min(1).max(128),
    password: z.string().min(1).max(1024),
    /** The current TOTP code, for users enrolled in TOTP (checked by TechnicianAuth). */
    totp: z.string().max(16).optional(),
  })
  .strict();

export function buildTechnicianApi(options: TechnicianApiOptions) {
  const app = Fastify({
    http2: true,
    https: {
      allowHTTP1: true,
      key: options.keyPem,
      cert: options.certChainPem,
      // TLS 1.2+, ECDHE + AEAD only, server order (tls-settings.ts). Renegotiation is refused
      // outright (OpenSSL 3 has no TLS compression to turn off).
      ...technicianApiTls,
      secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
      settings: http2Settings,
    },
    bodyLimit: 64 * 1024,
    // An HTTP/2 connection without a stream for this long is closed with GOAWAY.
    http2SessionTimeout: options.guard.limits.idleTimeoutMs,
  });
  installApiConventions(app, options.logger);
  const { guard } = options;
  guard.attach(app.server, { tls: true, http1: 'alpn' });
  app.server.on('session', (session: ServerHttp2Session) => guard.session(session));
  installBodyProgress(app, guard);
  // A connection is authenticated by its first request with a valid login (looked up once per
  // connection; the route's own check then finds it in TechnicianAuth's cache).
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket;
    const authorization = request.headers.authorization;
    if (!authorization || guard.isAuthenticated(socket)) return;
    await options.auth.authenticate(authorization).then(
      () => guard.authenticated(socket),
      () => undefined,
    );
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (reply.statusCode < 400 && route !== undefined && provingRoutes.has(route))
      guard.authenticated(request.raw.socket);
  });
  // Security headers on every answer a route did not set itself. A page (the hub console) brings
  // its own content security policy: the API's "nothing at all" would stop its scripts.
  app.addHook('onSend', async (_request, reply) => {
    const page = String(reply.getHeader('content-type') ?? '').startsWith('text/html');
    for (const [name, value] of Object.entries(technicianApiSecurityHeaders))
      if (!reply.hasHeader(name) && !(page && name === 'content-security-policy'))
        void reply.header(name, value);
  });
  registerHubOpsRoutes(app, options.ops);
  if (options.crl) registerCrlRoute(app, options.crl);
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { auth, store, registry } = options;

  // Sessions carry interactive traffic: no Nagle delay on technician connections.
  app.server.on('secureConnection', (socket: TLSSocket) => socket.setNoDelay(true));
  // Each technician connection may carry many sessions: a large connection window, like the tunnel's.
  app.server.on('session', (session: ServerHttp2Session) => {
    session.once('localSettings', () => session.setLocalWindowSize(http2SessionWindowBytes));
  });
  app.server.on('connect', (request: Http2ServerRequest | IncomingMessage) => {
    if (!('stream' in request)) {
      // An HTTP/1.1 CONNECT (allowHTTP1): sessions need HTTP/2; close the socket.
      request.socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    // The compat response would send its own (empty) trailers; the broker sends the session's.
    request.stream.removeAllListeners('wantTrailers');
    const socket = request.socket;
    const authorization = request.headers.authorization;
    if (!authorization || guard.isAuthenticated(socket)) {
      options.broker.handle(request.stream, request.headers);
      return;
    }
    // The login is looked up first, so the broker's own check finds it in TechnicianAuth's cache.
    void options.auth
      .authenticate(authorization)
      .then(
        () => guard.authenticated(socket),
        () => undefined,
      )
      .finally(() => options.broker.handle(request.stream, request.headers));
  });

  api.post('/v1/login', { schema: { body: loginRequestSchema } }, async (request, reply) => {
    try {
      const { token, expiresAtMs, user, amr } = await auth.login(
        request.body.user,
        request.body.password,
        request.ip,
        request.body.totp,
      );
      const expiresAt = new Date(expiresAtMs).toISOString();
      return { token, expiresAt, user: user.name, groups: user.groups, amr };
    } catch (err) {
      if (!(err instanceof LoginRateLimited)) throw err;
      const retryAfterSeconds = Math.ceil(err.retryAfterMs / 1000);
      return reply
        .code(429)
        .header('retry-after', String(retryAfterSeconds))
        .send({ ...err.toJSON(), retryAfterSeconds });
    }
  });

  api.get('/v1/me', async (request) => {
    const { user, amr } = await auth.authenticateWithStrength(request.headers.authorization);
    return {
      user: user.name,
      groups: user.groups,
      technician: user.groups.includes(auth.authorizedGroup),
      amr,
    };
  });

  const listStations = stationLister(store, registry, options.console.clock);
  api.get('/v1/stations', async (request) => {
    await auth.authenticate(request.headers.authorization);
    return { stations: await listStations() };
  });

  registerConsoleRoutes(app, { auth, store, broker: options.broker, ...options.console });
  registerWebPages(app, ['console']);

  return app;
}

/** What the running hub gives its technician API beyond what the routes take. */
export interface TechnicianApiStartOptions extends Omit<TechnicianApiOptions, 'ops' | 'console'> {
  address: HostPort;
  metrics: HubMetrics;
  /** Where the bearer token of GET /metrics is kept (made on the first start). */
  scrapeTokenPath: string;
  /** The data directory's room: /health, and the console's banner, say when it has none. */
  space: StoreSpace;
  console: Omit<ConsoleRouteOptions, 'auth' | 'store' | 'broker' | 'feed' | 'storeFull'>;
}

/** The technician API listening, as the running hub holds it. */
export interface RunningTechnicianApi {
  /** The port listened on (the one asked for, or the one given for port 0). */
  readonly port: number;
  /** Ends the console's live feeds and the relayed sessions, then closes the server. */
  close(): Promise<void>;
}

/** Builds the technician API and listens; rejects with API_LISTEN_FAILED naming the address when it cannot. */
export async function startTechnicianApi(options: TechnicianApiStartOptions): Promise<RunningTechnicianApi> {
  const { store, space } = options;
  // Live updates for the hub console, from the hub's audit entries (console-routes.ts); the
  // store-full banner comes and goes with the condition.
  const feed = new ChangeFeed();
  const onSpaceChange = () => feed.changed('hub');
  space.on('change', onSpaceChange);
  const app = buildTechnicianApi({
    ...options,
    ops: {
      metrics: options.metrics,
      scrapeToken: ensureScrapeToken(options.scrapeTokenPath),
      // A lookup by key answers only if the database does; the station need not exist.
      healthy: async () => {
        await store.getStation('ST-0000-0000-0');
        return true;
      },
      storeFull: () => space.condition !== null,
      draining: () => options.broker.draining,
    },
    console: { ...options.console, feed, storeFull: () => space.condition },
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      space.off('change', onSpaceChange);
      // An open event stream or a live session would hold the server open.
      feed.close();
      options.broker.closeAll();
      await app.close();
    })());
  try {
    await app.listen({ host: options.address.host, port: options.address.port });
  } catch (err) {
    await close();
    throw listenError(err, 'the technician API', options.address, 'apiListen in hub.yaml');
  }
  const address = app.server.address();
  return { port: typeof address === 'object' && address ? address.port : options.address.port, close };
}
