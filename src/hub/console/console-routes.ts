// Technician API routes behind the hub console: sessions, problem tickets and their error data,
// retention, and the live change feed. The same rules as the CLI: every change is written to the
// hub's audit log, with the signed-in user as the actor. Any enabled hub user may read and act on
// problems (support engineers need not be technicians); sessions stay limited to the authorized group.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ChangeFeed } from '../../common/change-feed.js';
import type { StoreFullCondition } from '../../common/disk/index.js';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { attachmentIdPattern } from '../../protocol/index.js';
import { nodeLeaseMs, type HubStore } from '../store/index.js';
import { blobKeyOf, deleteAttachment, readableAttachment, type BlobStore } from '../attachments/index.js';
import type { HubAudit } from '../audit/index.js';
import type { RetentionConfig } from '../retention/index.js';
import { formatPeriod, retentionRules } from '../retention/index.js';
import { isSilent } from '../stations/index.js';
import type { SessionBroker } from '../sessions/index.js';
import type { TechnicianAuth } from '../technicians/index.js';
import type { TunnelRegistry } from '../stations/index.js';
import { LimitReached, seconds, shareKeys, type ShareRefusals } from '../shares/index.js';
import type { SharesConfig } from '../shares/index.js';

/** A download link works once, for this long: long enough to click, too short to pass around. */
const downloadLinkMs = 60_000;
/** Download links of all users at once. */
const maxDownloadLinks = 1000;

const problemNumber = z.object({
  number: z.string().regex(/^P-[0-9]{6,}$/, 'a problem number such as P-000001'),
});
const attachmentId = z.object({
  id: z.string().regex(attachmentIdPattern, 'an attachment id (32 hex digits)'),
});

export interface ConsoleRouteOptions {
  auth: TechnicianAuth;
  /** Session requests from the console are asked of the station like a real session's. */
  broker: Pick<SessionBroker, 'probe'>;
  store: HubStore;
  audit: HubAudit;
  clock: Clock;
  /** Where the bytes of attachments live. */
  blobs: BlobStore;
  retention: RetentionConfig;
  feed: ChangeFeed;
  /** What one user may hold of the live pages and download links (hub.yaml shares.perUser). */
  shares: Pick<SharesConfig['perUser'], 'feedStreams' | 'downloadLinks'>;
  refusals: ShareRefusals;
  /** The hub's store-full condition (StoreSpace), for the console's banner; null while there is room. */
  storeFull?: () => StoreFullCondition | null;
}

/** A station's model, from its latest inventory, looked up at most this often. */
const modelMemoMs = 30_000;

export interface StationRow {
  stationId: string;
  name: string;
  model: string | null;
  online: boolean;
  connectedSince: string | null;
  lastSeen: string | null;
  enrolledAt: string;
  certNotAfter: string;
  revoked: boolean;
  lastHeartbeatAt: string | null;
  /** No heartbeat for about twice the interval the station announced (station-silence.ts). */
  silent: boolean;
}

/** GET /v1/stations: what `lifeline stations` and the console list. */
export function stationLister(
  store: HubStore,
  registry: Pick<TunnelRegistry, 'has' | 'connectedSince'>,
  clock: Clock,
): () => Promise<StationRow[]> {
  const models = new Map<string, { model: string | null; atMs: number }>();
  const modelOf = async (stationId: string, nowMs: number): Promise<string | null> => {
    const memo = models.get(stationId);
    if (memo && nowMs - memo.atMs < modelMemoMs) return memo.model;
    const inventory = await store.health.latestInventory(stationId);
    const model = inventory?.inventory.appliance.model ?? null;
    models.set(stationId, { model, atMs: nowMs });
    return model;
  };
  return async () => {
    const nowMs = clock.now();
    // On a cluster, a station whose tunnel another live node holds is online too.
    const [stations, health, held] = await Promise.all([
      store.listStations(),
      store.health.listHealth(),
      store.cluster.heldStations(nowMs, nodeLeaseMs),
    ]);
    const healthOf = new Map(health.map((h) => [h.stationId, h]));
    return Promise.all(
      stations.map(async (s) => {
        const online = registry.has(s.id) || held.has(s.id);
        const heard = healthOf.get(s.id);
        return {
          stationId: s.id,
          name: s.name,
          model: await modelOf(s.id, nowMs),
          online,
          connectedSince: toIso(registry.connectedSince(s.id) ?? held.get(s.id)?.connectedSinceMs ?? null),
          lastSeen: toIso(online ? nowMs : s.lastSeenAtMs),
          enrolledAt: new Date(s.enrolledAtMs).toISOString(),
          certNotAfter: new Date(s.certNotAfterMs).toISOString(),
          revoked: s.revokedAtMs !== null,
          lastHeartbeatAt: toIso(heard?.lastHeartbeatAtMs ?? null),
          silent: s.revokedAtMs === null && isSilent(heard, nowMs),
        };
      }),
    );
  };
}

function toIso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Which console topics an entry of the hub's audit log changes (for the live feed). */
export function consoleTopicsOf(action: string): string[] {
  if (action.startsWith('tunnel.') || action.startsWith('station.') || action.startsWith('enroll'))
    return ['stations'];
  if (action.startsWith('session.')) return ['sessions', 'stations'];
  if (action.startsWith('problem.') || action.startsWith('data.') || action.startsWith('attachment.'))
    return ['problems'];
  if (action.startsWith('retention.')) return ['retention', 'problems'];
  return [];
}

export function registerConsoleRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: ConsoleRouteOptions,
): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { auth, store, audit, clock, feed, shares, refusals } = options;
  const { blobs } = options;
  const downloads = new Map<string, { id: string; user: string; expiresAtMs: number }>();
  const signedIn = async (authorization: string | undefined) => (await auth.authenticate(authorization)).name;
  const refuse = (error: LimitReached, user: string): LimitReached => {
    refusals.refused(error, `user:${user}`);
    return error;
  };

  // A used-up share says when to try again, where that is known (the error handler keeps headers).
  app.addHook('onError', async (_request, reply, error) => {
    if (error instanceof LimitReached && error.retryAfterSeconds !== undefined)
      void reply.header('retry-after', String(error.retryAfterSeconds));
  });

  audit.onRecord((action) => {
    const topics = consoleTopicsOf(action);
    if (topics.length > 0) feed.changed(...topics);
  });

  // Each user may hold a few live pages, so one user (signed in, technician or not) cannot take
  // the places of everyone else's console.
  api.get('/v1/events', async (request, reply) => {
    const user = await signedIn(request.headers.authorization);
    await feed.serve(request, reply, {
      owner: user,
      max: shares.feedStreams,
      refuse: (held) =>
        refuse(
          new LimitReached(
            'feed-streams',
            `user ${user} has ${held} live pages open, as many as one user may (hub.yaml ${shareKeys['feed-streams']}): close one of them, then reload this page`,
          ),
          user,
        ),
    });
  });

  api.get(
    '/v1/sessions',
    {
      schema: {
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict(),
      },
    },
    async (request) => {
      await signedIn(request.headers.authorization);
      const [active, recent] = await Promise.all([
        store.listSessions({ activeOnly: true }),
        store.listSessions({ limit: request.query.limit }),
      ]);
      return { active, recent: recent.filter((s) => s.endedAtMs !== null) };
    },
  );

  // A technician asks for access from the console: the station answers as it would a session
  // (admitted, or pending approval with the request, or refused); the console asks again with
  // `wait` until the administrator decided, then the technician connects with their tools.
  api.post(
    '/v1/session-requests',
    {
      schema: {
        body: z
          .object({
            stationId: z.string().min(1).max(64),
            service: z.string().min(1).max(255),
            reason: z.string().max(500).optional(),
            wait: z.boolean().default(false),
          })
          .strict(),
      },
    },
    async (request) => {
      const { stationId, service, reason, wait } = request.body;
      return options.broker.probe(
        request.headers.authorization,
        stationId,
        service,
        reason,
        wait ? 'wait' : 'check',
      );
    },
  );

  api.get(
    '/v1/problems',
    { schema: { querystring: z.object({ open: z.enum(['true', 'false']).optional() }).strict() } },
    async (request) => {
      await signedIn(request.headers.authorization);
      return { problems: await store.reports.listProblems({ open: request.query.open === 'true' }) };
    },
  );

  api.get('/v1/problems/:number', { schema: { params: problemNumber } }, async (request) => {
    await signedIn(request.headers.authorization);
    const { number } = request.params;
    const found = await store.reports.getProblem(number);
    if (!found) throw new LifelineError('API_NOT_FOUND', `no problem ${number}`);
    return {
      ...found.problem,
      reports: found.reports,
      attachments: await store.attachments.listForProblem(number),
      dataRequests: await store.dataRequests.listForProblem(number),
    };
  });

  api.post('/v1/problems/:number/close', { schema: { params: problemNumber } }, async (request) => {
    const user = await signedIn(request.headers.authorization);
    const { number } = request.params;
    if (!(await store.reports.closeProblem(number, clock.now())))
      throw new LifelineError('API_NOT_FOUND', `no open problem ${number}`);
    await audit.record(`user:${user}`, 'problem.closed', null, { problemNumber: number });
    return { closed: number };
  });

  api.post('/v1/attachments/:id/download-link', { schema: { params: attachmentId } }, async (request) => {
    const user = await signedIn(request.headers.authorization);
    await readableAttachment(store, request.params.id);
    const nowMs = clock.now();
    let held = 0;
    let oldestExpiresAtMs = Number.POSITIVE_INFINITY;
    for (const [token, link] of downloads) {
      if (link.expiresAtMs <= nowMs) downloads.delete(token);
      else if (link.user === user) {
        held += 1;
        oldestExpiresAtMs = Math.min(oldestExpiresAtMs, link.expiresAtMs);
      }
    }
    if (held >= shares.downloadLinks) {
      const waitMs = oldestExpiresAtMs - nowMs;
      throw refuse(
        new LimitReached(
          'download-links',
          `user ${user} holds ${held} unused download links, as many as one user may (hub.yaml ${shareKeys['download-links']}): use them, or try again in ${seconds(waitMs)} when the oldest expires`,
          waitMs,
        ),
        user,
      );
    }
    if (downloads.size >= maxDownloadLinks)
      throw new LifelineError('API_BUSY', 'too many download links are open');
    const token = randomBytes(24).toString('base64url');
    downloads.set(token, { id: request.params.id, user, expiresAtMs: nowMs + downloadLinkMs });
    return { url: `/v1/downloads/${token}`, expiresAtMs: nowMs + downloadLinkMs };
  });

  // The link is the credential (single use, a minute): a browser download carries no header.
  api.get(
    '/v1/downloads/:token',
    { schema: { params: z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{32}$/) }) } },
    async (request, reply) => {
      const link = downloads.get(request.params.token);
      downloads.delete(request.params.token);
      if (!link || link.expiresAtMs <= clock.now())
        throw new LifelineError(
          'AUTH_REQUIRED',
          'the download link has expired or was used: ask for a new one',
        );
      const attachment = await readableAttachment(store, link.id);
      await audit.record(`user:${link.user}`, 'data.offloaded', attachment.stationId, {
        attachmentId: attachment.id,
        problemNumber: attachment.problemNumber,
        name: attachment.name,
        bytes: attachment.bytes,
      });
      const bytes = await blobs.read(blobKeyOf(attachment));
      return (
        reply
          .type('application/octet-stream')
          .header('content-length', String(attachment.bytes))
          .header(
            'content-disposition',
            `attachment; filename="${attachment.name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
          )
          // The SHA-256 the upload was verified with, so the copy can be checked (RFC 9530).
          .header('repr-digest', `sha-256=:${Buffer.from(attachment.sha256, 'hex').toString('base64')}:`)
          .header('cache-control', 'no-store')
          .send(bytes)
      );
    },
  );

  api.delete('/v1/attachments/:id', { schema: { params: attachmentId } }, async (request) => {
    const user = await signedIn(request.headers.authorization);
    const nowMs = clock.now();
    const removed = await deleteAttachment({ store, blobs, id: request.params.id, nowMs });
    await audit.record(`user:${user}`, 'data.deleted', removed.stationId, {
      attachmentId: removed.id,
      problemNumber: removed.problemNumber,
      name: removed.name,
      bytes: removed.bytes,
      sha256: removed.sha256,
    });
    return { deleted: removed.id };
  });

  // The hub's own condition: the console shows a banner while its disk has no room.
  api.get('/v1/hub/status', async (request) => {
    await signedIn(request.headers.authorization);
    return { storeFull: options.storeFull?.() ?? null };
  });

  api.get('/v1/retention', async (request) => {
    await signedIn(request.headers.authorization);
    const rules = Object.fromEntries(
      retentionRules.map((rule) => [rule, formatPeriod(options.retention[rule])]),
    );
    return {
      rules,
      interval: formatPeriod(options.retention.interval),
      lastRun: (await store.retention.lastRun()) ?? null,
    };
  });
}
