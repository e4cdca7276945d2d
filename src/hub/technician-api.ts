// The technician API (HTTPS; HTTP/2 with HTTP/1.1 fallback): login, stations, and session requests
// as extended CONNECT streams handed to the session broker.

import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { installApiConventions } from '../common/http-api.js';
import type { Logger } from '../common/logger.js';
import { http2SessionWindowBytes, http2Settings, tlsCipherPreference } from '../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { SessionBroker } from './session-broker.js';
import type { TechnicianAuth } from './technician-auth.js';
import type { TunnelRegistry } from './tunnel-registry.js';

export interface TechnicianApiOptions {
  keyPem: string;
  certChainPem: string;
  auth: TechnicianAuth;
  broker: SessionBroker;
  registry: TunnelRegistry;
  store: HubStore;
  logger: Logger;
}

export const loginRequestSchema = z
  .object({ user: z.string().min(1).max(128), password: z.string().min(1).max(1024) })
  .strict();

export function buildTechnicianApi(options: TechnicianApiOptions) {
  const app = Fastify({
    http2: true,
    https: {
      allowHTTP1: true,
      key: options.keyPem,
      cert: options.certChainPem,
      minVersion: 'TLSv1.2',
      ciphers: tlsCipherPreference,
      honorCipherOrder: true,
      settings: http2Settings,
    },
    bodyLimit: 64 * 1024,
  });
  installApiConventions(app, options.logger);
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
    options.broker.handle(request.stream, request.headers);
  });

  api.post('/v1/login', { schema: { body: loginRequestSchema } }, async (request) => {
    const { token, expiresAtMs, user } = await auth.login(
      request.body.user,
      request.body.password,
      request.ip,
    );
    return { token, expiresAt: new Date(expiresAtMs).toISOString(), user: user.name, groups: user.groups };
  });

  api.get('/v1/me', async (request) => {
    const user = await auth.authenticate(request.headers.authorization);
    return { user: user.name, groups: user.groups, technician: user.groups.includes(auth.authorizedGroup) };
  });

  api.get('/v1/stations', async (request) => {
    await auth.authenticate(request.headers.authorization);
    const stations = await store.listStations();
    return {
      stations: stations.map((s) => ({
        stationId: s.id,
        name: s.name,
        online: registry.has(s.id),
        connectedSince: toIso(registry.connectedSince(s.id) ?? null),
        lastSeen: toIso(registry.has(s.id) ? Date.now() : s.lastSeenAtMs),
        enrolledAt: toIso(s.enrolledAtMs),
        certNotAfter: toIso(s.certNotAfterMs),
        revoked: s.revokedAtMs !== null,
      })),
    };
  });

  api.get('/v1/health', async () => ({ ok: true, tunnels: registry.size }));

  return app;
}

function toIso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
