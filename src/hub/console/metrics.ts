// The hub's Prometheus metrics and its two operations endpoints on the technician API: GET /health
// for load balancers (no credential, no detail) and GET /metrics for a scraper holding the scrape
// token from the data directory. Counters come from the audit stream (every refusal is audited with
// a code); gauges are read from live state when scraped.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance, RawServerBase } from 'fastify';
import type { Counter } from 'prom-client';
import type { Clock } from '../../common/clock.js';
import { LifelineError } from '../../common/errors.js';
import { writePrivateFile } from '../../common/disk/index.js';
import { kindLabel, MetricsRegistry } from '../../common/metrics-registry.js';
import type { ConnectionGuardStats } from '../../common/net/index.js';
import { shareKeys, type ShareLimit } from '../shares/index.js';

/** The login's limits, by the scope its refusals are audited with (login-limiter.ts). */
const loginLimits: Readonly<Record<string, string>> = {
  pair: 'login-backoff',
  user: 'login-user',
  address: 'login-address',
};

export interface HubMetricsSources {
  clock: Clock;
  /** Tunnels connected to this hub node now. */
  tunnels: () => number;
  /** Sessions relayed by this hub node now. */
  activeSessions: () => number;
  /** The tunnel admission's totals since start (admission.ts), when the hub has one. */
  admissionStats?: (() => { admitted: number; refused: number }) | undefined;
  /** The last heartbeat of every station that sent one (store.health). */
  stationHealth: () => Promise<
    readonly { stationId: string; lastHeartbeatAtMs: number; silentSinceMs: number | null }[]
  >;
  /** The connection guards of both ports (common/connection-guard.ts). */
  connectionStats?: (() => readonly ({ listener: string } & ConnectionGuardStats)[]) | undefined;
  /** True while the data directory has no room (StoreSpace). */
  storeFull?: () => boolean;
}

export class HubMetrics {
  readonly #metrics = new MetricsRegistry('lifeline_hub_', 'hub');
  readonly #sessionsTotal: Counter;
  readonly #uploadBytes: Counter;
  readonly #uploadChunks: Counter<'via'>;
  readonly #tunnelConnections: Counter;
  readonly #reportsIngested: Counter<'kind'>;
  readonly #limitRefusals: Counter<'limit'>;

  constructor(sources: HubMetricsSources) {
    const metrics = this.#metrics;
    metrics.gauge('tunnels_connected', 'Station tunnels connected to this hub node.', sources.tunnels);
    this.#tunnelConnections = metrics.counter(
      'tunnel_connections_total',
      'Station tunnels accepted since the hub started.',
    );
    metrics.gauge(
      'sessions_active',
      'Technician sessions relayed by this hub node now.',
      sources.activeSessions,
    );
    this.#sessionsTotal = metrics.counter(
      'sessions_total',
      'Technician sessions started (accepted by the agent) since the hub started.',
    );
    // The admission keeps the running totals; these mirror them at each scrape.
    const admissionStats = sources.admissionStats;
    metrics.mirroredCounter(
      'admission_rejections_total',
      'New tunnels told to retry later by the admission rate limit since the hub started.',
      () => admissionStats?.().refused ?? 0,
    );
    metrics.mirroredCounter(
      'admissions_total',
      'New tunnels admitted by the admission rate limit since the hub started.',
      () => admissionStats?.().admitted ?? 0,
    );
    const heartbeatAge = metrics.labeledGauge(
      'heartbeat_age_seconds',
      'Seconds since the last heartbeat of each station.',
      ['station'],
      () => undefined,
    );
    metrics.labeledGauge(
      'stations_silent',
      'Stations the hub has declared silent (heartbeats stopped).',
      [],
      async (gauge) => {
        const health = await sources.stationHealth();
        const nowMs = sources.clock.now();
        // Stations that left the store (retention, revocation) leave the gauge too.
        heartbeatAge.reset();
        let silent = 0;
        for (const station of health) {
          heartbeatAge.set(
            { station: station.stationId },
            Math.max(0, nowMs - station.lastHeartbeatAtMs) / 1000,
          );
          if (station.silentSinceMs !== null) silent += 1;
        }
        gauge.set(silent);
      },
    );
    const connectionStats = sources.connectionStats;
    if (connectionStats) metrics.connectionGuards(connectionStats);
    metrics.gauge(
      'store_full',
      "1 while the hub's data directory has no room (stations' reports and chunks refused with STORE_FULL), else 0.",
      () => (sources.storeFull?.() ? 1 : 0),
    );
    this.#reportsIngested = metrics.counter(
      'reports_ingested_total',
      'Call-home reports stored since the hub started (duplicates not counted), by kind.',
      ['kind'],
    );
    this.#uploadBytes = metrics.counter(
      'upload_bytes_total',
      'Bytes of extended error data (attachments) received complete since the hub started.',
    );
    this.#uploadChunks = metrics.counter(
      'upload_chunks_total',
      'Attachment chunks stored (written, checked, synced; repeats not counted) since the hub started, by how they came: channel (the upload channel) or call-home (HTTP/2 PUT).',
      ['via'],
    );
    this.#limitRefusals = metrics.counter(
      'limit_refusals_total',
      "Requests refused because a user's or station's share (hub.yaml shares) or a login limit (hub.yaml login) was used up, since the hub started, by limit.",
      ['limit'],
    );
  }

  /** A share was used up (shares.ts); the limits are a closed set. */
  observeLimitRefusal(limit: ShareLimit): void {
    if (Object.hasOwn(shareKeys, limit)) this.#limitRefusals.inc({ limit });
  }

  /** Sees every audit entry as it is decided (HubAudit.onRecord). */
  observeAudit(action: string, detail: Readonly<Record<string, unknown>>): void {
    if (action === 'session.start') this.#sessionsTotal.inc();
    else if (action === 'tunnel.connected') this.#tunnelConnections.inc();
    else if (action === 'attachment.received' && typeof detail.bytes === 'number' && detail.bytes >= 0)
      this.#uploadBytes.inc(detail.bytes);
    else this.#metrics.observeRefusal(action, detail);
    if (
      action === 'login.refused' &&
      detail.code === 'AUTH_RATE_LIMITED' &&
      typeof detail.scope === 'string'
    ) {
      const limit = Object.hasOwn(loginLimits, detail.scope) ? loginLimits[detail.scope] : undefined;
      if (limit !== undefined) this.#limitRefusals.inc({ limit });
    }
  }

  /** An attachment chunk was stored; `via` is one of the two transports (a closed set). */
  observeChunkStored(via: string): void {
    this.#uploadChunks.inc({ via: via === 'channel' ? 'channel' : 'call-home' });
  }

  /** A report was stored (the call-home routes; kinds are the protocol's closed set). */
  observeReportStored(kind: string): void {
    this.#reportsIngested.inc({ kind: kindLabel(kind) });
  }

  render(): Promise<string> {
    return this.#metrics.render();
  }

  get contentType(): string {
    return this.#metrics.contentType;
  }
}

/** The scrape token: made at `hub init` or the first start, 0600, read by Prometheus from a copy. */
export function ensureScrapeToken(path: string): string {
  if (!existsSync(path)) writePrivateFile(path, randomBytes(32).toString('base64url') + '\n');
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16)
    throw new LifelineError(
      'CONFIG_INVALID',
      `${path}: the metrics scrape token must be at least 16 characters (delete the file to get a new one)`,
    );
  return token;
}

export interface HubOpsRoutesOptions {
  metrics: HubMetrics;
  scrapeToken: string;
  /** True when the hub can serve (its store answers). */
  healthy: () => Promise<boolean>;
  /** True while the data directory has no room: /health answers 503 store-full. */
  storeFull?: () => boolean;
  /** True while the node drains before it stops: /health answers 503 draining (the balancer moves on). */
  draining?: () => boolean;
}

const healthTimeoutMs = 2000;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** GET /health (open) and GET /metrics (scrape token) on the technician API. */
export function registerHubOpsRoutes<S extends RawServerBase>(
  app: FastifyInstance<S>,
  options: HubOpsRoutesOptions,
): void {
  const expected = digest(options.scrapeToken);
  // A load balancer needs only up or down: no version, no counts, nothing to fingerprint.
  app.get('/health', async (_request, reply) => {
    // Not ok, and why: a restart does not help, freeing space does.
    if (options.storeFull?.()) return reply.code(503).send({ status: 'store-full' });
    if (options.draining?.()) return reply.code(503).send({ status: 'draining' });
    const ok = await withinTimeout(options.healthy(), healthTimeoutMs);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' });
  });
  app.get('/metrics', async (request, reply) => {
    const auth = request.headers.authorization ?? '';
    const presented = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      void reply.header('www-authenticate', 'Bearer realm="lifeline-metrics"');
      throw new LifelineError(
        'AUTH_REQUIRED',
        '/metrics needs the scrape token from the hub data directory (metrics-token)',
      );
    }
    const body = await options.metrics.render();
    return reply.header('content-type', options.metrics.contentType).send(body);
  });
}

/** False when the check fails or does not answer in time (a wedged store is down). */
export async function withinTimeout(check: Promise<boolean>, timeoutMs: number): Promise<boolean> {
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
