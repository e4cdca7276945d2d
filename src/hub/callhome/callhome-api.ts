// The call-home channel (HTTP/2 over the station port's TLS): enrollment, the one request allowed
// without a station certificate, and the routes of stations (registered from their own files).

import { createHash, randomBytes } from 'node:crypto';
import { constants as h2, createServer as createH2Server, type ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { installApiConventions } from '../../common/net/index.js';
import { installBodyProgress } from '../../common/net/index.js';
import type { ConnectionGuard } from '../../common/net/index.js';
import type { Logger } from '../../common/logger.js';
import { certNotAfterMs, signStationCsr, verifyCsr } from '../../pki/index.js';
import {
  generateStationId,
  http2SessionWindowBytes,
  http2Settings,
  type ReportKind,
} from '../../protocol/index.js';
import type { HubStore } from '../store/index.js';
import type { HubAudit } from '../audit/index.js';
import { registerStationRoutes } from './station-routes.js';
import { registerTrustRoutes } from './trust-routes.js';
import { recordIssuedStationCert } from '../trust/index.js';
import type { HubTrustMaterial } from '../trust/index.js';
import { registerBatchRoutes } from './batch-routes.js';
import { registerDataRequestRoutes } from './request-routes.js';
import { registerFixRoutes } from '../fixes/index.js';
import { registerAttachmentRoutes } from '../attachments/index.js';
import { AttachmentReceiver, type ChunkTransport, type UploadShares } from '../attachments/index.js';
import { serveUploadChannel } from '../attachments/index.js';
import type { BlobStore } from '../attachments/index.js';
import type { StoreRoom } from '../../common/disk/index.js';

export const enrollRequestSchema = z
  .object({
    secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'the enrollment token secret'),
    csr: z.string().min(100).max(8192),
    name: z.string().min(1).max(128),
  })
  .strict();

export const enrollResponseSchema = z.object({
  stationId: z.string(),
  certPem: z.string(),
  caPem: z.string(),
  ticketPublicKeyPem: z.string(),
  /** The key that signs fix statements; the agent pins it next to the ticket key. */
  fixPublicKeyPem: z.string(),
});

export function enrollmentTokenId(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface CallHomeApiOptions {
  /** The CA that signs station certificates, the keys agents pin: changed by a rotation. */
  trust: () => HubTrustMaterial;
  /** The hub's data directory: published fix files lie under it. */
  dataDir: string;
  stationCertValidityMs: number;
  /** How long after expiry a station certificate may still be renewed. */
  renewalGraceMs: number;
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  logger: Logger;
  /** Called once per report stored (not for a duplicate), for the hub's metrics. */
  onReportStored?: ((kind: ReportKind) => void) | undefined;
  /** An attachment chunk was stored (feeds /metrics). */
  onChunkStored?: ((via: ChunkTransport) => void) | undefined;
  /** The station port's deadlines: request bodies keep moving, idle connections close. */
  guard: ConnectionGuard;
  /** Each station's share of unfinished uploads (hub.yaml shares.perStation). */
  uploadShares?: UploadShares | undefined;
  /** Where the bytes of attachments go. */
  blobs: BlobStore;
  /** The disk's room: reports and chunks are refused with STORE_FULL when it has none. */
  room?: StoreRoom | undefined;
}

export async function buildCallHomeApi(options: CallHomeApiOptions) {
  const { store, audit, clock } = options;
  /** Open call-home connections, so a drain can send them elsewhere. */
  const sessions = new Set<ServerHttp2Session>();
  const app = Fastify({
    http2: true,
    serverFactory: (handler) => {
      // Attachment chunks are megabytes: with HTTP/2's default 64 KiB windows an upload would
      // wait on window updates most of the time. Windows as large as the tunnel's.
      const server = createH2Server(
        {
          // Several chunks in flight are 32 MiB on one session: nghttp2's default 10 MB budget
          // would reset their streams.
          maxSessionMemory: 64,
          settings: {
            maxConcurrentStreams: 100,
            initialWindowSize: http2Settings.initialWindowSize,
            maxFrameSize: http2Settings.maxFrameSize,
          },
        },
        handler,
      );
      server.on('session', (session) => {
        sessions.add(session);
        session.once('close', () => sessions.delete(session));
        session.once('localSettings', () => session.setLocalWindowSize(http2SessionWindowBytes));
        options.guard.session(session);
        // Agents close an idle call-home connection themselves; this bounds one that does not.
        session.setTimeout(options.guard.limits.idleTimeoutMs, () => session.close());
      });
      return server;
    },
    bodyLimit: 64 * 1024,
  });
  installApiConventions(app, options.logger);
  installBodyProgress(app, options.guard);
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post('/v1/enroll', { schema: { body: enrollRequestSchema } }, async (request) => {
    const { secret, csr, name } = request.body;
    const remote = request.ip;
    let stationId = generateStationId((n) => randomBytes(n));
    while (await store.getStation(stationId)) stationId = generateStationId((n) => randomBytes(n));
    // A malformed CSR does not use up the token; a bad token costs no signature.
    await verifyCsr(csr);
    const use = await store.useEnrollmentToken(enrollmentTokenId(secret), stationId, clock.now());
    if (!use.ok) {
      const refusal = {
        unknown: new LifelineError('ENROLL_TOKEN_INVALID', 'the enrollment token is not known to this hub'),
        expired: new LifelineError(
          'ENROLL_TOKEN_EXPIRED',
          'the enrollment token has expired: create a new one with lifeline hub token create',
        ),
        used: new LifelineError(
          'ENROLL_TOKEN_USED',
          'the enrollment token was already used: each token enrolls one station',
        ),
      }[use.why];
      await audit.record('enrollment', 'enroll.refused', null, { remote, name, code: refusal.code });
      throw refusal;
    }
    const trust = options.trust();
    const certPem = await signStationCsr(
      trust.signingCa,
      csr,
      stationId,
      options.stationCertValidityMs,
      clock.now(),
    );
    const nowMs = clock.now();
    await store.addStation({
      id: stationId,
      name,
      enrolledAtMs: nowMs,
      certNotAfterMs: certNotAfterMs(certPem),
      lastSeenAtMs: nowMs,
      connectedSinceMs: null,
      revokedAtMs: null,
    });
    await recordIssuedStationCert(store.certSerials, stationId, certPem, trust.signingCa.certPem, nowMs);
    await audit.record('enrollment', 'enroll', stationId, { remote, name });
    return {
      stationId,
      certPem,
      caPem: trust.bundle.caPem,
      ticketPublicKeyPem: trust.bundle.ticketPublicKeysPem,
      fixPublicKeyPem: trust.bundle.fixPublicKeyPem,
    };
  });

  const room = options.room;
  registerStationRoutes(app, { store, audit, clock, onReportStored: options.onReportStored, room });
  registerTrustRoutes(app, {
    store,
    audit,
    clock,
    trust: options.trust,
    stationCertValidityMs: options.stationCertValidityMs,
    renewalGraceMs: options.renewalGraceMs,
  });
  registerBatchRoutes(app, { store, audit, clock, onReportStored: options.onReportStored, room });
  registerDataRequestRoutes(app, { store, clock });
  registerFixRoutes(app, { store, audit, dataDir: options.dataDir });
  const receiver = new AttachmentReceiver({
    store,
    audit,
    clock,
    blobs: options.blobs,
    onChunkStored: options.onChunkStored,
    shares: options.uploadShares,
    room,
  });
  app.addHook('onClose', () => receiver.close());
  registerAttachmentRoutes(app, { store, receiver });

  await app.ready();
  return {
    accept(socket: TLSSocket): void {
      app.server.emit('connection', socket);
    },
    /** An upload channel connection (ALPN lifeline-upload/1): chunks to the same receiver. */
    acceptUpload(socket: TLSSocket): void {
      serveUploadChannel(socket, { store, receiver, logger: options.logger, guard: options.guard }).catch(
        (err: unknown) => {
          options.logger.error({ err }, 'upload channel failed');
          socket.destroy();
        },
      );
    },
    /**
     * The node is draining: every open call-home connection gets a GOAWAY `NO_ERROR` with `hint`
     * (requests in flight finish and are answered; the agent opens its next connection elsewhere).
     * Connections opened after this are served as usual until the hub closes.
     */
    drain(hint: string): number {
      for (const session of sessions) {
        if (session.closed || session.destroyed) continue;
        session.goaway(h2.NGHTTP2_NO_ERROR, 0, Buffer.from(hint));
        session.close();
      }
      return sessions.size;
    },
    close: () => app.close(),
  };
}
